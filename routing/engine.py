"""The ACD engine: durable queues and agents, atomic reservation, ring-no-answer and timers.

Every public method is one transaction against the relational store (see ``routing/store.py``
for how that transaction is isolated on SQLite and PostgreSQL). Nothing lives only in memory, so a
new engine over the same database — after a restart, or in a second worker process — sees the same
queues, agents and calls. Agent transitions go through the state machine (``routing/agent_state``),
are written to the audit table in the same transaction, and are published after the commit.
Time comes from the injected ``clock``: the host calls :meth:`RoutingEngine.tick` periodically to
expire wrap-ups and ringing offers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from routing.agent_state import AgentState, AgentTrigger, NotReadyReason
from routing.callbacks import CallbackActions
from routing.callers import CallerList, CallerLists, listed, number_hash
from routing.chats import ChatActions
from routing.decision import Dispatch, best_in_line
from routing.hours import BusinessHours
from routing.locks import current_call, locked_agent, locked_call_and_agent
from routing.models import (
    IN_LINE,
    AgentProfile,
    AgentView,
    CallStatus,
    Channel,
    QueuedCall,
    QueueSpec,
    RefusalReason,
    Refused,
)
from routing.overflow import OverflowRules
from routing.queries import RoutingError, RoutingQueries
from routing.selection import DEFAULT_STRATEGY, RankKey
from routing.store import (
    CandidateReader,
    agent_view,
    queue_row_values,
    queue_spec,
    queued_call,
    write_transaction,
)
from routing.tables import AgentRecord, QueuedCallRecord, QueueRecord
from routing.transitions import record_transition
from skycall.events import CallRefused, Event
from skycall.storage import session_factory
from skycall.storage.base import utcnow

Clock = Callable[[], datetime]
Publish = Callable[[Event], None]


class RoutingEngine(Dispatch, CallbackActions, ChatActions, CallerLists, RoutingQueries):
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock = utcnow,
        publish: Publish | None = None,
        strategy: RankKey = DEFAULT_STRATEGY,
        call_batch: int = 50,
        default_aht_s: float = 180.0,
        hours: Mapping[str, BusinessHours] | None = None,
        overflow: OverflowRules | None = None,
        prefer_last_agent: bool = True,
        number_key: bytes = b"",
        callback_attempts: int = 3,
    ) -> None:
        """``hours`` and ``overflow`` per queue id override what is stored with the queue
        (``QueueSpec.hours``, ``QueueSpec.overflow``): a queue without hours is always open, one
        without overflow rules is served by its own agents only (``routing/overflow.py``).
        ``prefer_last_agent``: offer a call first to the caller's last agent when that agent is
        available and eligible. ``number_key``: the secret for caller-number hashes (HMAC).
        ``callback_attempts``: a callback the caller does not pick up this many times is abandoned."""
        if callback_attempts < 1:
            raise ValueError(f"callback_attempts must be ≥ 1, got {callback_attempts!r}")
        super().__init__(sessions=session_factory(engine), default_aht_s=default_aht_s)
        self._hours = dict(hours or {})
        self._overflow = dict(overflow or {})
        self._prefer_last_agent = prefer_last_agent
        self._number_key = number_key
        self._clock = clock
        self._publish = publish
        self._strategy = strategy
        self._call_batch = call_batch
        self._callback_attempts = callback_attempts
        self._candidates = CandidateReader()
        self._in_line_stmt = best_in_line(call_batch)

    # -- set-up ---------------------------------------------------------------------------------

    def save_queue(self, *, queue: QueueSpec) -> None:
        values = queue_row_values(queue)
        with write_transaction(self._sessions) as db:
            row = db.get(QueueRecord, queue.queue_id)
            if row is None:
                db.add(QueueRecord(id=queue.queue_id, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)

    def save_agent(self, *, agent: AgentProfile) -> None:
        """Create an agent (offline) or update its skills, languages and chat concurrency, keeping
        its state."""
        if not agent.languages:
            raise RoutingError("agent_without_language", f"agent {agent.agent_id!r} needs at least one language")
        if agent.max_chats < 0:
            raise RoutingError(
                "bad_max_chats", f"agent {agent.agent_id!r}: max_chats must be ≥ 0, got {agent.max_chats}"
            )
        with write_transaction(self._sessions) as db:
            row = db.get(AgentRecord, agent.agent_id)
            if row is None:
                row = AgentRecord(id=agent.agent_id, state=AgentState.OFFLINE, state_since=self._clock())
                row.calls_handled, row.chats, row.profile_version = 0, 0, 0
                db.add(row)
            elif agent.max_chats < row.chats:
                raise RoutingError(
                    "agent_has_chats", f"agent {agent.agent_id!r} holds {row.chats} chats; max_chats cannot go below"
                )
            row.name = agent.name
            row.skills = dict(agent.skills)
            row.languages = sorted(agent.languages)
            row.max_chats = agent.max_chats
            row.profile_version += 1  # decisions re-read this agent's skills (routing/store.py)

    # -- agent actions --------------------------------------------------------------------------

    def log_in(self, *, agent_id: str) -> AgentView:
        return self._agent_action(agent_id=agent_id, trigger=AgentTrigger.LOG_IN)

    def log_out(self, *, agent_id: str) -> AgentView:
        return self._agent_action(agent_id=agent_id, trigger=AgentTrigger.LOG_OUT)

    def pause(self, *, agent_id: str, reason: NotReadyReason) -> AgentView:
        """Not ready with a reason code (from available, wrap-up, or not ready to change the code)."""
        return self._agent_action(agent_id=agent_id, trigger=AgentTrigger.PAUSE, reason=reason)

    def resume(self, *, agent_id: str) -> AgentView:
        return self._agent_action(agent_id=agent_id, trigger=AgentTrigger.RESUME)

    def finish_wrap_up(self, *, agent_id: str) -> AgentView:
        return self._agent_action(agent_id=agent_id, trigger=AgentTrigger.FINISH_WRAP_UP)

    def _agent_action(self, *, agent_id: str, trigger: AgentTrigger, reason: NotReadyReason | None = None) -> AgentView:
        events: list[Event] = []
        with write_transaction(self._sessions) as db:
            agent = locked_agent(db, agent_id)
            if trigger is AgentTrigger.LOG_OUT and agent.chats:
                raise RoutingError(
                    "agent_has_chats", f"agent {agent_id!r} still holds {agent.chats} chats; end them first"
                )
            record_transition(db, agent, trigger, events, now=self._clock(), reason=reason)
            view = agent_view(agent)
        self._emit(events)
        return view

    # -- calls ----------------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        call_id: str,
        queue_id: str,
        red_list: bool = False,
        caller_level: int = 0,
        language: str | None = None,
        caller_number: str | None = None,
        channel: Channel = Channel.VOICE,
    ) -> QueuedCall | Refused:
        """Put a call (or a chat) in a queue; its priority follows the queue's rules, its wait starts
        now. A queue outside its business hours, or a blacklisted ``caller_number``, refuses the call
        (:class:`Refused`, published as ``CallRefused``). A red-listed number counts as
        ``red_list``. Only the number's hash is stored (``routing/callers.py``)."""
        result = self._enqueue(
            call_id=call_id,
            queue_id=queue_id,
            red_list=red_list,
            caller_level=caller_level,
            language=language,
            caller_number=caller_number,
            channel=channel,
        )
        if isinstance(result, Refused):
            self._emit(
                [
                    CallRefused(
                        call_id=call_id,
                        queue_id=queue_id,
                        reason=result.reason,
                        action=result.action,
                        opens_at=result.opens_at,
                        at=self._clock(),
                    )
                ]
            )
        return result

    def _enqueue(
        self,
        *,
        call_id: str,
        queue_id: str,
        red_list: bool,
        caller_level: int,
        language: str | None,
        caller_number: str | None,
        channel: Channel,
    ) -> QueuedCall | Refused:
        caller_hash = None if caller_number is None else number_hash(caller_number, key=self._number_key)
        with write_transaction(self._sessions) as db:
            queue_row = db.get(QueueRecord, queue_id)
            if queue_row is None:
                raise RoutingError("unknown_queue", f"no queue {queue_id!r}; create it with save_queue first")
            spec = queue_spec(queue_row)
            hours = self._hours.get(queue_id, spec.hours)
            if hours is not None and not hours.is_open(now := self._clock()):
                return Refused(
                    call_id=call_id, queue_id=queue_id, reason=RefusalReason.CLOSED, opens_at=hours.next_opening(now)
                )
            on_list = None if caller_hash is None else listed(db, caller_hash)
            if on_list is CallerList.BLACKLIST:
                return Refused(call_id=call_id, queue_id=queue_id, reason=RefusalReason.BLACKLISTED)
            red_list = red_list or on_list is CallerList.RED_LIST
            if db.get(QueuedCallRecord, call_id) is not None:
                raise RoutingError("call_already_queued", f"call {call_id!r} was already enqueued")
            try:
                priority = spec.priority_rules.priority(red_list=red_list, caller_level=caller_level)
            except ValueError as exc:
                raise RoutingError("bad_caller_level", f"call {call_id!r}: {exc}") from None
            row = QueuedCallRecord(
                id=call_id,
                queue_id=queue_id,
                language=language or spec.language,
                red_list=red_list,
                caller_level=caller_level,
                priority=priority,
                enqueued_at=self._clock(),
                status=CallStatus.WAITING,
                offers=0,
                missed_by=[],
                caller_hash=caller_hash,
                channel=channel,
                callback=False,
                callback_attempts=0,
            )
            db.add(row)
            db.flush()
            return queued_call(row)

    def answer(self, *, agent_id: str) -> QueuedCall:
        """The reserved agent picked up the ringing call."""
        events: list[Event] = []
        with write_transaction(self._sessions) as db:
            agent = locked_agent(db, agent_id)
            call = current_call(db, agent, expected=AgentState.RESERVED)
            record_transition(db, agent, AgentTrigger.ANSWER, events, now=self._clock(), call_id=call.id)
            call.status, call.answered_at = CallStatus.ASSIGNED, self._clock()
            result = queued_call(call)
        self._emit(events)
        return result

    def ring_no_answer(self, *, agent_id: str) -> QueuedCall:
        """The offer rang out: the agent goes not ready (``ring_no_answer``), the call goes back to
        waiting with its original enqueue time, so it keeps its place in the queue."""
        events: list[Event] = []
        with write_transaction(self._sessions) as db:
            result = self._ring_no_answer_in(db, locked_agent(db, agent_id), events)
        self._emit(events)
        return result

    def _ring_no_answer_in(self, db: Session, agent: AgentRecord, events: list[Event]) -> QueuedCall:
        call = current_call(db, agent, expected=AgentState.RESERVED)
        record_transition(
            db,
            agent,
            AgentTrigger.RING_NO_ANSWER,
            events,
            now=self._clock(),
            call_id=call.id,
            reason=NotReadyReason.RING_NO_ANSWER,
        )
        agent.current_call_id = None
        call.status = CallStatus.CALLBACK if call.callback else CallStatus.WAITING  # same place: enqueued_at
        call.agent_id, call.offered_at = None, None
        call.missed_by = [*call.missed_by, agent.id]
        return queued_call(call)

    def end_call(self, *, agent_id: str) -> AgentView:
        """The agent's call ended: the call is completed, the agent enters wrap-up until the
        queue's wrap-up time has passed (or the agent finishes it earlier)."""
        events: list[Event] = []
        with write_transaction(self._sessions) as db:
            agent = locked_agent(db, agent_id)
            call = current_call(db, agent, expected=AgentState.ON_CALL)
            now = self._clock()
            record_transition(db, agent, AgentTrigger.END_CALL, events, now=self._clock(), call_id=call.id)
            spec = queue_spec(db.get_one(QueueRecord, call.queue_id))
            agent.wrap_up_until = now + timedelta(seconds=spec.wrap_up_s)
            agent.current_call_id, agent.last_call_ended_at = None, now
            agent.calls_handled += 1
            call.status, call.ended_at, call.callback_number = CallStatus.COMPLETED, now, None
            view = agent_view(agent)
        self._emit(events)
        return view

    def abandon(self, *, call_id: str) -> QueuedCall:
        """The caller hung up before an agent answered; a ringing agent becomes available again."""
        events: list[Event] = []
        with write_transaction(self._sessions) as db:
            call = locked_call_and_agent(db, call_id)
            if call.status not in (*IN_LINE, CallStatus.OFFERED) or (call.channel != Channel.VOICE and call.agent_id):
                raise RoutingError(
                    "call_not_waiting",
                    f"call {call_id!r} is {call.status}; only a waiting or ringing call (or a callback not yet "
                    "made) can be abandoned; end an assigned chat with end_chat",
                )
            if call.status == CallStatus.OFFERED and call.agent_id is not None:
                agent = locked_agent(db, call.agent_id)  # already locked: same row, same transaction
                record_transition(db, agent, AgentTrigger.WITHDRAW_OFFER, events, now=self._clock(), call_id=call.id)
                agent.current_call_id = None
            call.status, call.agent_id, call.ended_at = CallStatus.ABANDONED, None, self._clock()
            call.callback_number = None
            result = queued_call(call)
        self._emit(events)
        return result

    # -- timers ---------------------------------------------------------------------------------

    def tick(self) -> tuple[int, int]:
        """Expire ringing offers past the queue's ring timeout and wrap-ups past their deadline;
        returns (ring-no-answers, wrap-ups ended)."""
        events: list[Event] = []
        now = self._clock()
        with write_transaction(self._sessions) as db:
            ringing = db.scalars(
                select(QueuedCallRecord.agent_id)
                .where(QueuedCallRecord.status == CallStatus.OFFERED)
                .order_by(QueuedCallRecord.agent_id)  # one lock order for every worker
            ).all()
            rang_out = sum(self._ring_out_if_due(db, agent_id, now, events) for agent_id in ringing if agent_id)
            expired = db.scalars(
                select(AgentRecord)
                .where(AgentRecord.state == AgentState.WRAP_UP, AgentRecord.wrap_up_until <= now)
                .order_by(AgentRecord.id)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            ).all()
            for agent in expired:
                record_transition(
                    db,
                    agent,
                    AgentTrigger.WRAP_UP_TIMEOUT,
                    events,
                    now=self._clock(),
                    wrap_up_until=agent.wrap_up_until,
                )
        self._emit(events)
        return rang_out, len(expired)

    # -- internals ------------------------------------------------------------------------------

    def _ring_out_if_due(self, db: Session, agent_id: str, now: datetime, events: list[Event]) -> bool:
        """Ring-no-answer for the agent's offer if it has rung longer than its queue's ring timeout
        (re-checked under the agent's lock: the agent may have answered meanwhile)."""
        agent = locked_agent(db, agent_id)
        if agent.state != AgentState.RESERVED:
            return False
        call = current_call(db, agent, expected=AgentState.RESERVED)
        timeout_s = db.get_one(QueueRecord, call.queue_id).ring_timeout_s
        if call.offered_at is None or call.offered_at + timedelta(seconds=timeout_s) > now:
            return False
        self._ring_no_answer_in(db, agent, events)
        return True

    def _emit(self, events: list[Event]) -> None:
        if self._publish is not None:
            for event in events:
                self._publish(event)
