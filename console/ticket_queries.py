"""Ticket lists: the "my tickets" views, free-text search, filters and pagination.

Views (always within what the reader may see, ``console.tickets.may_see``):

- ``pending``: assigned or in progress, and assigned to me or to my department; for supervisors
  and admins also every submitted ticket waiting to be assigned. Earliest deadline first.
- ``handled``: tickets on which I ran a workflow action (submit, assign, start, …).
- ``drafts``: my drafts and my tickets returned to me for more information.
- ``all``: everything I may see.

Free text matches every word (case-insensitive substring) against the number, title, description
and the template's searchable fields. Dates are local dates of the center, both ends included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, UnaryExpression, and_, exists, func, or_, select, true

from console.auth import Staff
from console.ticket_tables import TicketHistoryRecord, TicketRecord
from console.ticket_workflow import TicketStatus
from console.tickets import SUPERVISING, TicketDesk, TicketError, is_overdue, usernames

View = Literal["all", "pending", "handled", "drafts"]
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class TicketQuery:
    view: View = "all"
    q: str = ""
    type: str | None = None
    status: str | None = None
    department: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    page: int = 1
    per_page: int = 20


@dataclass(frozen=True)
class TicketSummary:
    number: str
    type: str
    title: str
    status: str
    language: str
    department: str | None
    assignee: str | None
    created_by: str
    created_at: datetime
    submitted_at: datetime | None
    sla_deadline: datetime | None
    overdue: bool
    listed: dict[str, Any]  # the template's "listed" fields


@dataclass(frozen=True)
class TicketPage:
    items: list[TicketSummary]
    total: int
    page: int
    per_page: int


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _mine(staff: Staff, department: str) -> ColumnElement[bool]:
    mine = TicketRecord.assignee_id == staff.id
    return or_(mine, TicketRecord.department == department) if department else mine


def _visible(staff: Staff, department: str) -> ColumnElement[bool] | None:
    if staff.role in SUPERVISING:
        return None
    return or_(TicketRecord.created_by_id == staff.id, _mine(staff, department))


def _view(query: TicketQuery, staff: Staff, department: str) -> ColumnElement[bool]:
    if query.view == "pending":
        working = and_(
            TicketRecord.status.in_([TicketStatus.ASSIGNED.value, TicketStatus.IN_PROGRESS.value]),
            _mine(staff, department),
        )
        if staff.role in SUPERVISING:
            return or_(working, TicketRecord.status == TicketStatus.SUBMITTED.value)
        return working
    if query.view == "handled":
        return exists().where(
            TicketHistoryRecord.ticket_id == TicketRecord.id,
            TicketHistoryRecord.actor_id == staff.id,
            TicketHistoryRecord.action != "create",
        )
    if query.view == "drafts":
        return and_(
            TicketRecord.created_by_id == staff.id,
            TicketRecord.status.in_([TicketStatus.DRAFT.value, TicketStatus.RETURNED.value]),
        )
    return true()


def _check(desk: TicketDesk, query: TicketQuery) -> None:
    if query.page < 1 or not 1 <= query.per_page <= MAX_PER_PAGE:
        raise TicketError(422, "invalid_request", f"page starts at 1 and per_page is 1 to {MAX_PER_PAGE}")
    if query.type is not None and query.type not in desk.catalog.types:
        known = ", ".join(desk.catalog.types)
        raise TicketError(422, "invalid_request", f"unknown ticket type {query.type!r}; use one of {known}")
    if query.status is not None and query.status not in set(TicketStatus):
        known = ", ".join(TicketStatus)
        raise TicketError(422, "invalid_request", f"unknown status {query.status!r}; use one of {known}")
    if query.created_from and query.created_to and query.created_from > query.created_to:
        raise TicketError(422, "invalid_request", "created_from is after created_to; swap them")
    if len(query.q) > 200:
        raise TicketError(422, "invalid_request", "the search text is over 200 characters; shorten it")


def search(desk: TicketDesk, staff: Staff, query: TicketQuery) -> TicketPage:
    """One page of the tickets ``staff`` may see that match ``query``; :class:`TicketError` on bad input."""
    _check(desk, query)
    zone = desk.calendar.zone
    with desk.sessions() as db:
        department = desk.department_of(db, staff)
        conditions: list[ColumnElement[bool]] = [_view(query, staff, department)]
        visible = _visible(staff, department)
        if visible is not None:
            conditions.append(visible)
        for term in query.q.lower().split():
            conditions.append(TicketRecord.search_text.like(_like(term), escape="\\"))
        if query.type:
            conditions.append(TicketRecord.type == query.type)
        if query.status:
            conditions.append(TicketRecord.status == query.status)
        if query.department:
            conditions.append(TicketRecord.department == query.department)
        if query.created_from:
            conditions.append(TicketRecord.created_at >= datetime.combine(query.created_from, time(), tzinfo=zone))
        if query.created_to:
            end = datetime.combine(query.created_to + timedelta(days=1), time(), tzinfo=zone)
            conditions.append(TicketRecord.created_at < end)
        stmt = select(TicketRecord).where(*conditions)
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        order: list[UnaryExpression[Any]]
        if query.view == "pending":
            order = [TicketRecord.sla_deadline.asc().nulls_last(), TicketRecord.id.asc()]
        else:
            order = [TicketRecord.created_at.desc(), TicketRecord.id.desc()]
        rows = db.scalars(stmt.order_by(*order).offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
        names = usernames(db, {i for r in rows for i in (r.created_by_id, r.assignee_id)})
    now = desk.clock()
    items = []
    for r in rows:
        template = desk.catalog.types.get(r.type)
        specs = template.fields if template else ()
        listed = {f.key: r.fields[f.key] for f in specs if f.listed and f.key in r.fields}
        items.append(
            TicketSummary(
                number=r.number,
                type=r.type,
                title=r.title,
                status=r.status,
                language=r.language,
                department=r.department,
                assignee=names.get(r.assignee_id) if r.assignee_id else None,
                created_by=names.get(r.created_by_id, ""),
                created_at=r.created_at.astimezone(zone),
                submitted_at=r.submitted_at.astimezone(zone) if r.submitted_at else None,
                sla_deadline=r.sla_deadline.astimezone(zone) if r.sla_deadline else None,
                overdue=is_overdue(r, now),
                listed=listed,
            )
        )
    return TicketPage(items=items, total=total, page=query.page, per_page=query.per_page)
