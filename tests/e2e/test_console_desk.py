"""The agent desk and the supervisor wallboard in a real browser (headless Chromium) against a real
uvicorn server with call routing running (the real RoutingEngine and ticker on SQLite, the real
event bus and desk hub; no speech models). An agent signs in on the login page, goes ready; a call
with a stored handoff packet is enqueued through the engine; the offer appears, the agent accepts;
a caller utterance published on the bus shows in the transcript; the ticket form shows the drafted
ticket type. A supervisor's wallboard shows the waiting count change. Screenshots of both pages are
saved to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright

from console.handoff_packet import PacketStore
from skycall.events import BotUtterance, CallerUtterance
from tests.conftest import REPO
from tests.console_live import PASSWORD, LiveConsole, live_console, seeded_database

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "docs" / "screenshots"
STAFF = {"agent1": "agent", "super1": "supervisor"}
PACKET = {
    "call_id": "e2e-1",
    "language": "zh",
    "summary": {
        "zh": "旅客在T2安检口遗失黑色双肩包，希望找回。",
        "en": "The caller lost a black backpack at T2 security.",
    },
    "decision": {"reasons": ["explicit_request"], "explanation": "来电者要求人工服务"},
    "intent": {"ticket_type": "lost_property", "name": {"zh": "失物", "en": "Lost property"}},
    "caller": {"number": "138****8000", "history": {"previous_calls": 2, "tickets": 1}},
    "citations": [{"doc_key": "lost-property", "title": "失物招领"}],
    "suggestions": [
        {
            "doc_key": "lost-property",
            "title": "失物招领",
            "answer": "失物招领处位于T2航站楼到达层，每天8:00至22:00开放，可凭有效证件认领。",
            "spoken": "失物招领处在T2到达层。",
        }
    ],
    "ticket": {
        "type": "lost_property",
        "title": "黑色双肩包遗失",
        "description": "旅客在T2安检口遗失黑色双肩包。",
        "language": "zh",
        "caller_phone": "13800138000",
        "fields": {"item": "黑色双肩包", "place": "t2"},
        "missing": ["lost_on"],
    },
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    seed = seeded_database(tmp_path_factory.mktemp("desk-e2e-seed"), STAFF)

    def prepare(app: FastAPI) -> None:
        app.state.handoff_packets = PacketStore(app.state.sessions)

    with live_console(tmp_path_factory.mktemp("desk-e2e"), seed=seed, prepare=prepare) as console:
        yield console


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(browser: Browser, live: LiveConsole, user: str, lands_on: str) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live.base}/console/login")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**/console/{lands_on}")
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    return page, errors


def test_agent_takes_a_call_and_the_wallboard_follows_the_queue(browser: Browser, live: LiveConsole) -> None:
    desk, desk_errors = sign_in(browser, live, "agent1", "desk")
    state = desk.get_by_test_id("agent-state")
    expect(state).to_have_attribute("data-state", "offline")
    desk.get_by_test_id("go-ready").click()
    expect(state).to_have_attribute("data-state", "available")

    live.app.state.handoff_packets.save("e2e-1", PACKET, complete=True, build_ms=40.0)
    live.publish(BotUtterance(call_id="e2e-1", seq=1, text="我这就为您转接人工客服。", language="zh"))
    live.routing.engine.enqueue(call_id="e2e-1", queue_id="lost_property", language="zh")
    offer = desk.get_by_test_id("offer-card")
    expect(offer).to_be_visible(timeout=10_000)
    expect(desk.get_by_test_id("offer-summary")).to_contain_text("黑色双肩包")
    expect(state).to_have_attribute("data-state", "reserved")
    expect(desk.get_by_test_id("packet-summary-en")).to_contain_text("black backpack")
    expect(desk.get_by_test_id("suggestion")).to_contain_text("T2航站楼到达层")
    expect(desk.get_by_test_id("ticket-type")).to_have_value("lost_property")
    expect(desk.get_by_test_id("ticket-field-item")).to_have_value("黑色双肩包")
    expect(desk.get_by_test_id("ticket-title")).to_have_value("黑色双肩包遗失")

    desk.get_by_test_id("accept-call").click()
    expect(offer).to_be_hidden()
    expect(desk.get_by_test_id("call-bar")).to_be_visible()
    expect(state).to_have_attribute("data-state", "on_call")
    live.publish(
        CallerUtterance(call_id="e2e-1", seq=2, text="我的黑色背包落在安检口了", language="zh", confidence=0.9)
    )
    transcript = desk.get_by_test_id("transcript")
    expect(transcript.locator("li.caller")).to_contain_text("我的黑色背包落在安检口了")
    expect(transcript.locator("li.bot")).to_contain_text("转接人工客服")  # the line before the offer came with it

    board, board_errors = sign_in(browser, live, "super1", "wallboard")
    tile = board.locator("[data-testid=queue-tile][data-queue=complaints]")
    expect(tile.get_by_test_id("queue-waiting")).to_have_text("0")
    live.routing.engine.enqueue(call_id="e2e-2", queue_id="complaints", language="zh")  # the only agent is busy
    expect(tile.get_by_test_id("queue-waiting")).to_have_text("1", timeout=10_000)
    expect(board.get_by_test_id("kpi-waiting")).to_contain_text("1")
    expect(board.locator("[data-testid=agent-row][data-agent=agent1]")).to_have_attribute("data-state", "on_call")
    assert board.locator("#chart-hourly [data-testid=chart-bar]").count() == 24

    SHOTS.mkdir(parents=True, exist_ok=True)
    desk.screenshot(path=str(SHOTS / "desk.png"), full_page=True)
    board.screenshot(path=str(SHOTS / "wallboard.png"), full_page=True)

    desk.get_by_test_id("hangup").click()
    expect(state).to_have_attribute("data-state", "wrap_up")
    desk.get_by_test_id("ticket-submit").click()  # the required date is still missing: the server says so
    expect(desk.get_by_test_id("ticket-message")).to_have_attribute("data-kind", "error")
    desk.get_by_test_id("ticket-field-lost_on").fill("2026-12-01")
    desk.get_by_test_id("ticket-field-contact_phone").fill("13800138000")
    desk.get_by_test_id("ticket-submit").click()
    expect(desk.get_by_test_id("ticket-number")).to_contain_text("submitted")
    assert desk_errors == [] and board_errors == []
