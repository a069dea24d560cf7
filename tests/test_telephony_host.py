"""CallHost runs a call on any transport and keeps per-transport counters (fake models, fake transport)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.fakes.voice import FakeTransport, fake_services
from voicebot.telephony import STALLED, CallHost, CallRefused, allowed
from voicebot.transports.base import Hangup


async def test_a_call_is_counted_per_transport_and_unregistered_when_it_ends() -> None:
    services = fake_services()
    state = SimpleNamespace(voice_services=services, active_calls={})
    host = CallHost(state)
    transport = FakeTransport()
    transport.inbox.put_nowait(Hangup(STALLED))  # the line went quiet: the transport gave up on it
    reason = await host.run_call(transport, call_id="c-1")
    assert reason == STALLED
    stats = host.stats(transport.name)
    assert (stats.calls_total, stats.calls_active, stats.stalled_total, stats.calls_failed) == (1, 0, 1, 0)
    assert state.active_calls == {}
    text = host.render_metrics()
    assert f'skycall_transport_stalled_total{{transport="{transport.name}"}} 1' in text
    await services.bus.close()


async def test_a_call_is_refused_while_the_voice_service_starts() -> None:
    host = CallHost(SimpleNamespace(voice_services=None, active_calls={}))
    with pytest.raises(CallRefused, match="still starting"):
        await host.run_call(FakeTransport(), call_id="c-2")


def test_allowed_networks() -> None:
    assert allowed("127.0.0.1", ["127.0.0.0/8"])
    assert not allowed("10.1.2.3", ["127.0.0.0/8", "192.168.0.0/16"])
    assert not allowed("not-an-address", ["0.0.0.0/0"])
