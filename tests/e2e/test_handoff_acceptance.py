"""The acceptance test of the human handoff (issue 7), in real headless Chromium against a real
``skycall serve`` (real Whisper, Piper, Kokoro, the supervised llama.cpp, the ACD and its ticker).

A traveler calls from the softphone (a fake microphone plays a synthesised WAV): they ask something
the knowledge base cannot answer, then ask for a person. The call is queued; a supervisor's
wallboard shows it waiting while the only agent is on a break. The agent goes ready, gets the
offer, accepts, and sees the transcript, the handoff packet and the drafted ticket (a consultation
about flights, filled by the drafter's rules and the LLM). Audio is checked both ways: the desk
receives the caller's voice and the caller's page the agent's (counted in the pages), and the
server transcribes each side (caller and agent lines appear on the desk after the pick-up). The
agent hangs up and submits the ticket; read back through ``/api/tickets`` its SLA deadline is the
one ``console.ticket_calendar`` gives for the submission time and the type's working days. The
wallboard's KPIs count the call as offered and answered.

Nothing is faked; every wait is on a condition with a generous timeout (the LLM stage of the packet
takes minutes on a loaded 2-core machine). Screenshots go to ``docs/screenshots/handoff-*.png``.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from console.ticket_templates import load_catalog
from tests.conftest import REPO
from tests.e2e.conftest import Server
from tests.e2e.handoff_support import (
    PASSWORD,
    add_staff,
    kpi,
    launch,
    lines,
    new_page,
    sign_in,
    speech_wav,
    wait_js,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]

SHOTS = REPO / "docs" / "screenshots"
# live flight status is not in the sample knowledge base (tests/data/answers/unanswerable.jsonl,
# una-en-024, with a flight number the recogniser reads reliably from the bundled voice)
QUESTION = "Is flight CA 1234 on time this evening?"
ASKED = re.compile(r"flight", re.I)  # how the question is recognised on the desk
REQUEST = "I want to talk to a person, please."
AGENT_SAYS = "Hello, this is the airport service desk. Let me check your flight for you."
AGENT_HEARD = re.compile(r"service desk|check your flight", re.I)
EXPECTED_TYPE = "consultation"  # a question the bot could not answer (console/ticket_rules.py)
EXPECTED_TOPIC = "flights"  # the consultation's required topic, found by the rules in the question
EXPECTED_FLIGHT = "CA1234"  # the flight number, found by the rules in the caller's words
LOUD_FRAMES = 25  # 0.5 s of 20 ms frames with sound


def _caller_wav(model_dir: Path, tmp: Path) -> Path:
    # 7 s while the greeting plays, the question, 12 s for the bot's "I don't know, shall I put you
    # through?", the request for a person, then silence: the file loops, so after the pick-up the
    # caller says it all again, which the agent then hears
    return speech_wav(model_dir, [7.0, QUESTION, 12.0, REQUEST], tmp / "caller.wav", total_s=60.0)


def _agent_wav(model_dir: Path, tmp: Path) -> Path:
    # said once every 20 s: enough to be heard and transcribed, little load on the recogniser
    return speech_wav(model_dir, [1.0, AGENT_SAYS], tmp / "agent.wav", total_s=20.0)


def _token(server: Server, username: str) -> str:
    res = httpx.post(f"{server.base_url}/api/auth/login", json={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return str(res.json()["access_token"])


def _desk_packet_and_ticket(desk: Page) -> None:
    """The packet is complete (its LLM stage done) and the form holds the drafted ticket."""
    desk.wait_for_selector("#packet[data-complete=true]", state="attached", timeout=900_000)
    expect(desk.get_by_test_id("packet-summary-en")).not_to_be_empty()
    expect(desk.get_by_test_id("packet-summary-zh")).not_to_be_empty()
    expect(desk.get_by_test_id("ticket-type")).to_have_value(EXPECTED_TYPE)
    expect(desk.get_by_test_id("ticket-lang")).to_have_value("en")
    expect(desk.get_by_test_id("ticket-field-topic")).to_have_value(EXPECTED_TOPIC)
    expect(desk.get_by_test_id("ticket-field-flight_no")).to_have_value(EXPECTED_FLIGHT)
    expect(desk.get_by_test_id("ticket-title")).not_to_have_value("")
    expect(desk.get_by_test_id("ticket-description")).to_have_value(re.compile(r"Caller: .*flight", re.I | re.S))


def test_caller_asks_for_a_person_and_an_agent_takes_the_call(server: Server, model_dir: Path, tmp_path: Path) -> None:
    caller_mic, agent_mic = _caller_wav(model_dir, tmp_path), _agent_wav(model_dir, tmp_path)
    suffix = secrets.token_hex(3)
    agent, boss = f"agent_{suffix}", f"super_{suffix}"
    add_staff(server, agent, "agent")
    add_staff(server, boss, "supervisor")
    catalog = load_catalog()
    errors: list[str] = []

    with sync_playwright() as p:
        staff_browser, caller_browser = launch(p, agent_mic), launch(p, caller_mic)
        try:
            # -- the supervisor watches; the agent is signed in but on a break ---------------------
            _, board = new_page(staff_browser, errors)
            sign_in(board, server.base_url, boss, "wallboard")
            expect(board.get_by_test_id("wallboard-live")).to_have_attribute("data-live", "true", timeout=30_000)
            offered0, answered0 = kpi(board, "kpi-offered"), kpi(board, "kpi-answered")
            expect(board.locator("[data-testid=kpi-waiting] .value")).to_have_text("0")

            _, desk = new_page(staff_browser, errors)
            sign_in(desk, server.base_url, agent, "desk")
            state = desk.get_by_test_id("agent-state")
            expect(desk.get_by_test_id("desk-live")).to_have_attribute("data-live", "true", timeout=30_000)
            desk.get_by_test_id("not-ready-reason").select_option("break")
            desk.get_by_test_id("go-not-ready").click()
            expect(state).to_have_attribute("data-state", "not_ready")
            agent_row = board.locator(f"[data-testid=agent-row][data-agent={agent}]")
            expect(agent_row).to_have_attribute("data-state", "not_ready", timeout=30_000)

            # -- the caller: a question the bot cannot answer, then "a person, please" -------------
            _, phone = new_page(caller_browser, errors)
            phone.goto(server.base_url)
            phone.click("#call")
            phone.wait_for_selector("body[data-call-id]", state="attached", timeout=60_000)
            call_id = str(phone.evaluate("document.body.dataset.callId"))
            phone.wait_for_selector("#botstate[data-state=handing_off]", timeout=300_000)
            queue = str(wait_js(phone, "document.body.dataset.handoffQueue", timeout_s=30))
            said = phone.locator("#transcript li.caller[data-final=true] span").all_inner_texts()
            assert any(ASKED.search(s) for s in said), said
            assert any(re.search(r"\bperson\b", s, re.I) for s in said), said

            # -- the wallboard sees the caller waiting --------------------------------------------
            tile = board.locator(f"[data-testid=queue-tile][data-queue={queue}]")
            expect(tile.get_by_test_id("queue-waiting")).to_have_text("1", timeout=60_000)
            expect(board.locator("[data-testid=kpi-waiting] .value")).to_have_text("1")

            # -- the agent goes ready: the offer, with the transcript so far; accept ----------------
            desk.get_by_test_id("go-ready").click()
            offer = desk.get_by_test_id("offer-card")
            expect(offer).to_be_visible(timeout=60_000)
            assert desk.evaluate("document.body.dataset.callId") == call_id
            expect(desk.get_by_test_id("offer-summary")).not_to_be_empty()
            assert any(ASKED.search(s) for s in lines(desk, "caller")), lines(desk, "caller")
            callers_before = len(lines(desk, "caller"))
            desk.get_by_test_id("accept-call").click()
            expect(offer).to_be_hidden()
            expect(state).to_have_attribute("data-state", "on_call")
            expect(desk.get_by_test_id("call-bar")).to_be_visible()
            expect(desk.get_by_test_id("audio-status")).to_have_attribute("data-state", "live", timeout=30_000)
            expect(tile.get_by_test_id("queue-waiting")).to_have_text("0", timeout=30_000)
            expect(agent_row).to_have_attribute("data-state", "on_call", timeout=30_000)

            # -- audio both ways ------------------------------------------------------------------
            phone.wait_for_selector("body[data-agent=connected]", state="attached", timeout=60_000)
            wait_js(desk, f"window.__deskAudio && window.__deskAudio.loudOut >= {LOUD_FRAMES}", timeout_s=60)
            # the caller's page plays the agent's voice
            wait_js(phone, f"window.__softphone.agentLoud >= {LOUD_FRAMES}", timeout_s=120)
            # the agent's desk plays the caller's voice (the caller's file comes round within a minute)
            wait_js(desk, f"window.__deskAudio.loudIn >= {LOUD_FRAMES}", timeout_s=180)
            # and the server heard both sides: the agent's words and the caller's, on the desk
            wait_js(
                desk,
                """(re) => [...document.querySelectorAll('#transcript li.agent[data-final=true] span')]
                    .some((s) => new RegExp(re, 'i').test(s.textContent))""",
                arg=AGENT_HEARD.pattern,
                timeout_s=240,
            )
            wait_js(
                desk,
                "(n) => document.querySelectorAll('#transcript li.caller[data-final=true]').length > n",
                arg=callers_before,
                timeout_s=240,
            )

            desk.get_by_test_id("mute").click()  # the agent reads the packet; fewer words to transcribe
            expect(desk.get_by_test_id("audio-status")).to_have_attribute("data-state", "muted")

            # -- the packet's LLM stage and the drafted ticket -------------------------------------
            _desk_packet_and_ticket(desk)
            SHOTS.mkdir(parents=True, exist_ok=True)
            desk.screenshot(path=str(SHOTS / "handoff-desk.png"), full_page=True)

            # -- hang up, submit the ticket -------------------------------------------------------
            desk.get_by_test_id("hangup").click()
            expect(state).to_have_attribute("data-state", "wrap_up", timeout=30_000)
            expect(agent_row).to_have_attribute("data-state", "wrap_up", timeout=20_000)  # 30 s of it
            phone.wait_for_selector("#status[data-state=idle]", timeout=60_000)
            assert phone.evaluate("document.body.dataset.endReason") == "agent_hangup"
            clicked = datetime.now(UTC)
            desk.get_by_test_id("ticket-submit").click()
            expect(desk.get_by_test_id("ticket-number")).to_contain_text("submitted", timeout=30_000)
            number = desk.get_by_test_id("ticket-number").inner_text().split("·")[0].strip()

            # -- the wallboard counts the call -----------------------------------------------------
            wait_js(
                board,
                """([o, a]) => {
                    const v = (id) => Number(document.querySelector(`[data-testid=${id}] .value`).textContent);
                    return v('kpi-offered') > o && v('kpi-answered') > a;
                }""",
                arg=[offered0, answered0],
                timeout_s=60,
            )
            board.screenshot(path=str(SHOTS / "handoff-wallboard.png"), full_page=True)
        finally:
            caller_browser.close()
            staff_browser.close()
    assert errors == []

    # -- the ticket, read back ----------------------------------------------------------------------
    auth = {"Authorization": f"Bearer {_token(server, agent)}"}
    mine = {"type": EXPECTED_TYPE, "status": "submitted"}
    listed = httpx.get(f"{server.base_url}/api/tickets", params=mine, headers=auth).json()
    summary = next(t for t in listed["items"] if t["number"] == number)
    ticket = httpx.get(f"{server.base_url}/api/tickets/{number}", headers=auth).json()
    assert ticket["status"] == "submitted" and ticket["created_by"] == agent
    assert ticket["type"] == EXPECTED_TYPE and ticket["call_id"] == call_id and ticket["language"] == "en"
    assert ticket["fields"]["topic"] == EXPECTED_TOPIC and ticket["fields"]["flight_no"] == EXPECTED_FLIGHT
    submitted = datetime.fromisoformat(ticket["submitted_at"])
    assert abs(submitted - clicked) < timedelta(seconds=60)
    days = catalog.template(EXPECTED_TYPE).sla_working_days
    assert days == 5
    expected = catalog.working_calendar().deadline(submitted, days)
    assert datetime.fromisoformat(ticket["sla_deadline"]) == expected
    assert datetime.fromisoformat(summary["sla_deadline"]) == expected
    assert ticket["overdue"] is False
