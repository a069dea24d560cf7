"""The call-records API over real SQLite: calls and turns written by the real call-log writer,
recordings written by the real recorder, handoffs made by the real routing engine; roles, filters,
paging, the turn details, streamed WAV files, clear 404s, and an audit row per recording access."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from console.auth import create_user
from console.tables import AuditRecord
from routing.engine import RoutingEngine
from routing.models import QueueSpec
from skycall.app import create_app
from skycall.events import BotUtterance, CallEnded, CallerUtterance, CallStarted
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from voicebot.calllog import CallLogWriter
from voicebot.recorder import CallRecorder

PASSWORD = "Yunhai-desk-2026"
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass
class Calls:
    client: TestClient
    sessions: sessionmaker[Session]
    ids: list[str]  # oldest first
    tokens: dict[str, dict[str, str]]


def _call_events(call_id: str, n: int, recording_dir: Path | None) -> list[Any]:
    at = T0 + timedelta(hours=n)
    lang = "zh" if n % 2 == 0 else "en"
    events: list[Any] = [
        CallStarted(
            call_id=call_id, at=at, channel="browser", recording_dir=str(recording_dir) if recording_dir else None
        )
    ]
    events.append(CallerUtterance(call_id=call_id, at=at, seq=1, text=f"question {n}", language=lang, confidence=0.9))
    events.append(
        BotUtterance(
            call_id=call_id,
            at=at + timedelta(seconds=2),
            seq=2,
            text=f"answer {n}",
            language=lang,
            citations=[{"doc_key": "parking-fees", "score": 0.81}],
            latency_ms={"asr_final": 410.0, "first_audio": 1900.0},
        )
    )
    reason = "silence" if n == 1 else "caller_hangup"
    events.append(CallEnded(call_id=call_id, at=at + timedelta(seconds=65), reason=reason, language=lang))
    return events


async def _log(writer: CallLogWriter, events: list[Any]) -> None:
    for event in events:
        await writer(event)


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Calls]:
    tmp = tmp_path_factory.mktemp("calls")
    settings = Settings(_env_file=None, data_dir=tmp, login_rate="1000/minute")
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    for user, role in {"sup": "supervisor", "qa1": "qa", "root": "admin", "ag": "agent", "ed": "editor"}.items():
        create_user(sessions, username=user, password=PASSWORD, role=role)

    writer = CallLogWriter(sessions)
    ids = [str(uuid.UUID(int=n + 1)) for n in range(4)]
    for n, call_id in enumerate(ids):
        folder = tmp / "recordings" / call_id if n != 2 else None  # call 2 was not recorded
        if folder is not None:
            recorder = CallRecorder(folder, 16000)
            recorder.caller(b"\x01\x00" * 1600)
            recorder.bot(b"\x02\x00" * 800)
            recorder.close()
        asyncio.run(_log(writer, _call_events(call_id, n, folder)))
    (tmp / "recordings" / ids[3] / "bot.wav").unlink()  # a file removed since
    acd = RoutingEngine(engine=engine, clock=lambda: T0)
    acd.save_queue(queue=QueueSpec(queue_id="general_zh", language="zh"))
    acd.enqueue(call_id=ids[2], queue_id="general_zh", language="zh")  # handed off to a person

    app = create_app(settings)
    app.state.sessions = sessions
    client = TestClient(app)
    tokens = {}
    for user in ("sup", "qa1", "root", "ag", "ed"):
        r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    yield Calls(client, sessions, ids, tokens)
    engine.dispose()


def test_only_supervisors_qa_and_admins_see_calls(calls: Calls) -> None:
    c = calls.client
    assert c.get("/api/calls").status_code == 401
    for user in ("sup", "qa1", "root"):
        assert c.get("/api/calls", headers=calls.tokens[user]).status_code == 200, user
    for user in ("ag", "ed"):
        r = c.get(f"/api/calls/{calls.ids[0]}/recording/caller", headers=calls.tokens[user])
        assert r.status_code == 403 and "supervisor or qa" in r.json()["error"]["message"], user
    assert c.get("/api/calls/token").status_code == 405  # the open call-token route is not shadowed


def test_list_is_newest_first_with_filters_and_pages(calls: Calls) -> None:
    c, sup = calls.client, calls.tokens["sup"]
    page = c.get("/api/calls", headers=sup).json()
    assert page["total"] == 4 and [i["id"] for i in page["items"]] == calls.ids[::-1]
    newest = page["items"][0]
    assert newest["turns"] == 2 and newest["duration_s"] == 65.0 and newest["has_recording"] is True
    assert datetime.fromisoformat(newest["started_at"]) == T0 + timedelta(hours=3)

    def ids(**params: Any) -> list[str]:
        r = c.get("/api/calls", params=params, headers=sup)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids(language="en") == [calls.ids[3], calls.ids[1]]
    assert ids(end_reason="silence") == [calls.ids[1]]
    assert ids(handed_off="true") == [calls.ids[2]]
    assert ids(handed_off="false") == [calls.ids[3], calls.ids[1], calls.ids[0]]
    local = "+08:00"  # Shanghai time: calls 1 and 2 started at 11:00 and 12:00
    assert ids(since=f"2026-11-30T11:00:00{local}", until=f"2026-11-30T13:00:00{local}") == calls.ids[2:0:-1]
    assert ids(per_page=3, page=2) == [calls.ids[0]]
    naive = c.get("/api/calls", params={"since": "2026-11-30T11:00:00"}, headers=sup)
    assert naive.status_code == 422 and "time zone" in naive.json()["error"]["message"]


def test_detail_has_the_turns_with_their_trace(calls: Calls) -> None:
    r = calls.client.get(f"/api/calls/{calls.ids[0]}", headers=calls.tokens["qa1"])
    assert r.status_code == 200
    call = r.json()
    assert call["language"] == "zh" and call["end_reason"] == "caller_hangup" and call["handed_off"] is False
    assert [(t["seq"], t["role"], t["text"]) for t in call["turn_list"]] == [
        (1, "caller", "question 0"),
        (2, "bot", "answer 0"),
    ]
    caller, bot = call["turn_list"]
    assert caller["confidence"] == 0.9 and bot["citations"] == [{"doc_key": "parking-fees", "score": 0.81}]
    assert bot["latency_ms"] == {"asr_final": 410.0, "first_audio": 1900.0}
    assert call["recordings"] == {
        "caller": f"/api/calls/{calls.ids[0]}/recording/caller",
        "bot": f"/api/calls/{calls.ids[0]}/recording/bot",
    }
    assert calls.client.get(f"/api/calls/{calls.ids[2]}", headers=calls.tokens["qa1"]).json()["handed_off"] is True
    missing = calls.client.get(f"/api/calls/{uuid.uuid4()}", headers=calls.tokens["qa1"])
    assert missing.status_code == 404 and "GET /api/calls" in missing.json()["error"]["message"]


def test_recordings_stream_as_wav_and_every_access_is_audited(calls: Calls) -> None:
    c, qa = calls.client, calls.tokens["qa1"]
    r = c.get(f"/api/calls/{calls.ids[0]}/recording/caller", headers=qa)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(r.content), dtype="int16")
    assert rate == 16000 and len(audio) == 1600 and int(audio[0]) == 1
    bot = c.get(f"/api/calls/{calls.ids[0]}/recording/bot", headers=qa)
    audio, _ = sf.read(io.BytesIO(bot.content), dtype="int16")
    assert len(audio) == 2400 and int(audio[0]) == 0 and int(audio[-1]) == 2  # silence, then the bot on one timeline
    gone = c.get(f"/api/calls/{calls.ids[3]}/recording/bot", headers=qa)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "recording_not_found"
    assert "has no bot recording" in gone.json()["error"]["message"]
    assert c.get(f"/api/calls/{calls.ids[2]}/recording/caller", headers=qa).status_code == 404
    bad_side = c.get(f"/api/calls/{calls.ids[0]}/recording/agent", headers=qa)
    assert bad_side.status_code == 422

    with calls.sessions() as db:
        rows = list(
            db.scalars(select(AuditRecord).where(AuditRecord.action == "recording.read").order_by(AuditRecord.id))
        )
    assert [(r.username, r.role, r.status) for r in rows[-4:]] == [("qa1", "qa", 200), ("qa1", "qa", 200)] + [
        ("qa1", "qa", 404)
    ] * 2
    assert rows[-4].target == f"call={calls.ids[0]},side=caller" and rows[-4].method == "GET"
