"""User and department administration, for admins: list, create, update (display name, role,
department, active), reset a password (the user must choose their own at the next sign-in) and
unlock. The rules live here so they hold whatever calls them (``console/users_api.py`` today).

- Passwords an admin sets follow the password policy and are temporary: the user is asked to
  change them at the first sign-in (403 ``password_expired``).
- Disabling an account, changing its role or resetting its password signs it out everywhere.
- Admins cannot disable themselves or take away their own admin role (the last admin would lock
  everybody out of user administration).
- Department codes are checked against the departments tree of the ticket templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from console.auth import (
    PasswordRejected,
    SecurityRules,
    Staff,
    create_user,
    password_expired,
    password_problems,
    store_password,
)
from console.staff_sessions import revoke_user_sessions
from console.tables import ROLES, LoginFailureRecord, User
from console.ticket_templates import TicketCatalog


class AccountError(ValueError):
    """A refused administration request: HTTP status, stable code, message for the admin."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    display_name: str
    role: str
    department: str
    active: bool
    created_at: datetime
    password_changed_at: datetime | None
    password_expired: bool
    must_change_password: bool
    locked_until: datetime | None


@dataclass(frozen=True)
class DepartmentNode:
    code: str
    zh: str
    en: str
    parent: str | None
    children: list[DepartmentNode]


def department_tree(catalog: TicketCatalog) -> list[DepartmentNode]:
    """The departments as a forest (top-level departments first, in file order)."""

    def node(code: str) -> DepartmentNode:
        dept = catalog.departments[code]
        kids = [node(c) for c, d in catalog.departments.items() if d.parent == code]
        return DepartmentNode(code=code, zh=dept.zh, en=dept.en, parent=dept.parent, children=kids)

    return [node(code) for code, dept in catalog.departments.items() if dept.parent is None]


def _check_department(catalog: TicketCatalog, department: str) -> str:
    code = department.strip()
    if code and code not in catalog.departments:
        known = ", ".join(catalog.departments)
        raise AccountError(422, "unknown_department", f"unknown department {code!r}; use one of {known} (or empty)")
    return code


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(422, "unknown_role", f"role must be one of {', '.join(ROLES)}; got {role!r}")


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _view(user: User, rules: SecurityRules, now: datetime) -> AccountView:
    locked = user.locked_until if user.locked_until is not None and user.locked_until > now else None
    return AccountView(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        department=user.department,
        active=user.active,
        created_at=_aware(user.created_at),
        password_changed_at=user.password_changed_at,
        password_expired=password_expired(user, rules, now),
        must_change_password=user.must_change_password,
        locked_until=locked,
    )


class Accounts:
    """Admin operations on staff accounts; every method is one transaction."""

    def __init__(self, *, sessions: sessionmaker[Session], catalog: TicketCatalog, rules: SecurityRules) -> None:
        self.sessions, self.catalog, self.rules = sessions, catalog, rules

    def list_accounts(self, *, now: datetime) -> list[AccountView]:
        with self.sessions() as db:
            return [_view(u, self.rules, now) for u in db.scalars(select(User).order_by(User.username))]

    def get(self, user_id: int, *, now: datetime) -> AccountView:
        with self.sessions() as db:
            return _view(self._user(db, user_id), self.rules, now)

    def create(
        self, *, username: str, password: str, role: str, display_name: str, department: str, now: datetime
    ) -> AccountView:
        _check_role(role)
        code = _check_department(self.catalog, department)
        with self.sessions() as db:
            if db.scalars(select(User.id).where(User.username == username.strip())).first() is not None:
                raise AccountError(
                    409, "username_taken", f"user {username.strip()!r} already exists; pick another name"
                )
        staff = create_user(
            self.sessions,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            department=code,
            rules=self.rules,
            must_change_password=True,
        )
        return self.get(staff.id, now=now)

    def update(self, user_id: int, *, actor: Staff, changes: dict[str, Any], now: datetime) -> AccountView:
        """Apply ``changes`` (display_name, role, department, active); sessions end on a role change
        or when the account is disabled."""
        if "role" in changes:
            _check_role(changes["role"])
        if "department" in changes:
            changes["department"] = _check_department(self.catalog, changes["department"])
        with self.sessions() as db:
            user = self._user(db, user_id)
            if user.id == actor.id and (changes.get("active") is False or changes.get("role", user.role) != user.role):
                raise AccountError(
                    409, "own_account", "you cannot disable your own account or change your own role; ask another admin"
                )
            role_changed = "role" in changes and changes["role"] != user.role
            disabled = changes.get("active") is False and user.active
            for name in ("display_name", "role", "department", "active"):
                if name in changes:
                    setattr(user, name, changes[name])
            if role_changed or disabled:
                reason = "account_disabled" if disabled else "role_changed"
                revoke_user_sessions(db, user_id=user.id, now=now, reason=reason)
            db.commit()
            return _view(user, self.rules, now)

    def reset_password(self, user_id: int, *, password: str, now: datetime) -> AccountView:
        """Set a temporary password (policy checked); the user must change it at the next sign-in."""
        with self.sessions() as db:
            user = self._user(db, user_id)
            problems = password_problems(self.rules, username=user.username, password=password)
            if problems:
                raise PasswordRejected(problems)
            store_password(db, user, password, now=now, keep=self.rules.history, must_change=True)
            user.locked_until = None
            db.execute(delete(LoginFailureRecord).where(LoginFailureRecord.user_id == user.id))
            revoke_user_sessions(db, user_id=user.id, now=now, reason="password_reset")
            db.commit()
            return _view(user, self.rules, now)

    def unlock(self, user_id: int, *, now: datetime) -> AccountView:
        with self.sessions() as db:
            user = self._user(db, user_id)
            user.locked_until = None
            db.execute(delete(LoginFailureRecord).where(LoginFailureRecord.user_id == user.id))
            db.commit()
            return _view(user, self.rules, now)

    @staticmethod
    def _user(db: Session, user_id: int) -> User:
        user = db.get(User, user_id)
        if user is None:
            raise AccountError(
                404, "no_such_user", f"there is no user with id {user_id}; list them with GET /api/users"
            )
        return user
