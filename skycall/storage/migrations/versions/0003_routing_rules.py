"""routing caller lists: blacklist and red list by number hash, caller hash per queued call

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('caller_lists',
    sa.Column('number_hash', sa.String(length=64), nullable=False),
    sa.Column('list', sa.String(length=16), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('number_hash', name=op.f('pk_caller_lists'))
    )
    with op.batch_alter_table('queued_calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_queued_calls_caller_hash'), ['caller_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('queued_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queued_calls_caller_hash'))
        batch_op.drop_column('caller_hash')

    op.drop_table('caller_lists')
