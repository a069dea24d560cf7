"""Shared fixtures. Real parts wherever they run here: SQLite and PostgreSQL, the bundled models."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from skycall.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
MODEL_DIR = Path(os.environ.get("SKYCALL_MODEL_DIR", str(Path.home() / ".cache" / "skycall" / "models")))
PG_URL = os.environ.get("SKYCALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", model_dir=MODEL_DIR)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def model_dir() -> Iterator[Path]:
    from skycall.provisioning.store import ModelMismatchError, verify

    try:
        verify(MODEL_DIR)
    except ModelMismatchError as exc:
        pytest.fail(f"bundled models are not assembled in {MODEL_DIR}; run `skycall models fetch`:\n{exc}")
    yield MODEL_DIR
