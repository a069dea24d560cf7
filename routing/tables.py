"""Durable ACD state: agents, queues, queued calls and the audit trail of agent transitions.

Two rules hold at the database level, whatever the code above does: an agent row names at most
one current call (unique ``current_call_id``), at most one live (offered or assigned) voice call
points at any agent (a partial unique index on ``queued_calls.agent_id``), and an agent never holds
more chats than its ``max_chats`` (a check constraint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from skycall.storage.base import Base, UtcDateTime

LIVE_CALL = "status IN ('offered', 'assigned') AND channel = 'voice'"


class QueueRecord(Base):
    __tablename__ = "queues"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8))
    required_skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority_rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=15)
    wrap_up_s: Mapped[int] = mapped_column(Integer, default=30)
    hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # None: always open (0007)
    overflow_rules: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")  # 0007


class AgentRecord(Base):
    __tablename__ = "agents"
    __table_args__ = (CheckConstraint("chats >= 0 AND chats <= max_chats", name="chat_capacity"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state_since: Mapped[datetime] = mapped_column(UtcDateTime)
    wrap_up_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_call_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    calls_handled: Mapped[int] = mapped_column(Integer, default=0)
    current_call_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    max_chats: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # 0007
    chats: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # live chats (0007)
    profile_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # +1 per save (0007)


class QueuedCallRecord(Base):
    __tablename__ = "queued_calls"
    __table_args__ = (
        Index("ix_queued_calls_waiting_order", "status", "priority", "enqueued_at"),
        Index(
            "uq_queued_calls_live_agent",
            "agent_id",
            unique=True,
            sqlite_where=text(LIVE_CALL),
            postgresql_where=text(LIVE_CALL),
        ),
        Index("ix_queued_calls_queue_ended", "queue_id", "ended_at"),  # handle times, KPIs (0007)
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("queues.id"), index=True)
    language: Mapped[str] = mapped_column(String(8))
    red_list: Mapped[bool] = mapped_column(Boolean, default=False)
    caller_level: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    offers: Mapped[int] = mapped_column(Integer, default=0)
    missed_by: Mapped[list[Any]] = mapped_column(JSON, default=list)
    caller_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # never the number
    # 0007: channel, callbacks, overflow offers; enqueue time indexed for the KPI reports
    channel: Mapped[str] = mapped_column(String(8), default="voice", server_default="voice")
    callback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    callback_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # cleared once it ends
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    overflow_offer: Mapped[str | None] = mapped_column(String(16), nullable=True)


class CallerListRecord(Base):
    """A caller number on the blacklist or the red list, by hash only (``routing/callers.py``)."""

    __tablename__ = "caller_lists"

    number_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    list: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AgentTransitionRecord(Base):
    """The audit trail: one row per agent transition, written in the transaction that made it."""

    __tablename__ = "agent_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
