"""Tickets on the real PostgreSQL server (and SQLite): migration 0008 matches the models and
reverses, the desk's numbers, SLA deadlines, history and search with a fixed clock, and numbers
handed out concurrently by several threads stay unique."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select

from console.auth import Staff, create_user
from console.ticket_queries import TicketQuery, search
from console.ticket_tables import TicketHistoryRecord, TicketRecord
from console.ticket_templates import load_catalog
from console.ticket_workflow import TicketAction
from console.tickets import TicketDesk, TicketError
from skycall.storage import create_engine_for, migrate, session_factory
from skycall.storage.engine import alembic_config
from skycall.storage.tables import metadata

SHANGHAI = ZoneInfo("Asia/Shanghai")
COMPLAINT = {
    "category": "delay_handling",
    "occurred_at": "2026-09-17T22:10",
    "details": "航班延误四小时无人通知 / four hours of delay, nobody told us",
    "contact_phone": "13900139000",
    "flight_no": "YH8821",
}


def _no_schema_drift(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"migrations and models disagree: {diff}"


def test_migration_0008_matches_the_models_and_reverses_on_postgresql(pg_engine: Engine) -> None:
    _no_schema_drift(pg_engine)
    assert {"tickets", "ticket_history", "ticket_counters"} <= set(inspect(pg_engine).get_table_names())
    command.downgrade(alembic_config(pg_engine), "0007")
    inspector = inspect(pg_engine)
    assert "tickets" not in inspector.get_table_names()
    assert "department" not in {c["name"] for c in inspector.get_columns("users")}
    _no_schema_drift(pg_engine)


def test_migration_0008_matches_the_models_and_reverses_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'skycall.db'}")
    _no_schema_drift(engine)
    command.downgrade(alembic_config(engine), "0007")
    assert "ticket_history" not in inspect(engine).get_table_names()
    assert "department" not in {c["name"] for c in inspect(engine).get_columns("users")}
    _no_schema_drift(engine)
    engine.dispose()


def test_desk_on_postgresql_numbers_deadlines_history_and_search(pg_engine: Engine) -> None:
    migrate(pg_engine)
    sessions = session_factory(pg_engine)
    agent = create_user(sessions, username="ag", password="correct-horse-battery", role="agent")
    sup = create_user(sessions, username="sup", password="correct-horse-battery", role="supervisor")
    # 17 Sep 2026 17:30 UTC is already Friday 18 September, 01:30, in Shanghai
    clock = [datetime(2026, 9, 17, 17, 30, tzinfo=UTC)]
    desk = TicketDesk(sessions=sessions, catalog=load_catalog(), clock=lambda: clock[0])

    first = desk.create(
        agent,
        ticket_type="complaint",
        title="延误处置投诉",
        caller_phone="139 0013 9000",
        fields=COMPLAINT,
        submit=True,
    )
    second = desk.create(agent, ticket_type="consultation", title="Wheelchair at T2?", fields={"topic": "services"})
    assert (first.number, second.number) == ("WO-20260918-0001", "WO-20260918-0002")
    # 15 working days over Mid-Autumn and the National Day week, make-up days counted
    assert first.sla_deadline == datetime(2026, 10, 15, 23, 59, 59, tzinfo=SHANGHAI)
    assert first.fields["occurred_at"] == "2026-09-17T22:10+08:00" and first.caller_phone == "13900139000"

    clock[0] = datetime(2026, 10, 16, 2, 0, tzinfo=UTC)  # the day after the deadline
    assert desk.get(sup, first.number).overdue
    done = desk.act(sup, first.number, TicketAction.ASSIGN, department="quality", assignee="sup")
    assert done.status == "assigned" and done.overdue
    with pytest.raises(TicketError) as refused:
        desk.act(agent, first.number, TicketAction.RESOLVE, note="x")
    assert refused.value.status == 403
    desk.act(sup, first.number, TicketAction.START)
    resolved = desk.act(sup, first.number, TicketAction.RESOLVE, note="已致歉并补偿 / apologised and compensated")
    assert not resolved.overdue  # resolved tickets are never overdue

    with sessions() as db:
        row = db.scalars(select(TicketRecord).where(TicketRecord.number == first.number)).one()
        assert row.sla_deadline == datetime(2026, 10, 15, 15, 59, 59, tzinfo=UTC)  # stored in UTC
        history = db.scalars(
            select(TicketHistoryRecord).where(TicketHistoryRecord.ticket_id == row.id).order_by(TicketHistoryRecord.id)
        ).all()
    assert [(h.action, h.to_status) for h in history] == [
        ("create", "draft"),
        ("submit", "submitted"),
        ("assign", "assigned"),
        ("start", "in_progress"),
        ("resolve", "resolved"),
    ]
    assert history[2].department == "quality" and history[4].note.startswith("已致歉")

    # PostgreSQL's LIKE is case-sensitive: the desk stores and searches lower-cased text
    found = search(desk, agent, TicketQuery(q="yh8821 延误"))
    assert [t.number for t in found.items] == [first.number]
    assert [t.number for t in search(desk, agent, TicketQuery(q="WHEELCHAIR")).items] == [second.number]
    assert search(desk, sup, TicketQuery(view="handled")).total == 1
    assert [t.number for t in search(desk, agent, TicketQuery(view="drafts")).items] == [second.number]


def test_numbers_stay_unique_under_concurrent_creation_on_postgresql(pg_engine: Engine) -> None:
    migrate(pg_engine)
    sessions = session_factory(pg_engine)
    agents = [
        create_user(sessions, username=f"ag{k}", password="correct-horse-battery", role="agent") for k in range(4)
    ]
    moment = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    desk = TicketDesk(sessions=sessions, catalog=load_catalog(), clock=lambda: moment)

    def make(staff: Staff) -> list[str]:
        return [desk.create(staff, ticket_type="praise", title=f"thanks {k}").number for k in range(5)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = [n for batch in pool.map(make, agents) for n in batch]
    assert sorted(numbers) == [f"WO-20261201-{k:04d}" for k in range(1, 21)]
