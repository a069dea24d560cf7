"""`skycall kb …` end to end in subprocesses, on a temporary data folder with the real models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.vectorstore import VectorStore

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"


def _kb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from skycall.cli import main; main()", "kb", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_import_search_retire_export_and_errors(tmp_path: Path, model_dir: Path) -> None:
    folder = tmp_path / "kb" / "en"
    folder.mkdir(parents=True)
    for name in ("parking-fees", "pets", "lost-property"):
        shutil.copy(SAMPLE / "en" / f"{name}.md", folder / f"{name}.md")
    env = {
        **os.environ,
        "SKYCALL_DATA_DIR": str(tmp_path / "data"),
        "SKYCALL_MODEL_DIR": str(model_dir),
        "COLUMNS": "200",
    }

    imported = _kb(env, "import", str(tmp_path / "kb"))
    assert imported.returncode == 0, imported.stderr
    assert "3 items: 3 new, 0 changed, 0 unchanged" in imported.stdout
    assert "3 items: 0 new, 0 changed, 3 unchanged" in _kb(env, "import", str(tmp_path / "kb")).stdout

    found = _kb(env, "search", "Can I bring my dog on the plane?", "-k", "3")
    assert found.returncode == 0 and found.stdout.count("pets") >= 1
    assert "fused" in found.stdout and "keyword (rank)" in found.stdout

    assert _kb(env, "retire", "pets").returncode == 0
    gone = _kb(env, "search", "Can I bring my dog on the plane?", "-k", "3")
    assert "pets" not in gone.stdout

    missing = _kb(env, "show", "no-such-doc")
    assert missing.returncode == 1 and "no document 'no-such-doc'" in missing.stderr

    export = tmp_path / "export.jsonl"
    assert _kb(env, "export", str(export)).returncode == 0
    rows = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert {r["id"]: r["status"] for r in rows} == {
        "lost-property": "published",
        "parking-fees": "published",
        "pets": "retired",
    }

    # the embedded index can be opened by one process only: the CLI says so instead of crashing
    holder = VectorStore(path=tmp_path / "data" / "qdrant", dim=384)
    try:
        locked = _kb(env, "list")
    finally:
        holder.close()
    assert locked.returncode == 2 and "in use by a running skycall server" in locked.stderr
