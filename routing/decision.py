"""The decision: which call in line goes to which free agent, made atomically (mixed into
``RoutingEngine``; see "Concurrency" in docs/routing.md).

One transaction reads the best calls in line and the available agents without locks, ranks the
agents free for each call's channel and eligible in some overflow tier, locks the call (``FOR
UPDATE SKIP LOCKED``), then the best agent (the same, re-checking ``available`` and the room for
the channel on the newest row), checks the locked row's profile again, and reserves it — or gives
it the chat. ``assign_batch`` repeats that for the next calls before one commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from routing.agent_state import AgentState, AgentTrigger
from routing.callers import last_agent
from routing.chats import assign_chat
from routing.models import IN_LINE, Assignment, CallStatus, Candidate, Channel, OverflowRule, QueueSpec
from routing.overflow import eligibility_tiers
from routing.queries import WAITING_ORDER, RoutingError
from routing.selection import RankKey, is_eligible, rank_agents
from routing.store import CandidateReader, candidate_from_row, queue_spec, write_transaction
from routing.tables import AgentRecord, QueuedCallRecord, QueueRecord
from routing.transitions import record_transition
from skycall.events import CallAssigned, CallOverflowed, Event


class Dispatch:
    _sessions: sessionmaker[Session]
    _clock: Callable[[], datetime]
    _strategy: RankKey
    _call_batch: int
    _overflow: Mapping[str, Sequence[OverflowRule]]
    _prefer_last_agent: bool
    _candidates: CandidateReader
    _in_line_stmt: Select[Any]

    def _emit(self, events: list[Event]) -> None:
        raise NotImplementedError  # RoutingEngine publishes

    def assign_next(self) -> Assignment | None:
        """Reserve the best available agent for the best waiting call that has one; ``None`` if no
        waiting call can be served now. Calls and agents are locked (PostgreSQL) or the whole
        decision holds the write lock (SQLite), so concurrent workers never double-assign."""
        done = self.assign_batch(limit=1)
        return done[0] if done else None

    def assign_batch(self, *, limit: int) -> list[Assignment]:
        """Up to ``limit`` decisions in one transaction, in the order ``assign_next`` would make them
        one by one (among the best ``call_batch`` calls in line): the reads and the commit are shared,
        the locks are the same. For a dispatcher catching up after a burst or a shift start."""
        if not 1 <= limit <= self._call_batch:
            raise ValueError(f"limit must be 1..{self._call_batch} (the engine's call_batch), got {limit!r}")
        events: list[Event] = []
        with write_transaction(self._sessions) as db, db.no_autoflush:
            # each decision locks different rows, so its changes need not be flushed before the next
            # decision's reads: they go out together at the commit
            assignments = self._assign_in(db, events, limit)
        self._emit(events)
        return assignments

    def _assign_in(self, db: Session, events: list[Event], limit: int) -> list[Assignment]:
        Q = QueuedCallRecord
        waiting = db.execute(self._in_line_stmt).all()
        if not waiting:
            return []
        available = self._candidates.available(db)
        tried: set[str] = set()  # agents locked (or found taken) in this transaction
        queues: dict[str, QueueSpec] = {}
        done: list[Assignment] = []
        now = self._clock()
        for call_id, queue_id, language, enqueued_at, channel_name, caller_hash in waiting:
            channel = Channel(channel_name)
            able = [c for c in available if c.agent_id not in tried and c.can_take(channel)]
            if not able:
                continue
            waited = (now - enqueued_at).total_seconds()
            tiers = eligibility_tiers(
                queue=self._spec(db, queue_id, queues),
                rules=self._rules(db, queue_id, queues),
                waited_s=waited,
                lookup=lambda other: self._spec(db, other, queues),
            )
            ranked_tiers = [
                rank_agents(candidates=able, queue=spec, language=language, key=self._strategy) for spec in tiers
            ]
            if not any(ranked_tiers):
                continue  # nobody free can take it: not locked, not waited for
            call = db.scalars(
                select(Q)
                .where(Q.id == call_id, Q.status.in_(IN_LINE))
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            ).one_or_none()
            if call is None:  # another worker holds or took it
                continue
            assignment = self._place(db, call, tiers, ranked_tiers, tried, events, caller_hash, waited)
            if assignment is not None:
                done.append(assignment)
                if len(done) == limit:
                    break
        return done

    def _place(
        self,
        db: Session,
        call: QueuedCallRecord,
        tiers: list[QueueSpec],
        ranked_tiers: list[list[Candidate]],
        tried: set[str],
        events: list[Event],
        caller_hash: str | None,
        waited: float,
    ) -> Assignment | None:
        """Lock the best agent of the first tier that has one free for the locked call, and give it."""
        channel = Channel(call.channel)
        preferred = self._preferred(db, caller_hash)
        for tier, (spec, ranked) in enumerate(zip(tiers, ranked_tiers, strict=True)):
            ranked.sort(key=lambda c: c.agent_id != preferred)  # stable: the strategy's order otherwise
            for choice in ranked:
                if choice.agent_id in tried:  # in an earlier tier or for an earlier call
                    continue
                agent = self._lock_candidate(db, choice.agent_id, channel)
                tried.add(choice.agent_id)
                if agent is None:  # another worker reserved it meanwhile
                    continue
                locked = candidate_from_row(agent)
                if not (locked.can_take(channel) and is_eligible(locked, spec, language=call.language)):
                    continue  # its profile changed after the unlocked read
                if tier:
                    events.append(self._overflowed(call, spec, agent.id, waited))
                if channel is Channel.CHAT:
                    return assign_chat(call, agent, events, now=self._clock(), overflow=tier > 0)
                return self._reserve(db, call, agent, events, overflow=tier > 0)
        return None

    @staticmethod
    def _lock_candidate(db: Session, agent_id: str, channel: Channel) -> AgentRecord | None:
        """The agent's row, locked, if it is still available with room for ``channel`` (re-checked
        on the newest row version by PostgreSQL); ``None`` if another worker holds or took it."""
        room = AgentRecord.chats == 0 if channel is Channel.VOICE else AgentRecord.chats < AgentRecord.max_chats
        return db.scalars(
            select(AgentRecord)
            .where(AgentRecord.id == agent_id, AgentRecord.state == AgentState.AVAILABLE, room)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).one_or_none()

    def _overflowed(self, call: QueuedCallRecord, spec: QueueSpec, agent_id: str, waited: float) -> CallOverflowed:
        to_queue = spec.queue_id if spec.queue_id != call.queue_id else None
        return CallOverflowed(
            call_id=call.id,
            queue_id=call.queue_id,
            action="to_queue" if to_queue else "relaxed_skills",
            waited_s=waited,
            to_queue=to_queue,
            agent_id=agent_id,
            at=self._clock(),
        )

    def _rules(self, db: Session, queue_id: str, cache: dict[str, QueueSpec]) -> tuple[OverflowRule, ...]:
        """Engine configuration if given for the queue, else the rules stored with it."""
        configured = self._overflow.get(queue_id)
        return tuple(configured) if configured is not None else self._spec(db, queue_id, cache).overflow

    def _preferred(self, db: Session, caller_hash: str | None) -> str | None:
        if not self._prefer_last_agent or caller_hash is None:
            return None
        return last_agent(db, caller_hash)

    @staticmethod
    def _spec(db: Session, queue_id: str, cache: dict[str, QueueSpec]) -> QueueSpec:
        if queue_id not in cache:
            row = db.get(QueueRecord, queue_id)
            if row is None:
                raise RoutingError("unknown_queue", f"no queue {queue_id!r} (named by an overflow rule); save it first")
            cache[queue_id] = queue_spec(row)
        return cache[queue_id]

    def _reserve(
        self, db: Session, call: QueuedCallRecord, agent: AgentRecord, events: list[Event], *, overflow: bool
    ) -> Assignment:
        now = self._clock()
        record_transition(db, agent, AgentTrigger.RESERVE, events, now=self._clock(), call_id=call.id)
        agent.current_call_id = call.id
        call.status, call.agent_id, call.offered_at = CallStatus.OFFERED, agent.id, now
        call.offers += 1
        waited = (now - call.enqueued_at).total_seconds()
        events.append(
            CallAssigned(
                call_id=call.id,
                agent_id=agent.id,
                queue_id=call.queue_id,
                waited_s=waited,
                at=now,
                callback=call.callback,
            )
        )
        return Assignment(
            call_id=call.id,
            agent_id=agent.id,
            queue_id=call.queue_id,
            waited_s=waited,
            overflow=overflow,
            callback=call.callback,
        )


def best_in_line(limit: int) -> Select[Any]:
    """The best ``limit`` calls in line (id, queue, language, enqueued_at, channel, caller hash):
    one ordered, limited scan of the waiting-order index per in-line status, merged. A single
    ``status IN (…)`` would make both databases sort every waiting call. Built once per engine:
    building it costs more than running it."""
    Q = QueuedCallRecord
    cols = (Q.id, Q.queue_id, Q.language, Q.enqueued_at, Q.channel, Q.caller_hash, Q.priority)
    tops = [
        select(*cols).where(Q.status == status).order_by(*WAITING_ORDER).limit(limit).subquery() for status in IN_LINE
    ]
    merged = union_all(*(select(top) for top in tops)).subquery()
    return (
        select(
            merged.c.id,
            merged.c.queue_id,
            merged.c.language,
            merged.c.enqueued_at,
            merged.c.channel,
            merged.c.caller_hash,
        )
        .order_by(merged.c.priority.desc(), merged.c.enqueued_at, merged.c.id)
        .limit(limit)
    )
