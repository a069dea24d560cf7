"""Accounts and security through the real app on real databases: the password policy and history,
expiry, the sign-in lockout (SQLite and PostgreSQL, two app instances sharing one database),
server-side sessions with the idle timeout and sign-out, the Origin guard, user administration, the
departments tree and the audit log. Time is a settable clock on ``app.state.clock``: no sleeping."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI, WebSocket
from sqlalchemy import DateTime, Engine, bindparam, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from console.auth import SecurityRules, check_ws_origin, create_user, password_problems
from console.origin import origin_allowed
from console.tables import AuditRecord, PasswordHistoryRecord, StaffSessionRecord, User
from skycall.app import create_app
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from skycall.storage.base import utcnow
from skycall.storage.engine import alembic_config
from skycall.storage.tables import metadata

PASSWORD = "Yunhai-desk-2026"
STAFF = {"root": "admin", "ag": "agent", "sup": "supervisor"}  # few: each argon2 hash costs a fraction of a second


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Env:
    client: TestClient
    sessions: sessionmaker[Session]
    clock: Clock
    settings: Settings

    def app(self) -> TestClient:
        """A second app instance (another worker) over the same database and clock."""
        return _client(self.settings, self.sessions, self.clock)

    def login(self, user: str, password: str = PASSWORD, client: TestClient | None = None) -> Any:
        return (client or self.client).post("/api/auth/login", json={"username": user, "password": password})

    def auth(self, user: str, password: str = PASSWORD) -> dict[str, str]:
        r = self.login(user, password)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def user_id(self, username: str) -> int:
        with self.sessions() as db:
            return db.scalars(select(User.id).where(User.username == username)).one()

    def audit(self, action: str) -> list[AuditRecord]:
        with self.sessions() as db:
            return list(db.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)))


def _client(settings: Settings, sessions: sessionmaker[Session], clock: Clock) -> TestClient:
    app = create_app(settings)
    app.state.sessions, app.state.clock = sessions, clock
    return TestClient(app)


def _env(engine: Engine, tmp_path: Path, users: int = 3, **overrides: Any) -> Env:
    migrate(engine)
    sessions = session_factory(engine)
    for user, role in list(STAFF.items())[:users]:
        create_user(sessions, username=user, password=PASSWORD, role=role)
    settings = Settings(_env_file=None, data_dir=tmp_path, login_rate="1000/minute", **overrides)
    clock = Clock()
    return Env(_client(settings, sessions, clock), sessions, clock, settings)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'skycall.db'}")
    yield _env(engine, tmp_path)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The same tests on SQLite and on the PostgreSQL server of this machine."""
    if request.param == "postgresql":
        yield _env(request.getfixturevalue("pg_engine"), tmp_path, users=2)
        return
    engine = create_engine_for(f"sqlite:///{tmp_path / 'skycall.db'}")
    yield _env(engine, tmp_path, users=2)
    engine.dispose()


# --- password policy ---------------------------------------------------------------------------
def test_each_broken_password_rule_has_its_own_message() -> None:
    rules = SecurityRules()
    assert password_problems(rules, username="wang.li", password="Yunhai-desk-2026") == []
    short = password_problems(rules, username="wang.li", password="Ab1-x")
    assert short[0] == "the password must have at least 10 characters (it has 5)" and len(short) == 1
    plain = password_problems(rules, username="wang.li", password="yunhaiairport")
    assert len(plain) == 1 and "at least 3 of" in plain[0] and "(it has 1)" in plain[0]
    named = password_problems(rules, username="Wang.Li", password="x-WANG.LI-2026")
    assert named == ["the password must not contain the username"]
    assert len(password_problems(rules, username="abc", password="abc")) == 3
    assert password_problems(rules, username="zhou", password="云海机场Desk2026") == []  # CJK counts as "other"


def test_password_change_checks_the_rules_and_the_history(env: Env) -> None:
    def change(old: str, new: str) -> Any:
        return env.client.post("/api/auth/password", json={"username": "ag", "old_password": old, "new_password": new})

    weak = change(PASSWORD, "agagagag")
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    assert len(weak.json()["error"]["problems"]) == 3  # too short, one class, contains the username
    same = change(PASSWORD, PASSWORD)
    assert same.status_code == 422 and "last 5 passwords" in same.json()["error"]["message"]
    wrong_old = change("Not-the-old-1", "Fresh-Pass-2026")
    assert wrong_old.status_code == 401 and wrong_old.json()["error"]["code"] == "wrong_credentials"

    passwords = [PASSWORD] + [f"Terminal-{n}-Gate" for n in range(1, 6)]
    for old, new in itertools.pairwise(passwords):
        assert change(old, new).status_code == 200, new
    with env.sessions() as db:
        kept = db.scalars(select(PasswordHistoryRecord).where(PasswordHistoryRecord.user_id == env.user_id("ag")))
        assert len(list(kept)) == 5  # only the newest five hashes are kept
    current = passwords[-1]
    for recent in passwords[1::2]:  # of the last five (the current one included): oldest, middle, current
        r = change(current, recent)
        assert r.status_code == 422 and "last 5 passwords" in r.json()["error"]["message"], recent
    assert change(current, PASSWORD).status_code == 200  # the sixth most recent: allowed again
    assert env.login("ag", PASSWORD).status_code == 200
    assert {r.status for r in env.audit("auth.password_changed")} == {200}


def test_an_expired_password_is_changed_without_a_token(env: Env) -> None:
    env.clock.advance(days=91)
    r = env.login("ag")
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "password_expired" and "more than 90 days old" in error["message"]
    assert "POST /api/auth/password" in error["message"]
    body = {"username": "ag", "old_password": PASSWORD, "new_password": "Runway-North-91"}
    assert env.client.post("/api/auth/password", json=body).status_code == 200
    assert env.login("ag", "Runway-North-91").status_code == 200
    assert env.login("ag", PASSWORD).status_code == 401


def test_passwords_never_expire_with_max_age_zero(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'skycall.db'}")
    env = _env(engine, tmp_path, users=2, password_max_age_days=0)
    env.clock.advance(days=3650)
    assert env.login("ag").status_code == 200
    engine.dispose()


# --- lockout (SQLite and PostgreSQL) -----------------------------------------------------------
def test_lockout_after_five_failures_holds_across_workers_until_an_admin_unlocks(db_env: Env) -> None:
    env, worker2 = db_env, db_env.app()
    admin = env.auth("root")
    codes = [env.login("ag", "Wrong-pass-1", client=c).status_code for c in (env.client, worker2) * 2]
    assert codes == [401] * 4
    fifth = env.login("ag", "Wrong-pass-1", client=worker2)
    assert fifth.status_code == 423 and fifth.json()["error"]["code"] == "account_locked"
    right = env.login("ag")  # the right password, on the other worker: still locked
    assert right.status_code == 423 and "try again in 15 minutes" in right.json()["error"]["message"]
    env.clock.advance(minutes=5)
    assert "try again in 10 minutes" in env.login("ag", client=worker2).json()["error"]["message"]
    listed = {u["username"]: u for u in env.client.get("/api/users", headers=admin).json()}
    assert listed["ag"]["locked_until"] is not None and listed["root"]["locked_until"] is None

    unlocked = env.client.post(f"/api/users/{env.user_id('ag')}/unlock", headers=admin)
    assert unlocked.status_code == 200 and unlocked.json()["locked_until"] is None
    assert env.login("ag").status_code == 200
    assert [r.status for r in env.audit("auth.locked")] == [423]
    assert len(env.audit("auth.login_failed")) == 4 and len(env.audit("auth.login_locked")) == 2
    assert [r.status for r in env.audit("POST /api/users/{user_id}/unlock")] == [200]


def test_lockout_window_and_expiry(db_env: Env) -> None:
    env = db_env
    for _ in range(4):
        assert env.login("ag", "Wrong-pass-1").status_code == 401
    env.clock.advance(seconds=901)  # those four fall out of the 15-minute window
    assert env.login("ag", "Wrong-pass-1").status_code == 401
    assert env.login("ag").status_code == 200  # a success clears the counter
    for _ in range(4):
        env.login("ag", "Wrong-pass-1")
    assert env.login("ag", "Wrong-pass-1").status_code == 423
    env.clock.advance(seconds=901)  # the lock runs out by itself
    assert env.login("ag").status_code == 200


def test_unknown_usernames_are_never_locked(env: Env) -> None:
    assert [env.login("nobody", "Wrong-pass-1").status_code for _ in range(7)] == [401] * 7
    failed = env.audit("auth.login_failed")
    assert len(failed) == 7 and {r.username for r in failed} == {"nobody"} and failed[0].user_id is None


# --- sessions: idle timeout, sign-out, revocation (SQLite and PostgreSQL) ------------------------
def test_idle_sessions_are_signed_out_and_activity_keeps_them_alive(db_env: Env) -> None:
    env = db_env
    token = env.auth("ag")
    env.clock.advance(seconds=10)
    assert env.client.get("/api/auth/me", headers=token).status_code == 200
    with env.sessions() as db:
        row = db.scalars(select(StaffSessionRecord)).one()
        created, seen = row.created_at, row.last_seen_at
    assert seen == created  # activity within 30 s is not written
    env.clock.advance(seconds=600)
    assert env.client.get("/api/auth/me", headers=token).status_code == 200
    with env.sessions() as db:
        assert db.scalars(select(StaffSessionRecord.last_seen_at)).one() == env.clock.now
    env.clock.advance(seconds=800)  # 1 410 s after sign-in, 800 s after the last request
    assert env.client.get("/api/auth/me", headers=token).status_code == 200
    env.clock.advance(seconds=901)
    r = env.client.get("/api/auth/me", headers=token)
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "you were signed out after 15 minutes without activity; sign in again"
    env.clock.advance(seconds=1)
    assert "15 minutes without activity" in env.client.get("/api/auth/me", headers=token).json()["error"]["message"]
    assert env.client.get("/api/auth/me", headers=env.auth("ag")).status_code == 200


def test_logout_revokes_only_that_session(db_env: Env) -> None:
    env = db_env
    first, second = env.auth("ag"), env.auth("ag")
    assert env.client.post("/api/auth/logout", headers=first).status_code == 204
    r = env.client.get("/api/auth/me", headers=first)
    assert r.status_code == 401 and r.json()["error"]["message"] == "you signed out; sign in again"
    assert env.client.get("/api/auth/me", headers=second).status_code == 200
    assert env.client.post("/api/auth/logout").status_code == 401


def test_role_change_disable_and_password_reset_sign_the_user_out(db_env: Env) -> None:
    env = db_env
    admin, agent = env.auth("root"), env.auth("ag")
    uid = env.user_id("ag")
    assert env.client.patch(f"/api/users/{uid}", json={"display_name": "王丽"}, headers=admin).status_code == 200
    assert env.client.get("/api/auth/me", headers=agent).status_code == 200  # a new name keeps the session
    assert env.client.patch(f"/api/users/{uid}", json={"role": "supervisor"}, headers=admin).status_code == 200
    r = env.client.get("/api/auth/me", headers=agent)
    assert r.status_code == 401 and "changed your role" in r.json()["error"]["message"]
    promoted = env.auth("ag")
    assert env.client.get("/api/auth/me", headers=promoted).json()["role"] == "supervisor"
    assert env.client.patch(f"/api/users/{uid}", json={"active": False}, headers=admin).status_code == 200
    assert env.client.get("/api/auth/me", headers=promoted).status_code == 401
    assert env.login("ag").status_code == 401
    assert env.client.patch(f"/api/users/{uid}", json={"active": True}, headers=admin).status_code == 200

    again = env.auth("ag")
    reset = env.client.post(f"/api/users/{uid}/password", json={"password": "Temporary-Pass-7"}, headers=admin)
    assert reset.status_code == 200 and reset.json()["must_change_password"] is True
    assert env.client.get("/api/auth/me", headers=again).status_code == 401
    first = env.login("ag", "Temporary-Pass-7")
    assert first.status_code == 403 and first.json()["error"]["code"] == "password_expired"
    body = {"username": "ag", "old_password": "Temporary-Pass-7", "new_password": "My-Own-Choice-8"}
    assert env.client.post("/api/auth/password", json=body).status_code == 200
    assert env.login("ag", "My-Own-Choice-8").status_code == 200


# --- Origin guard ------------------------------------------------------------------------------
def test_cross_origin_writes_are_refused(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'skycall.db'}")
    env = _env(engine, tmp_path, users=2, allowed_origins="https://www.yunhai-airport.example, http://kiosk.local:8080")
    admin = env.auth("root")
    body = {"username": "newbie", "password": "Arrivals-Hall-3", "role": "agent"}
    evil = env.client.post("/api/users", json=body, headers={**admin, "Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "bad_origin"
    assert "SKYCALL_ALLOWED_ORIGINS" in evil.json()["error"]["message"]
    null = env.client.post("/api/auth/logout", headers={**admin, "Origin": "null"})
    assert null.status_code == 403 and null.json()["error"]["code"] == "bad_origin"
    assert env.client.get("/api/users", headers={**admin, "Origin": "https://evil.example"}).status_code == 200
    assert [r.status for r in env.audit("POST /api/users")] == [403]  # a refused write is audited
    own = env.client.post("/api/users", json=body, headers={**admin, "Origin": "http://testserver"})
    assert own.status_code == 201
    listed = {**body, "username": "kiosk"}
    kiosk = env.client.post("/api/users", json=listed, headers={**admin, "Origin": "http://KIOSK.local:8080"})
    assert kiosk.status_code == 201
    login = env.client.post(
        "/api/auth/login", json={"username": "ag", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert login.status_code == 403
    engine.dispose()


def test_origin_rules() -> None:
    allowed = ["https://www.yunhai-airport.example"]
    assert origin_allowed(None, "skycall.local", [])
    assert origin_allowed("https://skycall.local", "skycall.local", [])  # TLS ends at a proxy: scheme ignored
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", [])
    assert not origin_allowed("http://127.0.0.1:8001", "127.0.0.1:8000", [])
    assert not origin_allowed("https://skycall.local.evil.example", "skycall.local", [])
    assert origin_allowed("https://www.yunhai-airport.example:443", "skycall.local", allowed)
    assert not origin_allowed("http://www.yunhai-airport.example", "skycall.local", allowed)
    assert not origin_allowed("null", "skycall.local", allowed)
    assert not origin_allowed("javascript:alert(1)", "skycall.local", allowed)


def test_staff_websockets_check_the_origin(settings: Settings) -> None:
    app = FastAPI()
    app.state.settings = settings.model_copy(update={"allowed_origins": ["https://wallboard.example"]})

    @app.websocket("/ws/probe")
    async def probe(ws: WebSocket) -> None:
        if not check_ws_origin(ws):
            await ws.close(code=4403, reason="this page may not open staff sockets")
            return
        await ws.accept()
        await ws.send_json({"ok": True})
        await ws.close()

    client = TestClient(app)
    for origin in (None, "http://testserver", "https://wallboard.example"):
        headers = {"Origin": origin} if origin else {}
        with client.websocket_connect("/ws/probe", headers=headers) as ws:
            assert ws.receive_json() == {"ok": True}
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/ws/probe", headers={"Origin": "https://evil.example"}) as ws,
    ):
        ws.receive_json()
    assert info.value.code == 4403


# --- user administration, departments, audit log -----------------------------------------------
def test_admins_manage_users_with_the_policy_and_the_departments_tree(env: Env) -> None:
    admin = env.auth("root")
    weak = env.client.post("/api/users", json={"username": "lf2", "password": "short", "role": "agent"}, headers=admin)
    assert weak.status_code == 422 and len(weak.json()["error"]["problems"]) == 2
    body = {"username": "lf2", "password": "Lost-Found-2026", "role": "agent", "department": "lost_found"}
    bad_dept = env.client.post("/api/users", json=body, headers=admin)
    assert bad_dept.status_code == 422 and bad_dept.json()["error"]["code"] == "unknown_department"
    made = env.client.post("/api/users", json={**body, "department": "lost_and_found"}, headers=admin)
    assert made.status_code == 201 and made.json()["must_change_password"] is True
    dup = env.client.post("/api/users", json={**body, "department": ""}, headers=admin)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "username_taken"
    first = env.login("lf2", "Lost-Found-2026")
    assert first.status_code == 403 and "an administrator set this password" in first.json()["error"]["message"]

    me = env.user_id("root")
    own = env.client.patch(f"/api/users/{me}", json={"active": False}, headers=admin)
    assert own.status_code == 409 and own.json()["error"]["code"] == "own_account"
    missing = env.client.patch("/api/users/9999", json={"active": False}, headers=admin)
    assert missing.status_code == 404 and "GET /api/users" in missing.json()["error"]["message"]
    moved = env.client.patch(f"/api/users/{made.json()['id']}", json={"department": "nowhere"}, headers=admin)
    assert moved.status_code == 422 and "lost_and_found" in moved.json()["error"]["message"]
    assert env.client.get("/api/users", headers=env.auth("sup")).status_code == 403

    tree = env.client.get("/api/departments", headers=env.auth("ag")).json()
    roots = {d["code"]: d for d in tree}
    assert set(roots) == {"customer_service", "terminal_operations", "ground_services"}
    ops = [c["code"] for c in roots["terminal_operations"]["children"]]
    assert ops == ["lost_and_found", "security"] and roots["terminal_operations"]["children"][0]["parent"] == (
        "terminal_operations"
    )
    assert roots["customer_service"]["children"][0]["en"] == "Service Quality"


def test_the_audit_log_records_writes_and_sign_ins_without_bodies(env: Env) -> None:
    admin, agent = env.auth("root"), env.auth("ag")
    env.clock.advance(minutes=1)
    body = {"username": "night.shift", "password": "Night-Shift-2026", "role": "agent"}
    assert env.client.post("/api/users", json=body, headers=admin).status_code == 201
    assert env.client.post("/api/users", json=body, headers=agent).status_code == 403
    assert env.client.post("/api/users", json=body, headers={"Authorization": "Bearer forged"}).status_code == 401
    env.login("sup", "Wrong-pass-1")

    writes = env.audit("POST /api/users")
    assert [(r.username, r.role, r.status) for r in writes] == [("root", "admin", 201), ("ag", "agent", 403)]
    assert writes[0].method == "POST" and writes[0].path == "/api/users" and writes[0].client == "testclient"
    with env.sessions() as db:
        for row in db.scalars(select(AuditRecord)):
            assert "Night-Shift-2026" not in " ".join(str(v) for v in vars(row).values())
    assert [r.username for r in env.audit("auth.login")] == ["root", "ag"]

    sup = env.auth("sup")
    page = env.client.get("/api/audit", params={"action": "auth.", "limit": 2}, headers=sup).json()
    assert page["total"] == 4 and [i["action"] for i in page["items"]] == ["auth.login", "auth.login_failed"]
    second = env.client.get("/api/audit", params={"action": "auth.", "limit": 2, "page": 2}, headers=sup).json()
    assert [i["username"] for i in second["items"]] == ["ag", "root"]  # newest first
    by_user = env.client.get("/api/audit", params={"user": "ag"}, headers=sup).json()
    assert {i["action"] for i in by_user["items"]} == {"auth.login", "POST /api/users"}
    since = (env.clock.now - timedelta(seconds=1)).isoformat()
    recent = env.client.get("/api/audit", params={"since": since}, headers=sup).json()
    assert "auth.login" in {i["action"] for i in recent["items"]} and recent["total"] == 4
    naive = env.client.get("/api/audit", params={"since": "2026-12-01T08:00:00"}, headers=sup)
    assert naive.status_code == 422 and "time zone" in naive.json()["error"]["message"]
    assert env.client.get("/api/audit", headers=agent).status_code == 403


def test_create_user_without_rules_keeps_only_the_minimum_length(tmp_path: Path) -> None:
    """Fixtures and scripts provision accounts with ``create_user`` and no rules: only the length
    is checked; the API and the CLI pass the settings' rules (the whole policy)."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'skycall.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    assert create_user(sessions, username="fixture", password="correct-horse-battery", role="agent").role == "agent"
    with pytest.raises(ValueError, match="at least 3 of"):
        create_user(sessions, username="strict", password="correct-horse-battery", role="agent", rules=SecurityRules())
    with pytest.raises(ValueError, match="at least 10 characters"):
        create_user(sessions, username="tiny", password="Ab1-", role="agent")
    engine.dispose()


# --- migration 0009 ------------------------------------------------------------------------------
_TABLES_0009 = {"password_history", "login_failures", "staff_sessions", "audit_log"}
_USER_COLUMNS_0009 = {"password_changed_at", "must_change_password", "locked_until"}


def _drift_0009(engine: Engine) -> list[Any]:
    """Differences between migration 0009 and the models, limited to what 0009 creates."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)

    def touches_0009(entry: Any) -> bool:
        text = repr(entry)
        return any(name in text for name in _TABLES_0009 | _USER_COLUMNS_0009)

    return [d for d in diff if touches_0009(d)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migration_0009_matches_the_models_and_reverses(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    engine = (
        request.getfixturevalue("pg_engine")
        if dialect == "postgresql"
        else create_engine_for(f"sqlite:///{tmp_path / 'skycall.db'}")
    )
    migrate(engine, "0008")
    sessions = session_factory(engine)
    with sessions() as db:  # an account from before 0009: its password age starts at its creation
        columns = "username, display_name, password_hash, role, department, active, created_at"
        insert = text(f"INSERT INTO users ({columns}) VALUES ('old', '', 'x', 'agent', '', :active, :at)")
        db.execute(insert.bindparams(bindparam("at", type_=DateTime(timezone=True))), {"active": True, "at": utcnow()})
        db.commit()
    migrate(engine)
    assert _drift_0009(engine) == []
    assert _TABLES_0009 <= set(inspect(engine).get_table_names())
    with sessions() as db:
        old = db.scalars(select(User).where(User.username == "old")).one()
        assert old.password_changed_at is not None and old.must_change_password is False
    command.downgrade(alembic_config(engine), "0008")
    assert not _TABLES_0009 & set(inspect(engine).get_table_names())
    assert not _USER_COLUMNS_0009 & {c["name"] for c in inspect(engine).get_columns("users")}
    migrate(engine)
    assert _drift_0009(engine) == []
    if dialect == "sqlite":
        engine.dispose()
