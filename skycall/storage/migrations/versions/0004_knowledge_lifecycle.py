"""knowledge lifecycle: versions, status, validity windows, enable/disable, synonyms

Existing documents become published version 1 of themselves.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="draft"))
        batch.add_column(sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("published_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "kb_document_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("similar_questions", sa.JSON(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["kb_documents.id"], name=op.f("fk_kb_document_versions_document_id_kb_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_document_versions")),
        sa.UniqueConstraint("document_id", "version", name=op.f("uq_kb_document_versions_document_id")),
    )
    op.create_index(op.f("ix_kb_document_versions_document_id"), "kb_document_versions", ["document_id"])
    op.create_table(
        "kb_synonyms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("term", sa.String(200), nullable=False),
        sa.Column("synonyms", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_synonyms")),
        sa.UniqueConstraint("lang", "term", name=op.f("uq_kb_synonyms_lang")),
    )
    # what existed was indexed: it becomes published version 1, with its text as that version
    op.execute(
        "INSERT INTO kb_document_versions (document_id, version, title, category, body, similar_questions, "
        "content_sha256, author, created_at) SELECT id, 1, title, category, body, '[]', content_sha256, "
        "'migration', ingested_at FROM kb_documents"
    )
    op.execute(
        "UPDATE kb_documents SET status = 'published', version = 1, published_version = 1, updated_at = ingested_at"
    )
    with op.batch_alter_table("kb_documents") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    op.drop_table("kb_synonyms")
    op.drop_index(op.f("ix_kb_document_versions_document_id"), table_name="kb_document_versions")
    op.drop_table("kb_document_versions")
    with op.batch_alter_table("kb_documents") as batch:
        for col in ("updated_at", "published_version", "version", "valid_to", "valid_from", "enabled", "status"):
            batch.drop_column(col)
