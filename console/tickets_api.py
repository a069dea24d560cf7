"""Tickets (work orders) REST API: agents create, edit and submit their tickets; supervisors assign
them to departments; assignees process them. Every rule lives in ``console/tickets.py``; this
module only maps HTTP to it. Refusals are ``{"error": {"code", "message"}}`` (403, 404, 409, 422);
refused field values also list each field with what to write instead."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from console.auth import Staff, require
from console.ticket_queries import TicketQuery, View, search
from console.ticket_templates import FieldErrors, Names, TicketCatalog, TicketTemplate
from console.ticket_workflow import TicketAction
from console.tickets import TicketDesk, TicketError, TicketView

router = APIRouter(prefix="/api/tickets", tags=["tickets"])
Desk = Annotated[Staff, Depends(require("agent", "supervisor"))]  # admins pass too
Lang = Literal["zh", "en"]
_REFUSALS: dict[int | str, dict[str, Any]] = {403: {}, 404: {}, 409: {}, 422: {}}


class _FromAttributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class HistoryOut(_FromAttributes):
    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    note: str
    department: str | None
    assignee: str | None


class TicketOut(_FromAttributes):
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
    sla_deadline: datetime | None = Field(description="end of the Nth working day after submission, local time")
    resolved_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    actions: list[str] = Field(description="what the signed-in user may do next")
    history: list[HistoryOut]


class TicketSummaryOut(_FromAttributes):
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
    listed: dict[str, Any]


class TicketPageOut(_FromAttributes):
    items: list[TicketSummaryOut]
    total: int
    page: int
    per_page: int


class TicketIn(BaseModel):
    type: str = Field(min_length=1, max_length=32, description="a key of GET /api/tickets/templates")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    caller_phone: str | None = Field(None, max_length=40)
    call_id: str | None = Field(None, max_length=36, description="the call this ticket came from, if any")
    language: Lang = "zh"
    fields: dict[str, Any] = Field(default_factory=dict)
    submit: bool = Field(False, description="submit at once (required fields must be filled)")


class TicketEdit(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    caller_phone: str | None = Field(None, max_length=40)
    call_id: str | None = Field(None, max_length=36)
    language: Lang | None = None
    fields: dict[str, Any] | None = Field(None, description="replaces every field value")


class ActionIn(BaseModel):
    note: str = Field("", max_length=5_000)
    department: str | None = Field(None, max_length=64, description="assign: the department key")
    assignee: str | None = Field(None, max_length=100, description="assign: a staff username (optional)")


class TemplatesOut(BaseModel):
    timezone: str
    departments: dict[str, Names]
    types: dict[str, TicketTemplate]


def _desk(request: Request) -> TicketDesk:
    sessions = request.app.state.sessions
    if sessions is None:
        raise HTTPException(503, "the server is still starting; try again in a moment")
    catalog: TicketCatalog = request.app.state.ticket_catalog
    return TicketDesk(sessions=sessions, catalog=catalog)


Tickets = Annotated[TicketDesk, Depends(_desk)]


def _refused(exc: TicketError | FieldErrors) -> JSONResponse:
    if isinstance(exc, FieldErrors):
        fields = [{"field": key, "message": message} for key, message in exc.problems]
        body = {"error": {"code": "invalid_fields", "message": str(exc), "fields": fields}}
        return JSONResponse(body, status_code=422)
    return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=exc.status)


def _out(view: TicketView) -> TicketOut:
    return TicketOut.model_validate(view)


@router.get("/templates", response_model=TemplatesOut)
def templates(_: Desk, desk: Tickets) -> TemplatesOut:
    """Ticket types with their bilingual names, SLA in working days and fields; the departments."""
    c = desk.catalog
    return TemplatesOut(timezone=c.calendar.timezone, departments=c.departments, types=c.types)


@router.get("", response_model=TicketPageOut, responses=_REFUSALS)
def list_tickets(
    staff: Desk,
    desk: Tickets,
    view: View = "all",
    q: str = "",
    type: str | None = None,
    status: str | None = None,
    department: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    page: int = 1,
    per_page: int = 20,
) -> TicketPageOut | JSONResponse:
    """My tickets (``view=pending|handled|drafts``) or all I may see, with search and filters."""
    query = TicketQuery(
        view=view,
        q=q,
        type=type,
        status=status,
        department=department,
        created_from=created_from,
        created_to=created_to,
        page=page,
        per_page=per_page,
    )
    try:
        return TicketPageOut.model_validate(search(desk, staff, query))
    except TicketError as exc:
        return _refused(exc)


@router.post("", response_model=TicketOut, status_code=201, responses=_REFUSALS)
def create_ticket(body: TicketIn, staff: Desk, desk: Tickets) -> TicketOut | JSONResponse:
    try:
        view = desk.create(
            staff,
            ticket_type=body.type,
            title=body.title,
            description=body.description,
            caller_phone=body.caller_phone,
            call_id=body.call_id,
            language=body.language,
            fields=body.fields,
            submit=body.submit,
        )
    except (TicketError, FieldErrors) as exc:
        return _refused(exc)
    return _out(view)


@router.get("/{number}", response_model=TicketOut, responses=_REFUSALS)
def get_ticket(number: str, staff: Desk, desk: Tickets) -> TicketOut | JSONResponse:
    try:
        return _out(desk.get(staff, number))
    except TicketError as exc:
        return _refused(exc)


@router.patch("/{number}", response_model=TicketOut, responses=_REFUSALS)
def edit_ticket(number: str, body: TicketEdit, staff: Desk, desk: Tickets) -> TicketOut | JSONResponse:
    """Change a draft or a returned ticket (its creator only); only the fields sent change."""
    try:
        return _out(desk.update(staff, number, body.model_dump(exclude_unset=True)))
    except (TicketError, FieldErrors) as exc:
        return _refused(exc)


@router.post("/{number}/{action}", response_model=TicketOut, responses=_REFUSALS)
def act(
    number: str, action: TicketAction, staff: Desk, desk: Tickets, body: ActionIn | None = None
) -> TicketOut | JSONResponse:
    """Run a workflow action: submit, assign, start, resolve, return, reopen or close."""
    body = body or ActionIn()
    try:
        view = desk.act(staff, number, action, note=body.note, department=body.department, assignee=body.assignee)
    except (TicketError, FieldErrors) as exc:
        return _refused(exc)
    return _out(view)
