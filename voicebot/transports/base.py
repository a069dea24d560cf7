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


@dataclass(frozen=True)
class HandOver:
    """What a transport needs to move a handed-off call out of skycall (SIP REFER, Asterisk dialplan)."""

    call_id: str
    queue: str | None  # the ACD queue the handoff policy chose
    reasons: tuple[str, ...]
    language: str
    priority: int | None = None


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


class HandsOver(Protocol):
    """A transport that can hand a call to the network it came from instead of the ACD bridge.

    The session calls ``hand_over`` after the "transferring you" prompt has played. ``True``: the call
    has left skycall (the session ends with reason ``transferred``); ``False``: not configured or it
    failed, and the call is queued in skycall's ACD and bridged to an agent's browser as usual.
    """

    async def hand_over(self, target: HandOver) -> bool: ...
