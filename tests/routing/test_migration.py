"""Migrations 0002 and 0003 on SQLite and PostgreSQL: up, down to 0001, up again, and no drift from the models."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect

from skycall.storage import create_engine_for, migrate
from skycall.storage.engine import alembic_config

ROUTING_TABLES = {"queues", "agents", "queued_calls", "agent_transitions", "caller_lists"}


def test_routing_migration_round_trips(db_url: str) -> None:
    engine: Engine = create_engine_for(db_url)
    try:
        migrate(engine)
        assert ROUTING_TABLES <= set(inspect(engine).get_table_names())
        indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("queued_calls")}
        assert indexes["uq_queued_calls_live_agent"]["unique"]
        assert "ix_queued_calls_caller_hash" in indexes
        command.downgrade(alembic_config(engine), "0002")  # 0003 down: caller lists and hashes go
        assert "caller_lists" not in inspect(engine).get_table_names()
        assert "caller_hash" not in {c["name"] for c in inspect(engine).get_columns("queued_calls")}
        migrate(engine)
        command.downgrade(alembic_config(engine), "0001")
        assert not ROUTING_TABLES & set(inspect(engine).get_table_names())
        assert {"calls", "turns", "kb_documents"} <= set(inspect(engine).get_table_names())
        migrate(engine)
        command.check(alembic_config(engine))  # raises if routing/tables.py and the migration disagree
    finally:
        engine.dispose()
