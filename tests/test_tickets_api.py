"""The tickets REST API over real SQLite through the app: roles, the workflow with its history,
field validation, SLA deadlines, "my tickets", search, filters and pagination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from console.auth import create_user
from console.ticket_tables import TicketRecord
from console.ticket_templates import load_catalog
from skycall.app import create_app
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory

PASSWORD = "correct-horse-battery"
STAFF = {
    "ag1": ("agent", ""),
    "ag2": ("agent", ""),
    "lf": ("agent", "lost_and_found"),
    "sup": ("supervisor", ""),
    "ed": ("editor", ""),
}
LOST_BAG = {
    "type": "lost_property",
    "title": "黑色双肩包遗失 / Black backpack lost",
    "description": "Left at gate B12 after flight YH1234.",
    "caller_phone": "+86 138 0013 8000",
    "language": "zh",
    "fields": {"item": "黑色双肩包", "lost_on": "2026-12-01", "place": "t2", "contact_phone": "13800138000"},
}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    tmp = tmp_path_factory.mktemp("tickets")
    settings = Settings(_env_file=None, data_dir=tmp)  # type: ignore[call-arg]
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    for user, (role, department) in STAFF.items():
        create_user(sessions, username=user, password=PASSWORD, role=role, department=department)
    app = create_app(settings)
    app.state.sessions = sessions
    yield TestClient(app), sessions
    engine.dispose()


@pytest.fixture(scope="module")
def client(app_client: tuple[TestClient, Any]) -> TestClient:
    return app_client[0]


@cache
def auth(client: TestClient, user: str) -> dict[str, str]:
    """One sign-in per user (sign-in is rate-limited)."""
    r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def create(client: TestClient, user: str, **overrides: Any) -> dict[str, Any]:
    r = client.post("/api/tickets", json={**LOST_BAG, **overrides}, headers=auth(client, user))
    assert r.status_code == 201, r.text
    return dict(r.json())


def act(client: TestClient, user: str, number: str, action: str, **body: Any) -> Any:
    return client.post(f"/api/tickets/{number}/{action}", json=body, headers=auth(client, user))


def error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["error"])


def test_tickets_need_a_token_and_an_agent_or_supervisor(client: TestClient) -> None:
    assert "sign in first" in error(client.get("/api/tickets"), 401)["message"]
    denied = error(client.get("/api/tickets", headers=auth(client, "ed")), 403)
    assert "needs the role agent or supervisor" in denied["message"]
    templates = client.get("/api/tickets/templates", headers=auth(client, "ag1")).json()
    assert templates["types"]["report"]["sla_working_days"] == 30
    assert templates["types"]["praise"]["name"] == {"zh": "表扬", "en": "Praise"}
    assert templates["departments"]["lost_and_found"]["zh"] == "失物招领处"


def test_the_whole_workflow_with_history_and_roles(client: TestClient) -> None:
    ticket = create(client, "ag1")
    number = ticket["number"]
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    assert number.startswith(f"WO-{today}-") and len(number) == len("WO-20261201-0001")
    assert ticket["status"] == "draft" and ticket["sla_deadline"] is None
    assert ticket["fields"]["contact_phone"] == "13800138000" and ticket["caller_phone"] == "+8613800138000"
    assert ticket["actions"] == ["edit", "submit"]

    # another agent neither sees nor touches it
    assert "no ticket" in error(client.get(f"/api/tickets/{number}", headers=auth(client, "ag2")), 404)["message"]
    # the creator cannot assign; a state that does not allow an action is a 409
    assert "only a supervisor can assign" in error(act(client, "ag1", number, "assign", department="x"), 403)["message"]
    assert "cannot start while draft" in error(act(client, "sup", number, "start"), 409)["message"]

    submitted = act(client, "ag1", number, "submit").json()
    assert submitted["status"] == "submitted"
    due = datetime.fromisoformat(submitted["sla_deadline"])
    sent = datetime.fromisoformat(submitted["submitted_at"])
    calendar = load_catalog().working_calendar()
    assert due == calendar.deadline(sent, 5) and due.utcoffset() == timedelta(hours=8)
    assert (due.hour, due.minute, due.second) == (23, 59, 59)
    assert (
        error(client.patch(f"/api/tickets/{number}", json={"title": "x"}, headers=auth(client, "ag1")), 409)["code"]
        == "not_editable"
    )

    unknown = error(act(client, "sup", number, "assign", department="catering"), 422)
    assert unknown["code"] == "unknown_department" and "lost_and_found" in unknown["message"]
    assert "name the department" in error(act(client, "sup", number, "assign"), 409)["message"]
    assert (
        "no active staff account"
        in error(act(client, "sup", number, "assign", department="lost_and_found", assignee="ghost"), 422)["message"]
    )
    assigned = act(client, "sup", number, "assign", department="lost_and_found", assignee="lf").json()
    assert assigned["status"] == "assigned" and assigned["assignee"] == "lf"

    # ag2 is not the assignee: a 404 (cannot see it); the creator sees it but cannot process it
    assert error(act(client, "ag2", number, "start"), 404)["code"] == "not_found"
    assert "only its assignee or a supervisor can start" in error(act(client, "ag1", number, "start"), 403)["message"]
    assert act(client, "lf", number, "start").json()["status"] == "in_progress"
    assert "say in a note" in error(act(client, "lf", number, "return"), 409)["message"]
    returned = act(client, "lf", number, "return", note="请补充航班号 / please add the flight number").json()
    assert returned["status"] == "returned"

    # back with the submitter: edit, resubmit; the SLA deadline does not restart
    fields = {**LOST_BAG["fields"], "flight_no": "YH1234"}
    edited = client.patch(f"/api/tickets/{number}", json={"fields": fields}, headers=auth(client, "ag1"))
    assert edited.status_code == 200 and edited.json()["fields"]["flight_no"] == "YH1234"
    resubmitted = act(client, "ag1", number, "submit").json()
    assert resubmitted["sla_deadline"] == submitted["sla_deadline"]
    act(client, "sup", number, "assign", department="lost_and_found", assignee="lf")
    act(client, "lf", number, "start")
    resolved = act(client, "lf", number, "resolve", note="已在失物招领处找到 / found at the office").json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert "only its creator or a supervisor can close" in error(act(client, "lf", number, "close"), 403)["message"]
    closed = act(client, "ag1", number, "close").json()
    assert closed["status"] == "closed" and closed["actions"] == []
    assert "allowed: none, it is closed" in error(act(client, "sup", number, "reopen"), 409)["message"]

    history = [(h["action"], h["from_status"], h["to_status"], h["actor"]) for h in closed["history"]]
    assert history == [
        ("create", None, "draft", "ag1"),
        ("submit", "draft", "submitted", "ag1"),
        ("assign", "submitted", "assigned", "sup"),
        ("start", "assigned", "in_progress", "lf"),
        ("return", "in_progress", "returned", "lf"),
        ("submit", "returned", "submitted", "ag1"),
        ("assign", "submitted", "assigned", "sup"),
        ("start", "assigned", "in_progress", "lf"),
        ("resolve", "in_progress", "resolved", "lf"),
        ("close", "resolved", "closed", "ag1"),
    ]
    assert closed["history"][2]["department"] == "lost_and_found" and closed["history"][2]["assignee"] == "lf"
    assert closed["history"][4]["note"] == "请补充航班号 / please add the flight number"


def test_field_values_are_checked_with_a_message_per_field(client: TestClient) -> None:
    bad = {**LOST_BAG["fields"], "lost_on": "last Tuesday", "estimated_value": -5, "contact_phone": "call me"}
    body = error(client.post("/api/tickets", json={**LOST_BAG, "fields": bad}, headers=auth(client, "ag1")), 422)
    assert body["code"] == "invalid_fields"
    by_field = {f["field"]: f["message"] for f in body["fields"]}
    assert set(by_field) == {"lost_on", "estimated_value", "contact_phone"}
    assert "YYYY-MM-DD" in by_field["lost_on"] and "at least 0" in by_field["estimated_value"]
    assert "Traceback" not in str(body)

    wrong_type = error(
        client.post("/api/tickets", json={**LOST_BAG, "type": "refund"}, headers=auth(client, "ag1")), 422
    )
    assert "unknown ticket type 'refund'" in wrong_type["message"] and "consultation" in wrong_type["message"]
    bad_phone = error(
        client.post("/api/tickets", json={**LOST_BAG, "caller_phone": "12"}, headers=auth(client, "ag1")), 422
    )
    assert bad_phone["fields"][0]["field"] == "caller_phone"

    # a draft may be incomplete; submitting it lists what is missing
    draft = create(client, "ag1", fields={"item": "雨伞"})
    missing = error(act(client, "ag1", draft["number"], "submit"), 422)
    assert {f["field"] for f in missing["fields"]} == {"lost_on", "place", "contact_phone"}
    assert client.get(f"/api/tickets/{draft['number']}", headers=auth(client, "ag1")).json()["status"] == "draft"
    # create-and-submit in one call needs every required field
    assert (
        error(
            client.post("/api/tickets", json={**LOST_BAG, "fields": {}, "submit": True}, headers=auth(client, "ag1")),
            422,
        )["code"]
        == "invalid_fields"
    )
    complaint = create(
        client,
        "ag2",
        type="complaint",
        submit=True,
        fields={
            "category": "baggage",
            "occurred_at": "2026-12-01T14:30",
            "details": "托运行李破损",
            "contact_phone": "13900139000",
        },
    )
    assert complaint["status"] == "submitted" and complaint["fields"]["occurred_at"] == "2026-12-01T14:30+08:00"


def test_numbers_follow_a_daily_sequence(app_client: tuple[TestClient, Any]) -> None:
    client, sessions = app_client
    numbers = [create(client, "ag2", title=f"seq {k}")["number"] for k in range(3)]
    sequence = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert sequence == [sequence[0], sequence[0] + 1, sequence[0] + 2]
    with sessions() as db:
        stored = db.scalars(select(TicketRecord.number).where(TicketRecord.number.in_(numbers))).all()
    assert sorted(stored) == sorted(numbers)


def test_my_tickets_search_filters_and_pages(client: TestClient) -> None:
    def page(user: str, **params: Any) -> dict[str, Any]:
        r = client.get("/api/tickets", params=params, headers=auth(client, user))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def numbers(user: str, **params: Any) -> set[str]:
        return {t["number"] for t in page(user, per_page=100, **params)["items"]}

    umbrella = create(client, "ag2", title="Umbrella forgotten", fields={**LOST_BAG["fields"], "item": "蓝色雨伞"})
    passport = create(client, "ag2", title="护照遗失", fields={**LOST_BAG["fields"], "item": "passport"}, submit=True)
    praise = create(
        client,
        "ag2",
        type="praise",
        title="表扬安检员",
        fields={"staff_name": "王芳", "details": "耐心帮助老人"},
        submit=True,
    )
    act(client, "sup", passport["number"], "assign", department="lost_and_found")

    # drafts: mine only; pending: my department's; handled: where I acted
    assert umbrella["number"] in numbers("ag2", view="drafts")
    assert passport["number"] not in numbers("ag2", view="drafts")
    assert umbrella["number"] not in numbers("ag1", view="drafts")
    pending_lf = numbers("lf", view="pending")
    assert passport["number"] in pending_lf and praise["number"] not in pending_lf
    assert praise["number"] in numbers("sup", view="pending")  # waiting to be assigned
    assert praise["number"] not in numbers("lf", view="pending")
    assert passport["number"] in numbers("sup", view="handled")
    assert passport["number"] in numbers("ag2", view="handled") and umbrella["number"] not in numbers(
        "ag2", view="handled"
    )
    # visibility: an agent sees what they created or what sits with their department
    assert passport["number"] in numbers("lf") and umbrella["number"] not in numbers("lf")
    assert umbrella["number"] not in numbers("ag1")

    # free text: title, searchable fields (Chinese substrings too), the number; every word must match
    assert numbers("ag2", q="雨伞") == {umbrella["number"]}
    assert numbers("ag2", q="UMBRELLA forgotten") == {umbrella["number"]}
    assert numbers("ag2", q="umbrella passport") == set()
    assert numbers("ag2", q="王芳") == {praise["number"]}
    assert numbers("ag2", q=passport["number"]) == {passport["number"]}
    assert numbers("ag2", q="13800138000") == set()  # phones are not searchable
    assert numbers("ag2", q="100%_") == set()  # LIKE wildcards are plain characters

    # filters
    assert praise["number"] in numbers("ag2", type="praise") and umbrella["number"] not in numbers("ag2", type="praise")
    assert all(t["type"] == "praise" for t in page("ag2", type="praise")["items"])
    assert numbers("sup", department="lost_and_found") >= {passport["number"]}
    assert umbrella["number"] not in numbers("sup", status="submitted")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert umbrella["number"] in numbers("ag2", created_from=str(today), created_to=str(today))
    tomorrow = today + timedelta(days=1)
    assert numbers("ag2", created_from=str(tomorrow)) == set()
    assert numbers("ag2", created_to=str(today - timedelta(days=1))) == set()
    swapped = client.get(
        "/api/tickets", params={"created_from": str(tomorrow), "created_to": str(today)}, headers=auth(client, "ag2")
    )
    assert "swap them" in error(swapped, 422)["message"]
    assert (
        "unknown status"
        in error(client.get("/api/tickets", params={"status": "lost"}, headers=auth(client, "ag2")), 422)["message"]
    )

    # listed fields only, newest first, pages
    first = page("ag2", per_page=2)
    assert len(first["items"]) == 2 and first["total"] >= 5 and first["page"] == 1
    assert first["items"][0]["number"] == praise["number"]
    assert first["items"][1]["listed"] == {"item": "passport", "lost_on": "2026-12-01"}
    assert "caller_phone" not in first["items"][1]
    second = page("ag2", per_page=2, page=2)
    assert {t["number"] for t in second["items"]}.isdisjoint({t["number"] for t in first["items"]})
    everything = numbers("ag2")
    assert len(everything) == first["total"]
    assert (
        "per_page"
        in error(client.get("/api/tickets", params={"per_page": 500}, headers=auth(client, "ag2")), 422)["message"]
    )


def test_supervisor_sees_all_and_editing_is_for_the_creator(client: TestClient) -> None:
    mine = create(client, "ag1", type="suggestion", title="增加充电座位", fields={"details": "候机区充电插座太少"})
    assert client.get(f"/api/tickets/{mine['number']}", headers=auth(client, "sup")).status_code == 200
    other = client.patch(f"/api/tickets/{mine['number']}", json={"title": "x"}, headers=auth(client, "sup"))
    assert "only the creator" in error(other, 403)["message"]
    r = client.patch(f"/api/tickets/{mine['number']}", json={"description": "T2 B区"}, headers=auth(client, "ag1"))
    assert r.json()["description"] == "T2 B区" and r.json()["title"] == "增加充电座位"
    assert error(act(client, "ag1", mine["number"], "fly"), 422)["code"] == "invalid_request"


def test_the_caller_phone_never_reaches_the_log(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    ticket = create(client, "ag1", caller_phone="+86 139 1234 5678", submit=True)
    act(client, "sup", ticket["number"], "assign", department="lost_and_found")
    logged = [r for r in caplog.records if r.name.startswith("console")]
    assert logged, "ticket writes are logged (with the ticket number)"
    assert any(getattr(r, "ticket", None) == ticket["number"] for r in logged)
    for record in logged:
        text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        assert "12345678" not in text and "13800138000" not in text
