"""The transport Protocol: the session never knows which network it is on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Hangup:
    """The caller hung up (or the connection dropped)."""

    reason: str = "caller_hangup"


@dataclass(frozen=True)
class Dtmf:
    digit: str


Inbound = bytes | Hangup | Dtmf  # bytes = 16-bit mono PCM at ``sample_rate``


class Transport(Protocol):
    name: str
    sample_rate: int  # rate of PCM in both directions
    bad_frames: int  # malformed or oversized inbound frames dropped so far (each logged)

    async def receive(self) -> Inbound:
        """Next inbound item; ``Hangup`` when the call is gone."""
        ...

    async def send_audio(self, pcm: bytes) -> None:
        """Send one frame of bot audio (already paced by the caller)."""
        ...

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send a control/transcript message where the transport has a data channel."""
        ...

    async def clear_audio(self) -> None:
        """Tell the far end to drop bot audio it has buffered but not played (barge-in)."""
        ...

    async def close(self) -> None: ...
