"""Administration REST API: staff accounts (``/api/users``, admins), the departments tree
(``/api/departments``, every signed-in role) and the audit log (``/api/audit``, admins and
supervisors). The rules live in ``console/accounts.py``; this module maps HTTP to them. Refusals
are ``{"error": {"code", "message"}}``; a refused password also lists each broken rule."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from console.accounts import AccountError, Accounts, AccountView, DepartmentNode, department_tree
from console.audit import AuditQuery, search_audit
from console.auth import PasswordRejected, Staff, current_staff, now_of, require, rules_of
from console.tables import ROLES

router = APIRouter(tags=["users"])
Admin = Annotated[Staff, Depends(require("admin"))]
Auditor = Annotated[Staff, Depends(require("supervisor"))]  # admins pass too
SignedIn = Annotated[Staff, Depends(current_staff)]
_REFUSALS: dict[int | str, dict[str, Any]] = {403: {}, 404: {}, 409: {}, 422: {}}
_ROLE_PATTERN = "^(" + "|".join(ROLES) + ")$"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    department: str
    active: bool
    created_at: datetime
    password_changed_at: datetime | None
    password_expired: bool
    must_change_password: bool = Field(description="the password was set by an admin and must be changed")
    locked_until: datetime | None = Field(description="set while the account is locked after failed sign-ins")


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(max_length=1000, description="temporary: the user must change it at the first sign-in")
    role: str = Field(pattern=_ROLE_PATTERN)
    display_name: str = Field("", max_length=200)
    department: str = Field("", max_length=64, description="a code of GET /api/departments, or empty")


class UserUpdate(BaseModel):
    display_name: str | None = Field(None, max_length=200)
    role: str | None = Field(None, pattern=_ROLE_PATTERN)
    department: str | None = Field(None, max_length=64)
    active: bool | None = None


class PasswordReset(BaseModel):
    password: str = Field(max_length=1000, description="temporary: the user must change it at the next sign-in")


class DepartmentOut(BaseModel):
    code: str
    zh: str
    en: str
    parent: str | None
    children: list[DepartmentOut]


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    user_id: int | None
    username: str
    role: str
    action: str
    method: str
    path: str
    target: str
    status: int
    client: str


class AuditPageOut(BaseModel):
    items: list[AuditOut]
    total: int
    page: int
    limit: int


def _accounts(request: Request) -> Accounts:
    sessions = request.app.state.sessions
    if sessions is None:
        raise HTTPException(503, "the server is still starting; try again in a moment")
    return Accounts(sessions=sessions, catalog=request.app.state.ticket_catalog, rules=rules_of(request.app.state))


AccountsDep = Annotated[Accounts, Depends(_accounts)]


def _refused(exc: AccountError | PasswordRejected) -> JSONResponse:
    if isinstance(exc, PasswordRejected):
        body = {
            "error": {"code": "weak_password", "message": f"choose another password: {exc}", "problems": exc.problems}
        }
        return JSONResponse(body, status_code=422)
    return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=exc.status)


def _out(view: AccountView) -> UserOut:
    return UserOut.model_validate(asdict(view))


@router.get("/api/users", response_model=list[UserOut])
def list_users(_: Admin, accounts: AccountsDep, request: Request) -> list[UserOut]:
    return [_out(v) for v in accounts.list_accounts(now=now_of(request.app.state))]


@router.post("/api/users", response_model=UserOut, status_code=201, responses=_REFUSALS)
def create_user(body: UserCreate, _: Admin, accounts: AccountsDep, request: Request) -> UserOut | JSONResponse:
    """Create an account with a temporary password (the password policy applies)."""
    try:
        return _out(accounts.create(**body.model_dump(), now=now_of(request.app.state)))
    except (AccountError, PasswordRejected) as exc:
        return _refused(exc)


@router.get("/api/users/{user_id}", response_model=UserOut, responses=_REFUSALS)
def get_user(user_id: int, _: Admin, accounts: AccountsDep, request: Request) -> UserOut | JSONResponse:
    try:
        return _out(accounts.get(user_id, now=now_of(request.app.state)))
    except AccountError as exc:
        return _refused(exc)


@router.patch("/api/users/{user_id}", response_model=UserOut, responses=_REFUSALS)
def update_user(
    user_id: int, body: UserUpdate, admin: Admin, accounts: AccountsDep, request: Request
) -> UserOut | JSONResponse:
    """Change the display name, role, department or active flag; a new role or a disabled account
    signs the user out everywhere."""
    try:
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        return _out(accounts.update(user_id, actor=admin, changes=changes, now=now_of(request.app.state)))
    except AccountError as exc:
        return _refused(exc)


@router.post("/api/users/{user_id}/password", response_model=UserOut, responses=_REFUSALS)
def reset_password(
    user_id: int, body: PasswordReset, _: Admin, accounts: AccountsDep, request: Request
) -> UserOut | JSONResponse:
    """Reset a forgotten password: the user signs in with it once and must then choose their own."""
    try:
        return _out(accounts.reset_password(user_id, password=body.password, now=now_of(request.app.state)))
    except (AccountError, PasswordRejected) as exc:
        return _refused(exc)


@router.post("/api/users/{user_id}/unlock", response_model=UserOut, responses=_REFUSALS)
def unlock_user(user_id: int, _: Admin, accounts: AccountsDep, request: Request) -> UserOut | JSONResponse:
    """Lift a lockout after failed sign-ins (and forget the failures counted so far)."""
    try:
        return _out(accounts.unlock(user_id, now=now_of(request.app.state)))
    except AccountError as exc:
        return _refused(exc)


@router.get("/api/departments", response_model=list[DepartmentOut])
def departments(_: SignedIn, request: Request) -> list[DepartmentOut]:
    """The departments as a tree (top-level departments, each with its children)."""

    def out(node: DepartmentNode) -> DepartmentOut:
        return DepartmentOut(
            code=node.code, zh=node.zh, en=node.en, parent=node.parent, children=[out(c) for c in node.children]
        )

    return [out(n) for n in department_tree(request.app.state.ticket_catalog)]


@router.get("/api/audit", response_model=AuditPageOut)
def audit_log(
    _: Auditor,
    request: Request,
    user: Annotated[str | None, Query(max_length=100, description="a username")] = None,
    action: Annotated[str | None, Query(max_length=200, description="a prefix, e.g. auth. or POST /api/users")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601 with a time zone (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    page: Annotated[int, Query(ge=1)] = 1,
) -> AuditPageOut | JSONResponse:
    """The audit log, newest first: console writes, sign-ins, recording accesses."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            message = f"{name} needs a time zone, e.g. 2026-12-01T08:00:00+08:00"
            return JSONResponse({"error": {"code": "invalid_request", "message": message}}, status_code=422)
    sessions = request.app.state.sessions
    if sessions is None:
        raise HTTPException(503, "the server is still starting; try again in a moment")
    query = AuditQuery(user=user, action=action, since=since, until=until, limit=limit, page=page)
    rows, total = search_audit(sessions, query)
    return AuditPageOut(items=[AuditOut.model_validate(r) for r in rows], total=total, page=page, limit=limit)
