"""Relational store: SQLAlchemy 2 engine/session factory, the declarative base and Alembic migrations."""

from skycall.storage.base import Base
from skycall.storage.engine import create_engine_for, migrate, session_factory

__all__ = ["Base", "create_engine_for", "migrate", "session_factory"]
