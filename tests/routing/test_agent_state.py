"""The agent state machine: every transition, every guard, and the messages refusals carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.agent_state import (
    AgentState,
    AgentTransitionError,
    AgentTrigger,
    NotReadyReason,
    allowed_triggers,
    apply,
)

S, T, R = AgentState, AgentTrigger, NotReadyReason
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_a_whole_shift_walks_the_machine() -> None:
    steps: list[tuple[AgentTrigger, dict[str, object], AgentState]] = [
        (T.LOG_IN, {}, S.AVAILABLE),
        (T.RESERVE, {"call_id": "c1"}, S.RESERVED),
        (T.ANSWER, {}, S.ON_CALL),
        (T.END_CALL, {}, S.WRAP_UP),
        (T.FINISH_WRAP_UP, {}, S.AVAILABLE),
        (T.RESERVE, {"call_id": "c2"}, S.RESERVED),
        (T.WITHDRAW_OFFER, {}, S.AVAILABLE),
        (T.RESERVE, {"call_id": "c3"}, S.RESERVED),
        (T.RING_NO_ANSWER, {"reason": R.RING_NO_ANSWER}, S.NOT_READY),
        (T.RESUME, {}, S.AVAILABLE),
        (T.PAUSE, {"reason": R.LUNCH}, S.NOT_READY),
        (T.PAUSE, {"reason": R.TRAINING}, S.NOT_READY),  # change of reason code
        (T.LOG_OUT, {}, S.OFFLINE),
    ]
    state = S.OFFLINE
    for trigger, kwargs, expected in steps:
        done = apply(agent_id="a1", state=state, trigger=trigger, **kwargs)  # type: ignore[arg-type]
        assert (done.source, done.target, done.trigger) == (state, expected, trigger)
        state = done.target
    assert state is S.OFFLINE


def test_reason_is_kept_only_when_entering_not_ready() -> None:
    assert apply(agent_id="a", state=S.WRAP_UP, trigger=T.PAUSE, reason=R.BREAK).reason is R.BREAK
    assert apply(agent_id="a", state=S.NOT_READY, trigger=T.RESUME, reason=R.BREAK).reason is None


def test_wrap_up_timeout_fires_only_after_the_deadline() -> None:
    until = NOW + timedelta(seconds=30)
    with pytest.raises(AgentTransitionError, match="wrap-up deadline has not passed"):
        apply(agent_id="a", state=S.WRAP_UP, trigger=T.WRAP_UP_TIMEOUT, now=NOW, wrap_up_until=until)
    done = apply(agent_id="a", state=S.WRAP_UP, trigger=T.WRAP_UP_TIMEOUT, now=until, wrap_up_until=until)
    assert done.target is S.AVAILABLE


@pytest.mark.parametrize(
    ("state", "trigger", "kwargs", "message"),
    [
        (S.AVAILABLE, T.PAUSE, {}, "a reason code is required, one of back_office, break, lunch"),
        (S.AVAILABLE, T.PAUSE, {"reason": R.RING_NO_ANSWER}, "a reason code is required"),
        (S.AVAILABLE, T.RESERVE, {}, "a call id is required"),
        (S.RESERVED, T.RING_NO_ANSWER, {"reason": R.BREAK}, "reason must be 'ring_no_answer'"),
        (S.OFFLINE, T.RESERVE, {"call_id": "c1"}, r"cannot reserve while offline \(allowed: log_in\)"),
        (S.ON_CALL, T.LOG_OUT, {}, r"cannot log_out while on_call \(allowed: end_call\)"),
        (S.RESERVED, T.PAUSE, {"reason": R.BREAK}, "cannot pause while reserved"),
    ],
)
def test_refusals_say_why(state: AgentState, trigger: AgentTrigger, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AgentTransitionError, match=message) as info:
        apply(agent_id="a7", state=state, trigger=trigger, **kwargs)  # type: ignore[arg-type]
    assert (info.value.agent_id, info.value.state, info.value.trigger) == ("a7", state, trigger)


def test_allowed_triggers_per_state() -> None:
    assert allowed_triggers(S.OFFLINE) == {T.LOG_IN}
    assert allowed_triggers(S.AVAILABLE) == {T.RESERVE, T.PAUSE, T.LOG_OUT}
    assert allowed_triggers(S.RESERVED) == {T.ANSWER, T.WITHDRAW_OFFER, T.RING_NO_ANSWER}
    assert allowed_triggers(S.ON_CALL) == {T.END_CALL}
    assert allowed_triggers(S.WRAP_UP) == {T.FINISH_WRAP_UP, T.WRAP_UP_TIMEOUT, T.PAUSE}
    assert allowed_triggers(S.NOT_READY) == {T.RESUME, T.PAUSE, T.LOG_OUT}
