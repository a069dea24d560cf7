"""knowledge channel variants: a short spoken answer beside the text answer

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents") as batch:
        batch.add_column(sa.Column("spoken", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("kb_document_versions") as batch:
        batch.add_column(sa.Column("spoken", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("kb_document_versions") as batch:
        batch.drop_column("spoken")
    with op.batch_alter_table("kb_documents") as batch:
        batch.drop_column("spoken")
