from __future__ import annotations

import asyncio

from pydantic import TypeAdapter

from skycall.events import CallEnded, CallerUtterance, Event, EventBus


async def test_bus_fans_out_and_a_slow_subscriber_does_not_block() -> None:
    bus = EventBus()
    fast: list[str] = []
    slow: list[str] = []

    async def on_fast(e: Event) -> None:
        fast.append(e.type)

    async def on_slow(e: Event) -> None:
        await asyncio.sleep(0.05)
        slow.append(e.type)

    bus.subscribe(on_fast, name="fast")
    bus.subscribe(on_slow, name="slow")
    bus.publish(CallerUtterance(call_id="c1", seq=1, text="hi", language="en", confidence=0.9))
    bus.publish(CallEnded(call_id="c1", reason="caller_hangup"))
    await asyncio.sleep(0.01)
    assert fast == ["call.caller_utterance", "call.ended"]
    assert slow == []
    await bus.close()  # drains what is queued
    assert slow == ["call.caller_utterance", "call.ended"]


async def test_a_failing_subscriber_is_isolated() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def broken(_e: Event) -> None:
        raise RuntimeError("boom")

    async def ok(e: Event) -> None:
        seen.append(e.call_id)

    bus.subscribe(broken, name="broken")
    bus.subscribe(ok, name="ok")
    bus.publish(CallEnded(call_id="c2", reason="x"))
    bus.publish(CallEnded(call_id="c3", reason="x"))
    await bus.close()
    assert seen == ["c2", "c3"]


def test_events_are_a_discriminated_union() -> None:
    parsed = TypeAdapter(Event).validate_python({"type": "call.ended", "call_id": "c", "reason": "timeout"})
    assert isinstance(parsed, CallEnded)
