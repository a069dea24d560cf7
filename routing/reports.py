"""KPIs from the stored tables, live and historical, per queue, per agent and per interval.

The formulas are ``routing/kpi.py``'s; this module turns rows into their inputs:

* **call outcomes** from ``queued_calls``: a call counts in the period (or interval) in which it was
  *enqueued*, once it has *ended* — completed (answered: wait = enqueue → answer, talk = answer →
  end), abandoned (wait = enqueue → hang-up) or voicemail. Calls still in line, ringing or in
  progress are in the live snapshot (:meth:`KpiReports.live`), not in the KPIs yet.
* **after-call work** of a completed call from ``agent_transitions``: from the agent's ``end_call``
  for that call to the agent's next transition (finish, timeout, pause); a wrap-up still going on is
  counted up to now. Chats have no wrap-up.
* **agent state time** from ``agent_transitions``: the state each agent was in at the start of the
  period (its last transition before it) and every transition inside it, clipped to the period (and
  to now). Chat time is not a state, so occupancy covers voice work only.
* **missed calls**: every ring-no-answer (per agent), and every abandoned call, short ones flagged.

Indexes used: ``ix_queued_calls_enqueued_at`` (period), ``ix_agent_transitions_agent_id`` (the next
transition after an ``end_call``), ``ix_agent_transitions_call_id``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from routing.agent_state import AgentState, AgentTrigger
from routing.kpi import (
    AgentKpis,
    AgentTime,
    CallOutcome,
    QueueKpis,
    agent_kpis,
    interval_start,
    kpis_by_interval,
    queue_kpis,
)
from routing.models import IN_LINE, CallStatus, Candidate
from routing.selection import is_eligible
from routing.store import queue_spec
from routing.tables import AgentRecord, AgentTransitionRecord, QueuedCallRecord, QueueRecord

FINISHED = (CallStatus.COMPLETED, CallStatus.ABANDONED, CallStatus.VOICEMAIL)


@dataclass(frozen=True)
class MissedCall:
    """A call the center did not take: a ring-no-answer at ``agent_id``, or an abandon (the
    caller's hash, never the number, to match a later call from them). ``waited_s``: the caller's
    whole wait, until answered, gone, or now."""

    call_id: str
    queue_id: str
    enqueued_at: datetime
    kind: str  # "ring_no_answer" | "abandoned"
    waited_s: float
    agent_id: str | None = None
    short: bool = False  # an abandon within the short-abandon threshold
    caller_hash: str | None = None


@dataclass(frozen=True)
class LiveQueue:
    """One queue now."""

    queue_id: str
    waiting: int  # in line, the caller holding
    callbacks: int  # in line, waiting to be called back
    ringing: int
    in_progress: int
    longest_wait_s: float | None  # of the calls in line now
    agents_by_state: dict[str, int] = field(default_factory=dict)  # eligible agents (skills, language)


class KpiReports:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        service_target_s: float = 20.0,
        short_abandon_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.service_target_s = service_target_s
        self.short_abandon_s = short_abandon_s

    # -- calls ----------------------------------------------------------------------------------

    def outcomes(
        self, *, since: datetime, until: datetime, queue_id: str | None = None, agent_id: str | None = None
    ) -> list[CallOutcome]:
        """Ended calls enqueued in ``[since, until)``, one :class:`CallOutcome` each, in enqueue order."""
        Q = QueuedCallRecord
        end = aliased(AgentTransitionRecord)
        nxt = aliased(AgentTransitionRecord)
        next_at = (
            select(nxt.at)
            .where(nxt.agent_id == end.agent_id, nxt.id > end.id)
            .order_by(nxt.id)
            .limit(1)
            .correlate(end)
            .scalar_subquery()
        )
        stmt = (
            select(Q.id, Q.queue_id, Q.enqueued_at, Q.answered_at, Q.ended_at, Q.status, Q.agent_id, Q.missed_by)
            .add_columns(end.id, end.at, next_at)
            .outerjoin(end, and_(end.call_id == Q.id, end.trigger == AgentTrigger.END_CALL, end.agent_id == Q.agent_id))
            .where(Q.enqueued_at >= since, Q.enqueued_at < until, Q.status.in_(FINISHED))
            .order_by(Q.enqueued_at, Q.id, end.id)
        )
        if queue_id is not None:
            stmt = stmt.where(Q.queue_id == queue_id)
        if agent_id is not None:
            stmt = stmt.where(Q.agent_id == agent_id)
        now = self._clock()
        by_call: dict[str, CallOutcome] = {}
        with self._sessions() as db:
            rows = db.execute(stmt).all()
        for call_id, queue, enqueued, answered, ended, status, agent, missed, _end_id, end_at, after in rows:
            if ended is None:
                continue
            done = status == CallStatus.COMPLETED and answered is not None
            acw = 0.0
            if done and end_at is not None:
                acw = ((after or now) - end_at).total_seconds()
            by_call[call_id] = CallOutcome(  # the last end_call row of a call wins (a callback may retry)
                call_id=call_id,
                queue_id=queue,
                enqueued_at=enqueued,
                wait_s=((answered if done else ended) - enqueued).total_seconds(),
                answered=done,
                agent_id=agent if done else None,
                talk_s=(ended - answered).total_seconds() if done else 0.0,
                acw_s=acw,
                missed_by=tuple(missed or ()),
                voicemail=status == CallStatus.VOICEMAIL,
            )
        return list(by_call.values())

    def queue_kpis(self, *, since: datetime, until: datetime, queue_id: str | None = None) -> QueueKpis:
        """One queue's KPIs over the period (all queues together with ``queue_id=None``)."""
        return queue_kpis(
            outcomes=self.outcomes(since=since, until=until, queue_id=queue_id),
            service_target_s=self.service_target_s,
            short_abandon_s=self.short_abandon_s,
        )

    def queue_kpis_by_interval(
        self, *, since: datetime, until: datetime, interval_s: int = 900, queue_id: str | None = None
    ) -> dict[tuple[str, datetime], QueueKpis]:
        """KPIs per (queue, interval start), intervals of ``interval_s`` (900, 1800, 3600 …)."""
        return kpis_by_interval(
            outcomes=self.outcomes(since=since, until=until, queue_id=queue_id),
            interval_s=interval_s,
            service_target_s=self.service_target_s,
            short_abandon_s=self.short_abandon_s,
        )

    def missed_calls(
        self, *, since: datetime, until: datetime, queue_id: str | None = None, agent_id: str | None = None
    ) -> list[MissedCall]:
        """Ring-no-answers (of ``agent_id`` only, if given) and abandons (none, if ``agent_id`` is
        given), of calls enqueued in the period, in enqueue order."""
        Q = QueuedCallRecord
        stmt = (
            select(Q.id, Q.queue_id, Q.enqueued_at, Q.answered_at, Q.ended_at, Q.status, Q.missed_by, Q.caller_hash)
            .where(Q.enqueued_at >= since, Q.enqueued_at < until)
            .order_by(Q.enqueued_at, Q.id)
        )
        if queue_id is not None:
            stmt = stmt.where(Q.queue_id == queue_id)
        out: list[MissedCall] = []
        now = self._clock()
        with self._sessions() as db:
            rows = db.execute(stmt).all()
        for call_id, queue, enqueued, answered, ended, status, missed, caller in rows:
            waited = ((answered or ended or now) - enqueued).total_seconds()  # until answered or gone
            for missed_agent in missed or ():
                if agent_id is None or missed_agent == agent_id:
                    out.append(MissedCall(call_id, queue, enqueued, "ring_no_answer", waited, agent_id=missed_agent))
            if status == CallStatus.ABANDONED and agent_id is None:
                short = waited <= self.short_abandon_s
                out.append(MissedCall(call_id, queue, enqueued, "abandoned", waited, short=short, caller_hash=caller))
        return out

    # -- agents ---------------------------------------------------------------------------------

    def agent_times(self, *, since: datetime, until: datetime, agent_id: str | None = None) -> dict[str, AgentTime]:
        """Seconds each agent spent in each state within ``[since, until)`` (and before now)."""
        trails = self._trails(since=since, until=until, agent_id=agent_id)
        end = min(until, self._clock())
        return {agent: _state_time(agent, trail, since, end) for agent, trail in trails.items()}

    def agent_kpis(self, *, since: datetime, until: datetime, agent_id: str) -> AgentKpis:
        times = self.agent_times(since=since, until=until, agent_id=agent_id)
        outcomes = self.outcomes(since=since, until=until)
        return agent_kpis(agent_id=agent_id, outcomes=outcomes, time=times.get(agent_id, AgentTime(agent_id)))

    def agent_kpis_by_interval(
        self, *, since: datetime, until: datetime, interval_s: int = 900, agent_id: str | None = None
    ) -> dict[tuple[str, datetime], AgentKpis]:
        """KPIs per (agent, interval start): calls by enqueue interval, state time clipped to it."""
        trails = self._trails(since=since, until=until, agent_id=agent_id)
        outcomes = self.outcomes(since=since, until=until)
        calls: dict[datetime, list[CallOutcome]] = defaultdict(list)
        for o in outcomes:
            calls[interval_start(o.enqueued_at, interval_s=interval_s)].append(o)
        now = self._clock()
        out: dict[tuple[str, datetime], AgentKpis] = {}
        start = interval_start(since, interval_s=interval_s)
        while start < until:
            stop = start + timedelta(seconds=interval_s)
            lo, hi = max(start, since), min(stop, until, now)
            for agent, trail in sorted(trails.items()):
                time = _state_time(agent, trail, lo, hi) if hi > lo else AgentTime(agent)
                out[(agent, start)] = agent_kpis(agent_id=agent, outcomes=calls.get(start, ()), time=time)
            start = stop
        return out

    def _trails(
        self, *, since: datetime, until: datetime, agent_id: str | None
    ) -> dict[str, list[tuple[datetime, str]]]:
        """Per agent: (time, state entered) — its last transition before ``since``, then the ones
        inside the period, in order."""
        T = AgentTransitionRecord
        last_before = select(func.max(T.id)).where(T.at < since).group_by(T.agent_id)
        stmt = select(T.agent_id, T.at, T.to_state).where((T.id.in_(last_before)) | ((T.at >= since) & (T.at < until)))
        if agent_id is not None:
            stmt = stmt.where(T.agent_id == agent_id)
        trails: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        with self._sessions() as db:
            for agent, at, state in db.execute(stmt.order_by(T.agent_id, T.id)):
                trails[agent].append((at, state))
        return dict(trails)

    # -- live -----------------------------------------------------------------------------------

    def live(self) -> list[LiveQueue]:
        """Every queue now: calls in line, ringing and in progress, the longest current wait, and
        the agents able to take its calls by state."""
        now = self._clock()
        Q = QueuedCallRecord
        with self._sessions() as db:
            specs = [queue_spec(r) for r in db.scalars(select(QueueRecord).order_by(QueueRecord.id))]
            counts = db.execute(
                select(Q.queue_id, Q.status, func.count(), func.min(Q.enqueued_at))
                .where(Q.status.in_((*IN_LINE, CallStatus.OFFERED, CallStatus.ASSIGNED)))
                .group_by(Q.queue_id, Q.status)
            ).all()
            agents = db.execute(
                select(AgentRecord.id, AgentRecord.state, AgentRecord.skills, AgentRecord.languages)
            ).all()
        by_queue: dict[str, dict[str, tuple[int, datetime]]] = defaultdict(dict)
        for queue, status, count, oldest in counts:
            by_queue[queue][status] = (int(count), oldest)
        out = []
        for spec in specs:
            c = by_queue.get(spec.queue_id, {})
            in_line = [c[s][1] for s in IN_LINE if s in c]
            states: dict[str, int] = defaultdict(int)
            for agent_id, state, skills, languages in agents:
                candidate = Candidate(agent_id, skills, frozenset(languages), idle_since=now)
                if state != AgentState.OFFLINE and is_eligible(candidate, spec):
                    states[state] += 1
            out.append(
                LiveQueue(
                    queue_id=spec.queue_id,
                    waiting=c.get(CallStatus.WAITING, (0, now))[0],
                    callbacks=c.get(CallStatus.CALLBACK, (0, now))[0],
                    ringing=c.get(CallStatus.OFFERED, (0, now))[0],
                    in_progress=c.get(CallStatus.ASSIGNED, (0, now))[0],
                    longest_wait_s=(now - min(in_line)).total_seconds() if in_line else None,
                    agents_by_state=dict(states),
                )
            )
        return out


def _state_time(agent_id: str, trail: Iterable[tuple[datetime, str]], start: datetime, end: datetime) -> AgentTime:
    """Seconds in each state within ``[start, end)`` from a trail of (time, state entered)."""
    seconds: dict[str, float] = defaultdict(float)
    points = list(trail)
    for (at, state), following in zip(points, [*points[1:], (end, "")], strict=True):
        lo, hi = max(at, start), min(following[0], end)
        if hi > lo:
            seconds[state] += (hi - lo).total_seconds()
    return AgentTime(
        agent_id=agent_id,
        available_s=seconds[AgentState.AVAILABLE],
        reserved_s=seconds[AgentState.RESERVED],
        on_call_s=seconds[AgentState.ON_CALL],
        wrap_up_s=seconds[AgentState.WRAP_UP],
        not_ready_s=seconds[AgentState.NOT_READY],
    )
