"""Stored handoff packets: one row per handed-off call, the packet as JSON.

The packet is written twice (the cheap parts first, then with the LLM's summary and ticket), so
the row keeps when it was first built (``created_at``), when it was last written, whether it is
complete, and how long its last stage took to build. The JSON holds transcripts and a drafted
ticket with the caller's phone number: personal data, read by staff only, never logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from skycall.storage.base import Base, UtcDateTime


class HandoffPacketRecord(Base):
    __tablename__ = "handoff_packets"

    call_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    packet: Mapped[dict[str, Any]] = mapped_column(JSON)
    complete: Mapped[bool] = mapped_column(Boolean)
    build_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
