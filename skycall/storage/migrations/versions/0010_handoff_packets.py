"""handoff packets (one JSON packet per handed-off call); calls.caller_hash for caller history

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_packets",
        sa.Column("call_id", sa.String(36), nullable=False),
        sa.Column("packet", sa.JSON(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("build_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_handoff_packets")),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("caller_hash", sa.String(64), nullable=True))
        batch.create_index(batch.f("ix_calls_caller_hash"), ["caller_hash"])


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index(batch.f("ix_calls_caller_hash"))
        batch.drop_column("caller_hash")
    op.drop_table("handoff_packets")
