"""Tickets (work orders): create and edit drafts, run the workflow, read a ticket with its history.

Every rule is enforced here, whatever calls it: who may see a ticket, who may run which action,
which status changes exist (``console/ticket_workflow.py``), field values per template
(``console/ticket_templates.py``) and the SLA deadline (``console/ticket_calendar.py``), set once,
at the first submission, to the end of the Nth working day after that day; a ticket returned and
resubmitted keeps it. Each transition and its history row are written in one transaction.

Who may do what: the creator edits a draft (or a ticket returned to them), submits it, and may
close or reopen it once resolved; supervisors and admins see every ticket, assign it to a
department (and optionally a person) and may run every action; the assignee starts, resolves or
returns it. Others see the tickets they created, are assigned, or that sit with their department.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from console.auth import Staff
from console.tables import User
from console.ticket_tables import TicketCounterRecord, TicketHistoryRecord, TicketRecord
from console.ticket_templates import FieldErrors, TicketCatalog, clean_fields, clean_phone, search_terms
from console.ticket_workflow import (
    EDITABLE_STATUSES,
    TicketAction,
    TicketStatus,
    TicketTransitionError,
    allowed_actions,
    apply,
)

log = logging.getLogger(__name__)

SUPERVISING = frozenset({"supervisor", "admin"})
EDITABLE = ("title", "description", "caller_phone", "call_id", "language", "fields")


class TicketError(ValueError):
    """A refused request, with the HTTP status and stable code the API answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    note: str
    department: str | None
    assignee: str | None


@dataclass(frozen=True)
class TicketView:
    number: str
    type: str
    title: str
    description: str
    caller_phone: str | None
    call_id: str | None
    language: str
    fields: dict[str, Any]
    status: str
    department: str | None
    assignee: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    sla_deadline: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    actions: list[str]  # what the reader may do next
    history: list[HistoryEntry]


def is_overdue(ticket: TicketRecord, now: datetime) -> bool:
    done = ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    return not done and ticket.sla_deadline is not None and now > ticket.sla_deadline


def may_see(staff: Staff, department: str, ticket: TicketRecord) -> bool:
    if staff.role in SUPERVISING or staff.id in (ticket.created_by_id, ticket.assignee_id):
        return True
    return bool(department) and ticket.department == department


def may_run(staff: Staff, ticket: TicketRecord, action: TicketAction) -> bool:
    if staff.role in SUPERVISING:
        return True
    if action in (TicketAction.SUBMIT, TicketAction.REOPEN, TicketAction.CLOSE):
        return staff.id == ticket.created_by_id
    if action in (TicketAction.START, TicketAction.RESOLVE, TicketAction.RETURN):
        return staff.id == ticket.assignee_id
    return False  # assign


_WHO = {
    TicketAction.SUBMIT: "its creator or a supervisor",
    TicketAction.REOPEN: "its creator or a supervisor",
    TicketAction.CLOSE: "its creator or a supervisor",
    TicketAction.START: "its assignee or a supervisor",
    TicketAction.RESOLVE: "its assignee or a supervisor",
    TicketAction.RETURN: "its assignee or a supervisor",
    TicketAction.ASSIGN: "a supervisor",
}


class TicketDesk:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        catalog: TicketCatalog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.calendar = catalog.working_calendar()
        self.clock = clock

    # --- reading -------------------------------------------------------------------------------
    def department_of(self, db: Session, staff: Staff) -> str:
        user = db.get(User, staff.id)
        return user.department if user is not None else ""

    def _load(self, db: Session, staff: Staff, number: str, *, lock: bool = False) -> TicketRecord:
        stmt = select(TicketRecord).where(TicketRecord.number == number.strip().upper())
        ticket = db.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
        if ticket is None or not may_see(staff, self.department_of(db, staff), ticket):
            raise TicketError(404, "not_found", f"no ticket {number!r} that you can see; check the number")
        return ticket

    def get(self, staff: Staff, number: str) -> TicketView:
        with self.sessions() as db:
            return self._view(db, staff, self._load(db, staff, number))

    def _view(self, db: Session, staff: Staff, t: TicketRecord) -> TicketView:
        rows = db.scalars(
            select(TicketHistoryRecord).where(TicketHistoryRecord.ticket_id == t.id).order_by(TicketHistoryRecord.id)
        ).all()
        ids = {t.created_by_id, t.assignee_id, *(r.actor_id for r in rows), *(r.assignee_id for r in rows)}
        names = usernames(db, ids)
        local = self.calendar.zone
        history = [
            HistoryEntry(
                action=r.action,
                from_status=r.from_status,
                to_status=r.to_status,
                actor=names.get(r.actor_id, ""),
                at=r.at.astimezone(local),
                note=r.note,
                department=r.department,
                assignee=names.get(r.assignee_id) if r.assignee_id else None,
            )
            for r in rows
        ]
        status = TicketStatus(t.status)
        actions = sorted(a.value for a in allowed_actions(status) if may_run(staff, t, a))
        if status in EDITABLE_STATUSES and staff.id == t.created_by_id:
            actions.insert(0, "edit")
        return TicketView(
            number=t.number,
            type=t.type,
            title=t.title,
            description=t.description,
            caller_phone=t.caller_phone,
            call_id=t.call_id,
            language=t.language,
            fields=dict(t.fields),
            status=t.status,
            department=t.department,
            assignee=names.get(t.assignee_id) if t.assignee_id else None,
            created_by=names.get(t.created_by_id, ""),
            created_at=t.created_at.astimezone(local),
            updated_at=t.updated_at.astimezone(local),
            submitted_at=t.submitted_at.astimezone(local) if t.submitted_at else None,
            sla_deadline=t.sla_deadline.astimezone(local) if t.sla_deadline else None,
            resolved_at=t.resolved_at.astimezone(local) if t.resolved_at else None,
            closed_at=t.closed_at.astimezone(local) if t.closed_at else None,
            overdue=is_overdue(t, self.clock()),
            actions=actions,
            history=history,
        )

    # --- writing -------------------------------------------------------------------------------
    def create(
        self,
        staff: Staff,
        *,
        ticket_type: str,
        title: str,
        description: str = "",
        caller_phone: str | None = None,
        call_id: str | None = None,
        language: str = "zh",
        fields: Mapping[str, Any] | None = None,
        submit: bool = False,
    ) -> TicketView:
        """A new draft (or, with ``submit``, a submitted ticket: then required fields must be there)."""
        template = self.catalog.template(ticket_type)
        cleaned = clean_fields(template, dict(fields or {}), zone=self.calendar.zone, require=submit)
        now = self.clock()
        with self.sessions() as db, db.begin():
            ticket = TicketRecord(
                number=self._next_number(db, now),
                type=ticket_type,
                title=_title(title),
                description=description.strip(),
                caller_phone=_phone(caller_phone),
                call_id=(call_id or "").strip() or None,
                language=language,
                fields=cleaned,
                status=TicketStatus.DRAFT.value,
                created_by_id=staff.id,
                created_at=now,
                updated_at=now,
            )
            ticket.search_text = self._search_text(ticket)
            db.add(ticket)
            db.flush()
            db.add(
                TicketHistoryRecord(
                    ticket_id=ticket.id, action="create", to_status=ticket.status, actor_id=staff.id, at=now
                )
            )
            if submit:
                self._transition(db, staff, ticket, TicketAction.SUBMIT, now=now)
            log.info("ticket created", extra={"ticket": ticket.number, "type": ticket_type, "staff": staff.username})
        return self.get(staff, ticket.number)

    def update(self, staff: Staff, number: str, changes: Mapping[str, Any]) -> TicketView:
        """Edit a draft or a returned ticket (its creator only); ``fields`` replaces all field values."""
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown:
            raise TicketError(422, "invalid_request", f"cannot change {', '.join(unknown)}; editable: {EDITABLE}")
        with self.sessions() as db, db.begin():
            ticket = self._load(db, staff, number, lock=True)
            if staff.id != ticket.created_by_id:
                raise TicketError(403, "forbidden", f"only the creator of {ticket.number} can edit it")
            if TicketStatus(ticket.status) not in EDITABLE_STATUSES:
                raise TicketError(
                    409,
                    "not_editable",
                    f"ticket {ticket.number} is {ticket.status}; only a draft or a returned ticket can be edited",
                )
            if "fields" in changes:
                template = self.catalog.template(ticket.type)
                values = dict(changes["fields"] or {})
                ticket.fields = clean_fields(template, values, zone=self.calendar.zone, require=False)
            if "title" in changes:
                ticket.title = _title(changes["title"])
            if "description" in changes:
                ticket.description = (changes["description"] or "").strip()
            if "caller_phone" in changes:
                ticket.caller_phone = _phone(changes["caller_phone"])
            if "call_id" in changes:
                ticket.call_id = (changes["call_id"] or "").strip() or None
            if changes.get("language"):
                ticket.language = changes["language"]
            ticket.search_text = self._search_text(ticket)
            ticket.updated_at = self.clock()
        return self.get(staff, number)

    def act(
        self,
        staff: Staff,
        number: str,
        action: TicketAction,
        *,
        note: str = "",
        department: str | None = None,
        assignee: str | None = None,
    ) -> TicketView:
        """Run one workflow action; :class:`TicketError` 403/404/409/422 when refused (nothing changes)."""
        with self.sessions() as db, db.begin():
            ticket = self._load(db, staff, number, lock=True)
            self._transition(
                db, staff, ticket, action, now=self.clock(), note=note, department=department, assignee=assignee
            )
        return self.get(staff, number)

    def _transition(
        self,
        db: Session,
        staff: Staff,
        ticket: TicketRecord,
        action: TicketAction,
        *,
        now: datetime,
        note: str = "",
        department: str | None = None,
        assignee: str | None = None,
    ) -> None:
        if not may_run(staff, ticket, action):
            raise TicketError(403, "forbidden", f"only {_WHO[action]} can {action.value} ticket {ticket.number}")
        try:
            done = apply(
                number=ticket.number,
                status=TicketStatus(ticket.status),
                action=action,
                department=department,
                note=note,
            )
        except TicketTransitionError as exc:
            raise TicketError(409, "invalid_transition", str(exc)) from None
        assignee_id: int | None = None
        if action is TicketAction.SUBMIT:
            template = self.catalog.template(ticket.type)
            ticket.fields = clean_fields(template, dict(ticket.fields), zone=self.calendar.zone, require=True)
            if ticket.submitted_at is None:  # the SLA clock starts once; a resubmission keeps it
                ticket.submitted_at = now
                ticket.sla_deadline = self.calendar.deadline(now, template.sla_working_days)
        elif action is TicketAction.ASSIGN:
            ticket.department = self._department(department)
            assignee_id = self._assignee_id(db, assignee)
            ticket.assignee_id = assignee_id
        elif action is TicketAction.RESOLVE:
            ticket.resolved_at = now
        elif action is TicketAction.REOPEN:
            ticket.resolved_at = None
        elif action is TicketAction.CLOSE:
            ticket.closed_at = now
        ticket.status, ticket.updated_at = done.target.value, now
        db.add(
            TicketHistoryRecord(
                ticket_id=ticket.id,
                action=action.value,
                from_status=done.source.value,
                to_status=done.target.value,
                actor_id=staff.id,
                at=now,
                note=note.strip(),
                department=ticket.department if action is TicketAction.ASSIGN else None,
                assignee_id=assignee_id,
            )
        )
        log.info(
            "ticket %s: %s → %s",
            ticket.number,
            done.source.value,
            done.target.value,
            extra={"ticket": ticket.number, "action": action.value, "staff": staff.username},
        )

    def _department(self, key: str | None) -> str:
        key = (key or "").strip()
        if key not in self.catalog.departments:
            known = ", ".join(self.catalog.departments)
            raise TicketError(422, "unknown_department", f"unknown department {key!r}; use one of {known}")
        return key

    def _assignee_id(self, db: Session, username: str | None) -> int | None:
        if not username or not username.strip():
            return None
        user = db.scalars(select(User).where(User.username == username.strip())).one_or_none()
        if user is None or not user.active:
            raise TicketError(422, "unknown_assignee", f"no active staff account {username!r}; check the username")
        return user.id

    def _next_number(self, db: Session, now: datetime) -> str:
        """``WO-<local date>-<daily sequence>``, from one atomic upsert (safe across processes)."""
        day = now.astimezone(self.calendar.zone).strftime("%Y%m%d")
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(TicketCounterRecord).values(day=day, last=1)
        stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": TicketCounterRecord.last + 1})
        seq = db.execute(stmt.returning(TicketCounterRecord.last)).scalar_one()
        return f"WO-{day}-{seq:04d}"

    def _search_text(self, ticket: TicketRecord) -> str:
        template = self.catalog.template(ticket.type)
        parts = [ticket.number, ticket.title, ticket.description, *search_terms(template, ticket.fields)]
        return "\n".join(p for p in parts if p).lower()


def usernames(db: Session, ids: set[int | None]) -> dict[int | None, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u.username for u in db.scalars(select(User).where(User.id.in_(wanted)))}


def _title(value: Any) -> str:
    title = str(value or "").strip()
    if not title or len(title) > 200 or "\n" in title:
        raise FieldErrors([("title", "a ticket needs a one-line title of 1 to 200 characters")])
    return title


def _phone(value: Any) -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return clean_phone(str(value))
    except ValueError as exc:
        raise FieldErrors([("caller_phone", f"caller phone {exc}")]) from None
