"""routing: callbacks, overflow offers, chat concurrency, stored hours and overflow rules, KPI indexes

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD_LIVE = sa.text("status IN ('offered', 'assigned')")
NEW_LIVE = sa.text("status IN ('offered', 'assigned') AND channel = 'voice'")


def upgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("hours", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("overflow_rules", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("max_chats", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("chats", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("profile_version", sa.Integer(), nullable=False, server_default="0"))
        batch.create_check_constraint(op.f("ck_agents_chat_capacity"), "chats >= 0 AND chats <= max_chats")
    with op.batch_alter_table("queued_calls") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=8), nullable=False, server_default="voice"))
        batch.add_column(sa.Column("callback", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("callback_number", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("callback_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("overflow_offer", sa.String(length=16), nullable=True))
        batch.drop_index("uq_queued_calls_live_agent", sqlite_where=OLD_LIVE, postgresql_where=OLD_LIVE)
        batch.create_index(
            "uq_queued_calls_live_agent", ["agent_id"], unique=True, sqlite_where=NEW_LIVE, postgresql_where=NEW_LIVE
        )
        batch.create_index("ix_queued_calls_queue_ended", ["queue_id", "ended_at"], unique=False)
        batch.create_index(batch.f("ix_queued_calls_enqueued_at"), ["enqueued_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("queued_calls") as batch:
        batch.drop_index(batch.f("ix_queued_calls_enqueued_at"))
        batch.drop_index("ix_queued_calls_queue_ended")
        batch.drop_index("uq_queued_calls_live_agent", sqlite_where=NEW_LIVE, postgresql_where=NEW_LIVE)
        batch.create_index(
            "uq_queued_calls_live_agent", ["agent_id"], unique=True, sqlite_where=OLD_LIVE, postgresql_where=OLD_LIVE
        )
        batch.drop_column("overflow_offer")
        batch.drop_column("callback_attempts")
        batch.drop_column("callback_number")
        batch.drop_column("callback")
        batch.drop_column("channel")
    with op.batch_alter_table("agents") as batch:
        batch.drop_constraint(op.f("ck_agents_chat_capacity"), type_="check")
        batch.drop_column("profile_version")
        batch.drop_column("chats")
        batch.drop_column("max_chats")
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("overflow_rules")
        batch.drop_column("hours")
