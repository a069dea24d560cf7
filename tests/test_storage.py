"""Migrations and a round trip on SQLite (file, WAL) and on the PostgreSQL server of this machine."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import Engine, inspect, select, text

from skycall.storage import create_engine_for, migrate, session_factory
from voicebot.tables import CallRecord, TurnRecord

TABLES = {"alembic_version", "calls", "turns", "kb_documents"}


def _round_trip(engine: Engine) -> None:
    migrate(engine)
    migrate(engine)  # idempotent
    assert TABLES <= set(inspect(engine).get_table_names())
    sessions = session_factory(engine)
    call_id = str(uuid.uuid4())
    with sessions() as db:
        db.add(CallRecord(id=call_id, channel="browser", language="zh"))
        db.add(
            TurnRecord(
                call_id=call_id,
                seq=1,
                role="caller",
                language="zh",
                text="充电宝能带上飞机吗？",
                latency_ms={"asr_final": 412.5},
                citations=[{"doc_key": "baggage-power-banks"}],
            )
        )
        db.commit()
    with sessions() as db:
        call = db.get(CallRecord, call_id)
        assert call is not None and call.language == "zh"
        turn = db.scalars(select(TurnRecord).where(TurnRecord.call_id == call_id)).one()
        assert turn.text == "充电宝能带上飞机吗？"
        assert turn.latency_ms == {"asr_final": 412.5}
        assert turn.citations[0]["doc_key"] == "baggage-power-banks"
        db.delete(call)
        db.commit()
    with sessions() as db:  # ON DELETE CASCADE holds on both engines
        assert db.scalars(select(TurnRecord).where(TurnRecord.call_id == call_id)).all() == []


def test_sqlite_file_uses_wal_and_round_trips(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'sub' / 'skycall.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    _round_trip(engine)
    assert (tmp_path / "sub" / "skycall.db").exists()


def test_postgresql_migrations_and_round_trip(pg_engine: Engine) -> None:
    assert pg_engine.dialect.name == "postgresql"
    _round_trip(pg_engine)
