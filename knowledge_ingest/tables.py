"""Relational records of the knowledge base. The store is the truth; the search index follows it.

``kb_documents`` holds one row per (key, language, kind) with its lifecycle (status, enabled,
validity window, which version is published); ``kb_document_versions`` keeps every edit;
``kb_synonyms`` holds editable query-expansion terms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from skycall.storage.base import Base, utcnow

STATUSES = ("draft", "published", "retired")


class KbDocument(Base):
    """One knowledge document, FAQ entry or record in one language; content lives in its versions."""

    __tablename__ = "kb_documents"
    __table_args__ = (UniqueConstraint("doc_key", "lang", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_key: Mapped[str] = mapped_column(String(200))
    lang: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))  # "document" | "faq" | "record"
    title: Mapped[str] = mapped_column(String(500))  # of the latest version
    category: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text)  # of the latest version
    spoken: Mapped[str] = mapped_column(Text, default="", server_default="")  # of the latest version
    source: Mapped[str] = mapped_column(String(1000), default="")
    content_sha256: Mapped[str] = mapped_column(String(64))  # of the latest version
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)  # chunks of the published version in the index
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)  # latest version number
    published_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KbDocumentVersion(Base):
    __tablename__ = "kb_document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("kb_documents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text)
    # channel variant: a short answer written to be spoken (the body is the text/chat answer)
    spoken: Mapped[str] = mapped_column(Text, default="", server_default="")
    similar_questions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    content_sha256: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KbSynonym(Base):
    __tablename__ = "kb_synonyms"
    __table_args__ = (UniqueConstraint("lang", "term"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lang: Mapped[str] = mapped_column(String(8))
    term: Mapped[str] = mapped_column(String(200))
    synonyms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
