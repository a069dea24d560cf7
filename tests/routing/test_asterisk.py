"""The AMI bridge against an emulator that speaks AMI as Asterisk documents it (tests/routing/ami_emulator.py):
queue reads, membership, redirect, originate, agent mirroring, a dropped connection and a silent action."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from routing.asterisk import AmiDisconnected, AmiError, AmiSettings, AmiTimeout, AsteriskQueues
from routing.callers import number_hash
from skycall.events import AgentStateChanged
from tests.routing.ami_emulator import AmiEmulator, Caller, Member, Queue
from tests.routing.conftest import T0


@pytest.fixture
async def emulator() -> AsyncIterator[AmiEmulator]:
    ami = AmiEmulator()
    ami.queues["baggage"] = Queue(
        "baggage",
        members={"PJSIP/agent-1": Member("PJSIP/agent-1", "Li Na", calls_taken=3)},
        callers=[Caller("PJSIP/trunk-0001", "+86 10 6456 3604", wait_s=42)],
        completed=7,
        abandoned=1,
    )
    ami.queues["lost"] = Queue("lost")
    ami.channels.add("PJSIP/trunk-0002")
    ami.dialplan[("queues", "lost")] = "lost"
    yield ami
    await ami.close()


async def _bridge(ami: AmiEmulator, **kwargs: object) -> AsteriskQueues:
    port = await ami.start()
    settings = AmiSettings(port=port, username=ami.username, secret=ami.secret, **kwargs)  # type: ignore[arg-type]
    bridge = AsteriskQueues(settings)
    await bridge.start()
    return bridge


async def test_queue_summary_and_status_are_read_from_event_lists(emulator: AmiEmulator) -> None:
    bridge = await _bridge(emulator)
    try:
        summary = {s.queue: s for s in await bridge.queue_summary()}
        assert set(summary) == {"baggage", "lost"}
        assert (summary["baggage"].logged_in, summary["baggage"].available, summary["baggage"].callers) == (1, 1, 1)
        assert summary["baggage"].longest_hold_s == 42
        only = await bridge.queue_summary("lost")
        assert [s.queue for s in only] == ["lost"]
        (status,) = await bridge.queue_status("baggage")
        assert (status.strategy, status.completed, status.abandoned, status.calls) == ("rrmemory", 7, 1, 1)
        assert [(m.interface, m.name, m.calls_taken, m.paused) for m in status.members] == [
            ("PJSIP/agent-1", "Li Na", 3, False)
        ]
        (caller,) = status.callers
        # the caller's number is hashed, never kept
        assert (caller.position, caller.wait_s, caller.caller_hash) == (1, 42, number_hash("+861064563604"))
        assert emulator.actions("QueueStatus")[0]["queue"] == ["baggage"]
    finally:
        bridge.close()


async def test_membership_add_pause_remove_with_asterisk_errors(emulator: AmiEmulator) -> None:
    bridge = await _bridge(emulator, action_timeout_s=2.0)
    try:
        started = time.monotonic()
        await bridge.queue_add(queue="lost", interface="PJSIP/agent-2", member_name="Wang Wei", paused=True)
        assert time.monotonic() - started < 1.5  # the "Added interface to queue" ack resolves the action
        assert emulator.queues["lost"].members["PJSIP/agent-2"].paused
        with pytest.raises(AmiError, match="Already there"):
            await bridge.queue_add(queue="lost", interface="PJSIP/agent-2")
        await bridge.queue_pause(interface="PJSIP/agent-2", paused=False)
        assert not emulator.queues["lost"].members["PJSIP/agent-2"].paused
        await bridge.queue_pause(queue="lost", interface="PJSIP/agent-2", paused=True, reason="lunch")
        assert emulator.queues["lost"].members["PJSIP/agent-2"].reason == "lunch"
        await bridge.queue_remove(queue="lost", interface="PJSIP/agent-2")
        assert "PJSIP/agent-2" not in emulator.queues["lost"].members
        with pytest.raises(AmiError, match="Not there"):
            await bridge.queue_remove(queue="lost", interface="PJSIP/agent-2")
        with pytest.raises(AmiError, match="No such queue"):
            await bridge.queue_add(queue="nope", interface="PJSIP/agent-2")
    finally:
        bridge.close()


async def test_redirect_into_a_queue_and_originate_a_callback(emulator: AmiEmulator) -> None:
    bridge = await _bridge(emulator)
    try:
        await bridge.redirect(channel="PJSIP/trunk-0002", context="queues", exten="lost")
        assert [c.channel for c in emulator.queues["lost"].callers] == ["PJSIP/trunk-0002"]
        with pytest.raises(AmiError, match="Channel does not exist"):
            await bridge.redirect(channel="PJSIP/gone", context="queues", exten="lost")
        result = await bridge.originate(
            channel="PJSIP/agent-1", context="callbacks", exten="s", variables={"SKYCALL_CALL": "c1"}
        )
        assert result.success and result.reason == 4 and result.channel == "PJSIP/agent-1"
        (sent,) = emulator.actions("Originate")
        assert (sent["async"], sent["variable"]) == (["true"], ["SKYCALL_CALL=c1"])
        emulator.unanswered.add("PJSIP/agent-9")
        missed = await bridge.originate(channel="PJSIP/agent-9", context="callbacks", exten="s")
        assert (missed.success, missed.reason) == (False, 3)
    finally:
        bridge.close()


async def test_agent_states_are_mirrored_as_queue_pauses(emulator: AmiEmulator) -> None:
    bridge = await _bridge(emulator)
    interfaces = {"a1": "PJSIP/agent-1"}

    def change(frm: str, to: str, reason: str | None = None, agent: str = "a1") -> AgentStateChanged:
        return AgentStateChanged(agent_id=agent, trigger="x", from_state=frm, to_state=to, reason=reason, at=T0)

    try:
        assert await bridge.mirror_agent(change("available", "not_ready", "lunch"), interfaces=interfaces)
        member = emulator.queues["baggage"].members["PJSIP/agent-1"]
        assert (member.paused, member.reason) == (True, "lunch")
        assert await bridge.mirror_agent(change("not_ready", "available"), interfaces=interfaces)
        assert not member.paused
        assert not await bridge.mirror_agent(change("available", "reserved"), interfaces=interfaces)
        assert not await bridge.mirror_agent(change("available", "not_ready", "break", "zz"), interfaces=interfaces)
        assert len(emulator.actions("QueuePause")) == 2
    finally:
        bridge.close()


async def test_reconnects_after_a_drop_and_retries_only_idempotent_actions(emulator: AmiEmulator) -> None:
    bridge = await _bridge(emulator, action_timeout_s=5.0, reconnect_s=1)
    try:
        emulator.drop_on.add("QueueStatus")  # the server hangs up on receiving it, once
        (status,) = await bridge.queue_status("baggage")
        assert status.queue == "baggage"
        assert (emulator.connections, bridge.logins) == (2, 2)
        assert len(emulator.actions("QueueStatus")) == 2  # sent again after the reconnect
        emulator.drop_on.add("Originate")
        with pytest.raises(AmiDisconnected):
            await bridge.originate(channel="PJSIP/agent-1", context="callbacks", exten="s")
        summary = await bridge.queue_summary()  # works again once reconnected
        assert len(summary) == 2 and bridge.logins == 3
        assert len(emulator.actions("Originate")) == 1  # never placed twice
    finally:
        bridge.close()


async def test_an_action_that_is_never_answered_times_out(emulator: AmiEmulator) -> None:
    bridge = await _bridge(emulator, action_timeout_s=0.5)
    try:
        emulator.silent.add("Redirect")
        started = time.monotonic()
        with pytest.raises(AmiTimeout, match=r"AMI Redirect: no answer within 0\.5 s"):
            await bridge.redirect(channel="PJSIP/trunk-0002", context="queues", exten="lost")
        assert 0.4 < time.monotonic() - started < 2.0
        await bridge.ping()  # the connection itself is fine
        assert len(await bridge.queue_summary("baggage")) == 1
    finally:
        bridge.close()


async def test_a_refused_login_is_reported(emulator: AmiEmulator) -> None:
    port = await emulator.start()
    bridge = AsteriskQueues(AmiSettings(port=port, username="skycall", secret="wrong", action_timeout_s=0.5))
    with pytest.raises(AmiTimeout, match="no successful login"):
        await bridge.start()
    assert emulator.actions("Login")[0]["username"] == ["skycall"]
