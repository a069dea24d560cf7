"""Imports every package's tables so that ``metadata`` is complete (for Alembic and tests)."""

import routing.tables  # noqa: F401  (registers the ACD tables on the metadata)
from console.packet_tables import HandoffPacketRecord
from console.tables import User
from console.ticket_tables import TicketCounterRecord, TicketHistoryRecord, TicketRecord
from knowledge_ingest.tables import KbDocument, KbDocumentVersion, KbSynonym
from skycall.storage.base import Base
from voicebot.tables import CallRecord, TurnRecord

metadata = Base.metadata

__all__ = [
    "CallRecord",
    "HandoffPacketRecord",
    "KbDocument",
    "KbDocumentVersion",
    "KbSynonym",
    "TicketCounterRecord",
    "TicketHistoryRecord",
    "TicketRecord",
    "TurnRecord",
    "User",
    "metadata",
]
