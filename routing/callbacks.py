"""Callbacks that keep the caller's place, and the overflow offers (callback, voicemail).

A waiting caller may hang up and be called back (``request_callback``): the call's status becomes
``callback`` and it keeps its ``enqueued_at`` and priority, so it is served exactly when it would
have been had the caller held on. When an agent is reserved for it, ``Assignment.callback`` (and
``CallAssigned.callback``) tells the host to place the outbound call (e.g. AMI ``Originate``, see
``routing/asterisk.py``) once the agent accepts (``answer``). If the caller does not pick up
(``callback_unanswered``), the agent goes to wrap-up and the call goes back in line with its
original place, until ``callback_attempts`` tries have failed; then it is abandoned. A ringing
callback that the agent lets ring out goes back to ``callback`` status, not ``waiting``.

The number to dial is stored with the call (``callback_number``, normalised) only while the callback
is pending, and cleared when the call ends; it never goes into a log line or an event.

Overflow offers: a queue's rule with ``offer`` makes ``make_overflow_offers`` (called periodically,
like ``tick``) mark each waiting call that has reached it — once — and publish ``CallOverflowed``
(``callback_offer`` / ``voicemail_offer``); the voice layer then asks the caller. The call stays in
line meanwhile: if an agent frees up first, it is served as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from routing.agent_state import AgentState, AgentTrigger
from routing.callers import normalise_number
from routing.locks import current_call, locked_agent, locked_call_and_agent
from routing.models import CallStatus, Channel, OverflowOffer, OverflowRule, QueuedCall
from routing.overflow import due_offer
from routing.queries import RoutingError, position_in
from routing.store import queue_spec, queued_call, write_transaction
from routing.tables import QueuedCallRecord, QueueRecord
from routing.transitions import record_transition
from skycall.events import CallbackRequested, CallOverflowed, Event


@dataclass(frozen=True)
class OfferMade:
    call_id: str
    queue_id: str
    offer: OverflowOffer
    waited_s: float


class CallbackActions:
    """Callbacks and overflow offers (mixed into ``RoutingEngine``)."""

    _sessions: sessionmaker[Session]
    _clock: Callable[[], datetime]
    _overflow: Mapping[str, Sequence[OverflowRule]]
    _callback_attempts: int

    def _emit(self, events: list[Event]) -> None:
        raise NotImplementedError  # RoutingEngine publishes

    def request_callback(self, *, call_id: str, number: str) -> QueuedCall:
        """The waiting caller chose to be called back at ``number``: the call leaves the line's
        ``waiting`` calls for ``callback`` status with its place kept (publishes ``CallbackRequested``)."""
        dial = normalise_number(number)  # refuses a bad number without echoing it
        events: list[Event] = []
        with write_transaction(self._sessions) as db:
            call = self._waiting_voice_call(db, call_id, action="call back")
            call.status, call.callback, call.callback_number = CallStatus.CALLBACK, True, dial
            db.flush()
            events.append(
                CallbackRequested(
                    call_id=call.id, queue_id=call.queue_id, position=position_in(db, call), at=self._clock()
                )
            )
            result = queued_call(call)
        self._emit(events)
        return result

    def leave_voicemail(self, *, call_id: str) -> QueuedCall:
        """The waiting caller chose to leave a voicemail: the call leaves the line (``voicemail``)."""
        with write_transaction(self._sessions) as db:
            call = self._waiting_voice_call(db, call_id, action="leave a voicemail")
            call.status, call.ended_at = CallStatus.VOICEMAIL, self._clock()
            return queued_call(call)

    def callback_number(self, *, call_id: str) -> str:
        """The number to dial for a pending callback (for the telephony adapter only)."""
        with self._sessions() as db:
            row = db.get(QueuedCallRecord, call_id)
            if row is None or not row.callback or row.callback_number is None:
                raise RoutingError("no_callback", f"call {call_id!r} has no pending callback")
            return row.callback_number

    def callback_unanswered(self, *, agent_id: str) -> QueuedCall:
        """The caller did not pick up the agent's callback: the agent goes to wrap-up, the call goes
        back in line with its original place, or is abandoned after ``callback_attempts`` tries."""
        events: list[Event] = []
        with write_transaction(self._sessions) as db:
            agent = locked_agent(db, agent_id)
            call = current_call(db, agent, expected=AgentState.ON_CALL)
            if not call.callback:
                raise RoutingError("not_a_callback", f"agent {agent_id!r} is on call {call.id!r}, not a callback")
            now = self._clock()
            record_transition(db, agent, AgentTrigger.END_CALL, events, now=now, call_id=call.id)
            spec = queue_spec(db.get_one(QueueRecord, call.queue_id))
            agent.wrap_up_until = now + timedelta(seconds=spec.wrap_up_s)
            agent.current_call_id = None
            call.callback_attempts += 1
            call.agent_id, call.offered_at, call.answered_at = None, None, None
            if call.callback_attempts >= self._callback_attempts:
                call.status, call.ended_at, call.callback_number = CallStatus.ABANDONED, now, None
            else:
                call.status = CallStatus.CALLBACK
            result = queued_call(call)
        self._emit(events)
        return result

    def make_overflow_offers(self) -> list[OfferMade]:
        """Mark each waiting voice call that has reached an offer rule of its queue (once per call)
        and publish ``CallOverflowed``; returns the offers made. Call it periodically, like ``tick``."""
        events: list[Event] = []
        made: list[OfferMade] = []
        now = self._clock()
        with write_transaction(self._sessions) as db:
            for queue_row in db.scalars(select(QueueRecord).order_by(QueueRecord.id)).all():
                configured = self._overflow.get(queue_row.id)
                rules = [
                    r
                    for r in (configured if configured is not None else queue_spec(queue_row).overflow)
                    if r.offer is not None
                ]
                if not rules:
                    continue
                earliest = now - timedelta(seconds=min(r.after_s for r in rules))
                due = db.scalars(
                    select(QueuedCallRecord)
                    .where(
                        QueuedCallRecord.queue_id == queue_row.id,
                        QueuedCallRecord.status == CallStatus.WAITING,
                        QueuedCallRecord.channel == Channel.VOICE,
                        QueuedCallRecord.overflow_offer.is_(None),
                        QueuedCallRecord.enqueued_at <= earliest,
                    )
                    .order_by(QueuedCallRecord.id)
                    .with_for_update(skip_locked=True)
                    .execution_options(populate_existing=True)
                ).all()
                for call in due:
                    waited = (now - call.enqueued_at).total_seconds()
                    rule = due_offer(rules, waited_s=waited)
                    if rule is None or rule.offer is None:
                        continue
                    call.overflow_offer = rule.offer
                    made.append(OfferMade(call.id, call.queue_id, rule.offer, waited))
                    events.append(
                        CallOverflowed(
                            call_id=call.id,
                            queue_id=call.queue_id,
                            action=f"{rule.offer.value}_offer",
                            waited_s=waited,
                            at=now,
                        )
                    )
        self._emit(events)
        return made

    @staticmethod
    def _waiting_voice_call(db: Session, call_id: str, *, action: str) -> QueuedCallRecord:
        call = locked_call_and_agent(db, call_id)
        if call.status != CallStatus.WAITING or call.channel != Channel.VOICE:
            raise RoutingError(
                "call_not_waiting", f"call {call_id!r} is a {call.channel} in status {call.status}; cannot {action}"
            )
        return call
