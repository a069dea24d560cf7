"""The agent desk over a real server: real SQLite, the real RoutingEngine and its ticker, the real
event bus and desk hub. Calls are enqueued directly through the engine (as the voice session
does); the agent's socket gets the offer with the stored packet, the live transcript and refreshed
suggestions; accept, hang up, wrap-up, decline (the call goes back), transfer, callback, the
supervisor's skill edits and watching, roles and socket sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from console.handoff_packet import PacketStore
from rag.retriever import Passage
from routing.tables import QueuedCallRecord
from skycall.events import BotUtterance, CallEnded, CallerUtterance, HandoffPacketReady, TranscriptPartial
from skycall.routing_setup import RoutingDefaultsError, load_routing_defaults, sync_agents
from tests.conftest import REPO
from tests.console_live import LiveConsole, live_console, receive, seeded_database, wait_until

STAFF = {"ag1": "agent", "ag2": "agent", "sup": "supervisor", "ed": "editor", "adm": "admin"}
PACKET = {
    "call_id": "c-1",
    "language": "zh",
    "summary": {"zh": "旅客在T2丢失黑色背包。", "en": "The caller lost a black backpack in T2."},
    "decision": {"reasons": ["explicit_request"], "explanation": "要求人工"},
    "ticket": {"type": "lost_property", "title": "黑色背包遗失", "fields": {"item": "黑色背包"}},
}


class FakeRetriever:
    """The retrieval the suggestions use (``console.assist.PassageSource``): two fixed passages."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    def retrieve(
        self, question: str, *, language: str | None, k: int, categories: list[str] | None = None
    ) -> list[Any]:
        self.questions.append(question)
        return [
            Passage(
                text="失物招领在哪里\n失物招领处位于T2到达层。",
                doc_key="faq-lost",
                title="失物招领",
                kind="faq",
                lang="zh",
                score=0.9,
            ),
            Passage(
                text="行李\n托运行李限额23公斤。",
                doc_key="doc-bag",
                title="行李规定",
                kind="document",
                lang="zh",
                score=0.5,
            ),
        ]


class FakeCallSession:
    """What the desk uses of ``voicebot.session.CallSession``: ``agent_hang_up``."""

    def __init__(self) -> None:
        self.hung_up = 0

    async def agent_hang_up(self) -> None:
        self.hung_up += 1


def _prepare(app: FastAPI) -> None:
    app.state.handoff_packets = PacketStore(app.state.sessions)
    app.state.retriever = FakeRetriever()


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_database(tmp_path_factory.mktemp("desk-seed"), STAFF)


@pytest.fixture
def live(tmp_path: Path, seed: Path) -> Iterator[LiveConsole]:
    with live_console(tmp_path, seed=seed, prepare=_prepare) as console:
        yield console


def state_is(state: str) -> Any:
    return lambda m: m["type"] == "state" and m["state"] == state


def _call(live: LiveConsole, call_id: str) -> QueuedCallRecord:
    with live.routing.sessions() as db:
        return db.get_one(QueuedCallRecord, call_id)


def test_offer_accept_transcript_suggestions_hang_up_and_wrap_up(live: LiveConsole) -> None:
    live.app.state.handoff_packets.save("c-1", PACKET, complete=False, build_ms=12.0)
    session = FakeCallSession()
    live.app.state.active_calls["c-1"] = session
    with live.socket("/ws/desk", "ag1") as ws:
        first = receive(ws, lambda m: m["type"] == "state")
        assert first["state"] == "offline" and first["agent_id"] == "ag1"
        ready = live.request("POST", "/api/desk/state", "ag1", json={"action": "ready"})
        assert ready.status_code == 200 and ready.json()["state"] == "available", ready.text
        receive(ws, state_is("available"))

        live.routing.engine.enqueue(call_id="c-1", queue_id="general", language="zh")
        offer = receive(ws, lambda m: m["type"] == "offer")
        assert offer["call_id"] == "c-1" and offer["queue_id"] == "general" and offer["ringing"] is True
        assert offer["waited_s"] >= 0 and offer["packet"]["summary"]["en"].startswith("The caller lost")
        assert offer["packet"]["ticket"]["type"] == "lost_property"
        me = live.request("GET", "/api/desk/me", "ag1").json()
        assert me["agent"]["state"] == "reserved" and me["call"]["call_id"] == "c-1" and me["call"]["ringing"]

        live.publish(HandoffPacketReady(call_id="c-1", packet={**PACKET, "complete": True}))
        assert receive(ws, lambda m: m["type"] == "packet")["packet"]["complete"] is True

        accepted = live.request("POST", "/api/desk/calls/c-1/accept", "ag1")
        assert accepted.status_code == 200 and accepted.json()["state"] == "connected", accepted.text
        receive(ws, state_is("on_call"))
        assert _call(live, "c-1").status == "assigned"

        live.publish(TranscriptPartial(call_id="c-1", role="caller", text="我的背包"))
        partial = receive(ws, lambda m: m["type"] == "transcript")
        assert (partial["role"], partial["final"], partial["text"]) == ("caller", False, "我的背包")
        live.publish(
            CallerUtterance(call_id="c-1", seq=3, text="我的背包丢了，失物招领在哪里？", language="zh", confidence=0.9)
        )
        line = receive(ws, lambda m: m["type"] == "transcript")
        assert (line["role"], line["final"]) == ("caller", True) and "失物招领" in line["text"]
        suggestions = receive(ws, lambda m: m["type"] == "suggestions")
        assert suggestions["question"] == "我的背包丢了，失物招领在哪里？"
        assert [s["doc_key"] for s in suggestions["items"]] == ["faq-lost", "doc-bag"]
        assert suggestions["items"][0]["answer"] == "失物招领处位于T2到达层。"
        live.publish(BotUtterance(call_id="c-other", seq=1, text="not this call", language="en"))
        live.publish(BotUtterance(call_id="c-1", seq=4, text="请稍等", language="zh"))
        bot = receive(ws, lambda m: m["type"] == "transcript")  # the other call's line never came
        assert (bot["call_id"], bot["role"], bot["text"]) == ("c-1", "bot", "请稍等")

        hung = live.request("POST", "/api/desk/calls/c-1/hangup", "ag1")
        assert hung.status_code == 200 and hung.json()["agent"]["state"] == "wrap_up", hung.text
        assert hung.json()["caller_line_closed"] is True and session.hung_up == 1
        ended = receive(ws, lambda m: m["type"] == "call_ended")
        assert ended["call_id"] == "c-1" and ended["reason"] == "ended"
        assert _call(live, "c-1").status == "completed"

        done = live.request("POST", "/api/desk/state", "ag1", json={"action": "finish_wrap_up"})
        assert done.status_code == 200 and done.json()["state"] == "available"
        assert done.json()["calls_handled"] == 1
        receive(ws, state_is("available"))


def test_decline_puts_the_call_back_in_line(live: LiveConsole) -> None:
    with live.socket("/ws/desk", "ag2") as ws:
        receive(ws, lambda m: m["type"] == "state")
        live.request("POST", "/api/desk/state", "ag2", json={"action": "ready"})
        live.routing.engine.enqueue(call_id="c-2", queue_id="baggage", language="en")
        assert receive(ws, lambda m: m["type"] == "offer")["call_id"] == "c-2"
        declined = live.request("POST", "/api/desk/calls/c-2/decline", "ag2")
        assert declined.status_code == 200 and declined.json()["agent"]["state"] == "not_ready", declined.text
        assert declined.json()["agent"]["reason"] == "ring_no_answer"
        assert receive(ws, lambda m: m["type"] == "call_ended")["reason"] == "ring_no_answer"
        call = _call(live, "c-2")
        assert call.status == "waiting" and call.missed_by == ["ag2"] and call.agent_id is None
        # ready again: the same call, which kept its place, is offered again
        live.request("POST", "/api/desk/state", "ag2", json={"action": "ready"})
        again = receive(ws, lambda m: m["type"] == "offer")
        assert again["call_id"] == "c-2"
        # the caller hangs up while it rings: the offer is withdrawn, the agent is free
        live.publish(CallEnded(call_id="c-2", reason="caller_hung_up"))
        assert receive(ws, lambda m: m["type"] == "call_ended")["reason"] == "caller_hung_up"
        wait_until(lambda: _call(live, "c-2").status == "abandoned", what="the call is abandoned")
        receive(ws, state_is("available"))


def test_transfer_requeues_the_call_and_the_next_agent_gets_it(live: LiveConsole) -> None:
    with live.socket("/ws/desk", "ag1") as ws1, live.socket("/ws/desk", "ag2") as ws2:
        receive(ws1, lambda m: m["type"] == "state")
        receive(ws2, lambda m: m["type"] == "state")
        live.request("POST", "/api/desk/state", "ag1", json={"action": "ready"})
        live.routing.engine.enqueue(call_id="c-3", queue_id="general", red_list=True, caller_level=20, language="zh")
        receive(ws1, lambda m: m["type"] == "offer")
        assert live.request("POST", "/api/desk/calls/c-3/accept", "ag1").status_code == 200
        live.publish(CallerUtterance(call_id="c-3", seq=1, text="我要投诉", language="zh", confidence=0.9))
        receive(ws1, lambda m: m["type"] == "transcript")

        unknown = live.request("POST", "/api/desk/calls/c-3/transfer", "ag1", json={"queue_id": "catering"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_queue"
        moved = live.request("POST", "/api/desk/calls/c-3/transfer", "ag1", json={"queue_id": "complaints"})
        assert moved.status_code == 200 and moved.json()["queue_id"] == "complaints", moved.text
        receive(ws1, state_is("wrap_up"))
        assert _call(live, "c-3").status == "completed"

        live.request("POST", "/api/desk/state", "ag2", json={"action": "ready"})
        offer = receive(ws2, lambda m: m["type"] == "offer")
        assert offer["call_id"] == "c-3" and offer["queue_id"] == "complaints"  # the voice call's id
        assert [line["text"] for line in offer["history"]] == ["我要投诉"]  # the transcript so far follows
        assert live.routing.agent_for_call("c-3") == "ag2"
        with live.routing.sessions() as db:
            leg = db.scalars(select(QueuedCallRecord).where(QueuedCallRecord.agent_id == "ag2")).one()
        assert leg.id != "c-3" and leg.queue_id == "complaints" and leg.priority == 120  # red list + level kept
        assert live.request("POST", "/api/desk/calls/c-3/accept", "ag2").status_code == 200
        live.publish(CallEnded(call_id="c-3", reason="caller_hung_up"))
        receive(ws2, state_is("wrap_up"))  # the caller's hang-up ends the agent's leg
        wait_until(lambda: _call(live, leg.id).status == "completed", what="the leg completes")


def test_callback_is_scheduled_and_a_bad_number_refused(live: LiveConsole) -> None:
    with live.socket("/ws/desk", "ag1") as ws:
        receive(ws, lambda m: m["type"] == "state")
        live.request("POST", "/api/desk/state", "ag1", json={"action": "ready"})
        live.routing.engine.enqueue(call_id="c-4", queue_id="lost_property", language="zh")
        receive(ws, lambda m: m["type"] == "offer")
        live.request("POST", "/api/desk/calls/c-4/accept", "ag1")
        bad = live.request("POST", "/api/desk/calls/c-4/callback", "ag1", json={"number": "call me"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_caller_number"
        assert "call me" not in bad.text
        ok = live.request("POST", "/api/desk/calls/c-4/callback", "ag1", json={"number": "+86 138 0013 8000"})
        assert ok.status_code == 200 and ok.json()["state"] == "callback_scheduled", ok.text
        receive(ws, state_is("wrap_up"))
        with live.routing.sessions() as db:
            leg = db.scalars(select(QueuedCallRecord).where(QueuedCallRecord.status == "callback")).one()
        assert leg.queue_id == "lost_property" and leg.callback_number == "+8613800138000"
        live.publish(CallEnded(call_id="c-4", reason="agent_hung_up"))
        live.request("POST", "/api/desk/state", "ag1", json={"action": "finish_wrap_up"})
        offer = receive(ws, lambda m: m["type"] == "offer")  # the callback comes back to an agent
        assert offer["call_id"] == "c-4" and offer["callback"] is True
        dial = live.request("POST", "/api/desk/calls/c-4/accept", "ag1").json()
        assert dial["callback_number"] == "+8613800138000"


def test_refusals_are_clear_json(live: LiveConsole) -> None:
    assert live.request("GET", "/api/desk/me").status_code == 401
    for path in ("/api/desk/me", "/api/desk/agents"):
        assert live.request("GET", path, "ed").status_code == 403
    no_reason = live.request("POST", "/api/desk/state", "ag1", json={"action": "not_ready"})
    assert no_reason.status_code == 422 and "break" in no_reason.json()["error"]["message"]
    bad_reason = live.request(
        "POST", "/api/desk/state", "ag1", json={"action": "not_ready", "reason": "ring_no_answer"}
    )
    assert bad_reason.status_code == 422
    paused = live.request("POST", "/api/desk/state", "ag1", json={"action": "not_ready", "reason": "lunch"})
    assert paused.status_code == 200 and (paused.json()["state"], paused.json()["reason"]) == ("not_ready", "lunch")
    wrong = live.request("POST", "/api/desk/state", "ag1", json={"action": "finish_wrap_up"})
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "wrong_state"
    assert "not_ready" in wrong.json()["error"]["message"]
    stray = live.request("POST", "/api/desk/calls/nope/accept", "ag1")
    assert stray.status_code == 409 and stray.json()["error"]["code"] == "not_your_call"
    admin = live.request("POST", "/api/desk/state", "adm", json={"action": "ready"})
    assert admin.status_code == 409 and "admins do not take calls" in admin.json()["error"]["message"]
    assert live.request("GET", "/api/desk/me", "adm").json()["agent"] is None
    assert "Traceback" not in stray.text + wrong.text


def test_supervisors_edit_skills_and_languages(live: LiveConsole) -> None:
    agents = {a["agent_id"]: a for a in live.request("GET", "/api/desk/agents", "sup").json()}
    assert set(agents) == {"ag1", "ag2", "sup"}  # agents and supervisors, not the editor or the admin
    assert agents["ag1"]["languages"] == ["en", "zh"] and agents["ag1"]["skills"]["emergency"] == 3
    assert live.request("PUT", "/api/desk/agents/ag1", "ag2", json={"languages": ["en"]}).status_code == 403
    bad = live.request("PUT", "/api/desk/agents/ag1", "sup", json={"skills": {"baggage": 9}})
    assert bad.status_code == 422
    edited = live.request("PUT", "/api/desk/agents/ag1", "sup", json={"languages": ["en"], "skills": {"baggage": 5}})
    assert (
        edited.status_code == 200 and edited.json()["languages"] == ["en"] and edited.json()["skills"] == {"baggage": 5}
    )
    assert live.request("PUT", "/api/desk/agents/ghost", "sup", json={"name": "x"}).status_code == 404
    live.request("POST", "/api/desk/state", "ag1", json={"action": "ready"})
    live.routing.engine.enqueue(call_id="c-zh", queue_id="baggage", language="zh")
    live.routing.engine.enqueue(call_id="c-en", queue_id="general", language="en")
    wait_until(lambda: _call(live, "c-en").status == "offered", what="the English call is offered")
    assert _call(live, "c-en").agent_id == "ag1" and _call(live, "c-zh").status == "waiting"


def test_supervisor_watches_a_call_and_agents_may_not(live: LiveConsole) -> None:
    with live.socket("/ws/desk", "sup") as sup, live.socket("/ws/desk", "ag1") as agent:
        receive(sup, lambda m: m["type"] == "state")
        receive(agent, lambda m: m["type"] == "state")
        sup.send('{"type": "watch", "call_id": "c-9"}')
        watching = receive(sup, lambda m: m["type"] == "watching")
        assert watching["call_id"] == "c-9" and watching["history"] == [] and watching["agent_id"] is None
        live.publish(BotUtterance(call_id="c-9", seq=1, text="您好", language="zh"))
        live.publish(CallerUtterance(call_id="c-9", seq=2, text="航班延误了吗", language="zh", confidence=0.8))
        assert receive(sup, lambda m: m["type"] == "transcript")["text"] == "您好"
        assert receive(sup, lambda m: m["type"] == "transcript")["text"] == "航班延误了吗"
        sup.send('{"type": "watch", "call_id": "c-9"}')  # watching again: the lines so far come with it
        history = receive(sup, lambda m: m["type"] == "watching")["history"]
        assert [(h["role"], h["text"]) for h in history] == [("bot", "您好"), ("caller", "航班延误了吗")]
        agent.send('{"type": "watch", "call_id": "c-9"}')
        assert receive(agent, lambda m: m["type"] == "error")["code"] == "forbidden"
        agent.send("not json")
        assert receive(agent, lambda m: m["type"] == "error")["code"] == "bad_message"


@pytest.mark.parametrize(("user", "token", "code"), [("ed", None, 4403), (None, "not-a-token", 4401)])
def test_desk_socket_sign_in(live: LiveConsole, user: str | None, token: str | None, code: int) -> None:
    with live.socket("/ws/desk", user, token=token) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


def test_default_queues_match_the_handoff_rules_and_agents_follow_roles(live: LiveConsole, tmp_path: Path) -> None:
    rules = yaml.safe_load((REPO / "voicebot" / "handoff_rules.yaml").read_text(encoding="utf-8"))
    queues = {q.queue_id: q for q in live.routing.queues()}
    for topic in rules["topics"].values():
        assert topic["queue"] in queues, f"the handoff policy names queue {topic['queue']!r}"
        assert dict(queues[topic["queue"]].required_skills) == topic["skills"]
    assert {"vip", "emergency", "general", "complaints"} <= set(queues)
    assert all(q.hours is None for q in queues.values())  # always open by default
    assert " · " in queues["general"].name  # bilingual: 综合咨询 · General enquiries
    # idempotent: nothing new for accounts that already have an agent
    assert sync_agents(live.routing.engine, load_routing_defaults(), live.routing.sessions) == 0
    bad = tmp_path / "queues.yaml"
    bad.write_text("queues:\n  - {id: general, name: {zh: 综合, en: General}, language: zh, skills: {x: 9}}\n")
    with pytest.raises(RoutingDefaultsError, match=r"queues\.0\.skills\.x"):
        load_routing_defaults(bad)
