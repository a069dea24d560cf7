"""Routing fixtures: a manual clock and migrated databases on SQLite (file, WAL) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from skycall.storage import create_engine_for, migrate

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'acd.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    """A migrated database, on SQLite and on PostgreSQL."""
    engine = create_engine_for(db_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(sqlite_url(tmp_path))
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
