"""The reports API over real SQLite: a real RoutingEngine on a fixed clock produces queued calls and
agent transitions, the bot's calls are rows of the ``calls`` table, and the counts per local hour,
day and month are computed by hand below. The center's zone is Asia/Shanghai (UTC+8), so the day
boundary is 16:00 UTC: a call at 17:00 UTC belongs to the next local day.

Timeline (UTC, 2026-11-23; queue ``general_en``, wrap-up 30 s; agents a1, a2 log in at 08:00:00):

* c1 08:00:00 → a1 rings, answers at +10 s (within the 20 s target), talks 120 s, wrap-up 30 s
  (ended by the timer at 08:02:40);
* b1 08:05 a bot-only call;
* c2 08:30:00 → a2 (longest idle), answers at +30 s, talks 60 s, finishes wrap-up after 10 s;
* c3 08:45:00 hangs up after 3 s (a short abandon);
* b2 08:50 a bot-only call;
* c4 09:10:00 in queue ``complaints``, hangs up after 60 s (abandoned);
* b3 16:30 a bot-only call (00:30 on the 24th, local);
* c5 17:00:00 → a1, answers at +5 s, talks 60 s, wrap-up 30 s (timer at 17:01:35);
* both agents log out at 17:05:00; the reports' clock reads 17:10:00.

c1 … c5 are bot calls too (the bot handed them off), so there are 8 bot calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from starlette.testclient import TestClient

from console.auth import create_user
from routing.engine import RoutingEngine
from routing.models import AgentProfile, QueueSpec
from skycall.app import create_app
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from voicebot.tables import CallRecord

PASSWORD = "correct-horse-battery"
DAY = datetime(2026, 11, 23, tzinfo=UTC)
NOW = DAY + timedelta(hours=17, minutes=10)


class Clock:
    def __init__(self) -> None:
        self.now = DAY + timedelta(hours=8)

    def __call__(self) -> datetime:
        return self.now

    def at(self, hours: int, minutes: int = 0, seconds: int = 0) -> None:
        self.now = DAY + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _timeline(acd: RoutingEngine, clock: Clock) -> None:
    acd.save_queue(queue=QueueSpec(queue_id="general_en", language="en", wrap_up_s=30, ring_timeout_s=15))
    acd.save_queue(queue=QueueSpec(queue_id="complaints", language="en", wrap_up_s=30))
    for agent in ("a1", "a2"):
        acd.save_agent(agent=AgentProfile(agent_id=agent, skills={}, languages=frozenset({"en"})))
        acd.log_in(agent_id=agent)

    def offer(call_id: str, agent: str) -> None:
        got = acd.assign_next()
        assert got is not None and (got.call_id, got.agent_id) == (call_id, agent)

    acd.enqueue(call_id="c1", queue_id="general_en")
    offer("c1", "a1")
    clock.at(8, 0, 10)
    acd.answer(agent_id="a1")
    clock.at(8, 2, 10)
    acd.end_call(agent_id="a1")
    clock.at(8, 2, 40)
    assert acd.tick() == (0, 1)
    clock.at(8, 30)
    acd.enqueue(call_id="c2", queue_id="general_en")
    offer("c2", "a2")
    clock.at(8, 30, 30)
    acd.answer(agent_id="a2")
    clock.at(8, 31, 30)
    acd.end_call(agent_id="a2")
    clock.at(8, 31, 40)
    acd.finish_wrap_up(agent_id="a2")
    clock.at(8, 45)
    acd.enqueue(call_id="c3", queue_id="general_en")
    clock.at(8, 45, 3)
    acd.abandon(call_id="c3")
    clock.at(9, 10)
    acd.enqueue(call_id="c4", queue_id="complaints")
    clock.at(9, 11)
    acd.abandon(call_id="c4")
    clock.at(17)
    acd.enqueue(call_id="c5", queue_id="general_en")
    offer("c5", "a1")
    clock.at(17, 0, 5)
    acd.answer(agent_id="a1")
    clock.at(17, 1, 5)
    acd.end_call(agent_id="a1")
    clock.at(17, 1, 35)
    assert acd.tick() == (0, 1)
    clock.at(17, 5)
    acd.log_out(agent_id="a1")
    acd.log_out(agent_id="a2")


BOT_CALLS = {
    "c1": (8, 0),
    "b1": (8, 5),
    "c2": (8, 30),
    "c3": (8, 45),
    "b2": (8, 50),
    "c4": (9, 10),
    "b3": (16, 30),
    "c5": (17, 0),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("reports")
    settings = Settings(_env_file=None, data_dir=tmp)
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    clock = Clock()
    _timeline(RoutingEngine(engine=engine, clock=clock), clock)
    with sessions() as db:
        for call_id, (h, m) in BOT_CALLS.items():
            start = DAY + timedelta(hours=h, minutes=m)
            db.add(CallRecord(id=call_id, channel="browser", started_at=start, ended_at=start + timedelta(minutes=2)))
        db.commit()
    for user, role in (("sup", "supervisor"), ("adm", "admin"), ("ag", "agent"), ("qa", "qa"), ("ed", "editor")):
        create_user(sessions, username=user, password=PASSWORD, role=role)
    app = create_app(settings)
    app.state.sessions = sessions
    app.state.clock = lambda: NOW
    yield TestClient(app)
    engine.dispose()


@cache
def auth(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def calls(client: TestClient, user: str = "sup", **params: str) -> Any:
    r = client.get("/api/reports/calls", params=params, headers=auth(client, user))
    assert r.status_code == 200, r.text
    return r.json()


def counts(row: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("bot_calls", "bot_only", "handed_off", "calls", "offered", "answered", "abandoned", "short_abandoned")
    return tuple(row[k] for k in keys)


def test_calls_per_local_hour(client: TestClient) -> None:
    out = calls(client, period="hour", since="2026-11-23T16:00:00+08:00", until="2026-11-23T18:00:00+08:00")
    assert out["timezone"] == "Asia/Shanghai" and out["queues"] == ["complaints", "general_en"]
    assert [r["label"] for r in out["rows"]] == ["2026-11-23 16:00", "2026-11-23 17:00"]
    first, second = out["rows"]
    assert counts(first) == (5, 2, 3, 3, 2, 2, 0, 1)  # c1, c2, c3 + b1, b2; c3 a short abandon
    assert first["service_level"] == pytest.approx(1 / 2)  # c1 within 20 s, c2 after 30 s
    assert first["asa_s"] == pytest.approx((10 + 30) / 2)
    assert first["aht_s"] == pytest.approx(((120 + 30) + (60 + 10)) / 2)
    assert counts(second) == (1, 0, 1, 1, 1, 0, 1, 0)  # c4 waited 60 s
    assert second["service_level"] == 0 and second["asa_s"] is None
    assert counts(out["total"]) == (6, 2, 4, 4, 3, 2, 1, 1)


def test_calls_per_local_day_and_month(client: TestClient) -> None:
    out = calls(client, period="day", since="2026-11-23", until="2026-11-25")
    assert [r["label"] for r in out["rows"]] == ["2026-11-23", "2026-11-24"]
    nov23, nov24 = out["rows"]
    assert counts(nov23) == (6, 2, 4, 4, 3, 2, 1, 1)
    assert counts(nov24) == (2, 1, 1, 1, 1, 1, 0, 0)  # b3 and c5 are after midnight in Shanghai
    assert nov24["service_level"] == 1 and nov24["asa_s"] == pytest.approx(5)
    assert nov23["start"].startswith("2026-11-23T00:00:00+08:00")
    months = calls(client, period="month", since="2026-10-15", until="2026-12-01")
    assert [r["label"] for r in months["rows"]] == ["2026-10", "2026-11"]
    assert counts(months["rows"][0]) == (0, 0, 0, 0, 0, 0, 0, 0)
    assert counts(months["rows"][1]) == (8, 3, 5, 5, 4, 3, 1, 1)
    assert months["rows"][1]["service_level"] == pytest.approx(2 / 4)


def test_one_queue(client: TestClient) -> None:
    out = calls(client, period="day", since="2026-11-23", until="2026-11-24", queue="complaints")
    (row,) = out["rows"]
    assert counts(row) == (None, None, 1, 1, 1, 0, 1, 0)  # only c4; bot-only calls have no queue
    general = calls(client, period="day", since="2026-11-23", until="2026-11-24", queue="general_en")
    assert counts(general["rows"][0]) == (None, None, 3, 3, 2, 2, 0, 1)


def test_default_ranges_end_now(client: TestClient) -> None:
    days = calls(client, period="day")  # the last 7 local days up to now (01:10 on the 24th, local)
    assert [r["label"] for r in days["rows"]] == [f"2026-11-{d}" for d in range(18, 25)]
    hours = calls(client, period="hour")  # today, local
    assert [r["label"] for r in hours["rows"]] == ["2026-11-24 00:00", "2026-11-24 01:00"]
    assert counts(hours["rows"][1]) == (1, 0, 1, 1, 1, 1, 0, 0)  # c5 at 01:00 local
    months = calls(client, period="month")
    assert len(months["rows"]) == 12 and months["rows"][0]["label"] == "2025-12"


def test_agent_state_time_per_hour_and_day(client: TestClient) -> None:
    r = client.get(
        "/api/reports/agents",
        params={"period": "hour", "since": "2026-11-23T16:00:00+08:00", "until": "2026-11-23T18:00:00+08:00"},
        headers=auth(client, "sup"),
    )
    assert r.status_code == 200, r.text
    rows = {(x["label"], x["agent_id"]): x for x in r.json()["rows"]}
    a1 = rows[("2026-11-23 16:00", "a1")]
    assert (a1["reserved_s"], a1["on_call_s"], a1["wrap_up_s"], a1["available_s"]) == (10, 120, 30, 3600 - 160)
    assert a1["answered"] == 1 and a1["aht_s"] == pytest.approx(150)
    a2 = rows[("2026-11-23 16:00", "a2")]
    assert (a2["reserved_s"], a2["on_call_s"], a2["wrap_up_s"], a2["available_s"]) == (30, 60, 10, 3600 - 100)
    assert rows[("2026-11-23 17:00", "a1")]["available_s"] == 3600
    days = client.get(
        "/api/reports/agents",
        params={"period": "day", "since": "2026-11-23", "until": "2026-11-25"},
        headers=auth(client, "adm"),
    ).json()
    by = {(x["label"], x["agent_id"]): x for x in days["rows"]}
    assert by[("2026-11-23", "a1")]["available_s"] == 8 * 3600 - 160  # 08:00–16:00 UTC is the rest of the 23rd
    assert by[("2026-11-24", "a1")]["available_s"] == 3600 + 205  # 16:00–17:00, then 17:01:35–17:05
    assert (by[("2026-11-24", "a1")]["on_call_s"], by[("2026-11-24", "a1")]["answered"]) == (60, 1)
    assert by[("2026-11-24", "a2")]["available_s"] == 3900
    assert days["agents"] == ["a1", "a2"]
    totals = {t["agent_id"]: t for t in days["totals"]}
    assert totals["a1"]["answered"] == 2 and totals["a1"]["on_call_s"] == 180
    assert totals["a1"]["occupancy"] == pytest.approx((15 + 180 + 60) / (15 + 180 + 60 + 8 * 3600 - 160 + 3805))


def test_csv_download(client: TestClient) -> None:
    r = client.get(
        "/api/reports/calls",
        params={"period": "day", "since": "2026-11-23", "until": "2026-11-25", "format": "csv"},
        headers=auth(client, "sup"),
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="skycall-calls-day-20261123-20261125.csv"' in r.headers["content-disposition"]
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("start,label,bot_calls,bot_only,handed_off,calls,offered,answered")
    assert [line.split(",")[1] for line in lines[1:]] == ["2026-11-23", "2026-11-24", "total"]
    assert lines[2].split(",")[2:5] == ["2", "1", "1"]
    agents = client.get(
        "/api/reports/agents",
        params={"period": "day", "since": "2026-11-23", "until": "2026-11-25", "format": "csv"},
        headers=auth(client, "sup"),
    )
    assert agents.status_code == 200 and agents.text.lstrip("\ufeff").splitlines()[0].startswith("start,label,agent_id")


def test_roles(client: TestClient) -> None:
    assert client.get("/api/reports/calls").status_code == 401
    for user in ("ag", "qa", "ed"):
        for path in ("/api/reports/calls", "/api/reports/agents"):
            r = client.get(path, headers=auth(client, user))
            assert r.status_code == 403 and "supervisor" in r.json()["error"]["message"], (user, path)
    assert client.get("/api/reports/agents", headers=auth(client, "adm")).status_code == 200


def test_bad_requests_say_what_to_change(client: TestClient) -> None:
    def refused(**params: str) -> dict[str, str]:
        r = client.get("/api/reports/calls", params=params, headers=auth(client, "sup"))
        assert r.status_code == 422, r.text
        error: dict[str, str] = r.json()["error"]
        return error

    backwards = refused(since="2026-11-24", until="2026-11-23")
    assert backwards["code"] == "bad_range" and "must be after since" in backwards["message"]
    too_many = refused(period="hour", since="2026-01-01", until="2026-03-01")
    assert too_many["code"] == "too_many_periods" and "longer period" in too_many["message"]
    unknown = refused(queue="nope")
    assert unknown["code"] == "unknown_queue" and "general_en" in unknown["message"]
    assert refused(period="week")["code"] == "invalid_request"
