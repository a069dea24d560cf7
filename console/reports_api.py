"""Reports for supervisors and admins: calls and agent state time per hour, day or month.

Two sources, each counted by the moment it belongs to (see ``routing/reports.py`` for the rules):

* the **voicebot's calls** (table ``calls``), by ``started_at``: every call the bot took, split
  into *bot only* (never put in an ACD queue) and *handed off* (a ``queued_calls`` row with the same
  call id exists);
* the **ACD's outcomes** (``KpiReports.outcomes``), by enqueue time: offered, answered, abandoned,
  short abandons, voicemail, service level, ASA and AHT; and each agent's state time, clipped to the
  period.

Periods are the contact center's local hours, days and months, in the business calendar's time
zone (``calendar.timezone`` of the ticket templates, Asia/Shanghai by default), so a "day" is the
airport's day, not a UTC one. ``since`` is inclusive, ``until`` exclusive; a time without a zone
is local. ``format=csv`` returns the same rows as a CSV file.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.auth import Staff, require
from console.report_periods import Period, ReportError, next_period, period_label, period_starts, resolve_range
from routing.kpi import AgentTime, CallOutcome, agent_kpis, queue_kpis
from routing.reports import KpiReports
from routing.tables import QueuedCallRecord, QueueRecord
from skycall.storage.base import utcnow
from voicebot.tables import CallRecord

router = APIRouter(prefix="/api/reports", tags=["reports"])
Supervisor = Annotated[Staff, Depends(require("supervisor"))]  # admins pass too
Format = Literal["json", "csv"]
STATES = ("available", "reserved", "on_call", "wrap_up", "not_ready")


class CallsRow(BaseModel):
    start: datetime
    label: str
    bot_calls: int | None  # None when the report is for one queue: bot-only calls have no queue
    bot_only: int | None
    handed_off: int
    calls: int
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    voicemail: int
    missed_calls: int
    answer_rate: float | None
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    longest_wait_s: float | None


class CallsReport(BaseModel):
    period: Period
    timezone: str
    since: datetime
    until: datetime
    queue: str | None
    queues: list[str]
    service_target_s: float
    rows: list[CallsRow]
    total: CallsRow


class AgentRow(BaseModel):
    start: datetime | None  # None in the totals
    label: str
    agent_id: str
    available_s: float
    reserved_s: float
    on_call_s: float
    wrap_up_s: float
    not_ready_s: float
    answered: int
    aht_s: float | None
    occupancy: float | None


class AgentsReport(BaseModel):
    period: Period
    timezone: str
    since: datetime
    until: datetime
    agents: list[str]
    rows: list[AgentRow]
    totals: list[AgentRow]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.ticket_catalog.calendar.timezone)


def _now(request: Request) -> datetime:
    """The time from ``app.state.clock`` (as sign-in and the audit log read it; tests move it)."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock()


def _sessions(request: Request) -> sessionmaker[Session] | None:
    sessions: sessionmaker[Session] | None = request.app.state.sessions
    return sessions


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at  # SQLite returns naive UTC


def _bucket(starts: list[datetime], at: datetime) -> int:
    return bisect.bisect_right(starts, at) - 1


def _bot_calls(sessions: sessionmaker[Session], since: datetime, until: datetime) -> list[tuple[datetime, str | None]]:
    """(started at, queue the call was handed to or None) of every bot call started in the range."""
    C, Q = CallRecord, QueuedCallRecord
    stmt = (
        select(C.started_at, Q.queue_id)
        .outerjoin(Q, Q.id == C.id)
        .where(C.started_at >= since.astimezone(UTC), C.started_at < until.astimezone(UTC))
    )
    with sessions() as db:
        return [(_utc(at), queue) for at, queue in db.execute(stmt)]


def _calls_row(
    start: datetime, label: str, outcomes: list[CallOutcome], bot: list[str | None], queue: str | None, target: float
) -> CallsRow:
    k = queue_kpis(outcomes=outcomes, service_target_s=target)
    handed = sum(1 for q in bot if q is not None and (queue is None or q == queue))
    only = None if queue is not None else sum(1 for q in bot if q is None)
    return CallsRow(
        start=start,
        label=label,
        bot_calls=None if only is None else only + handed,
        bot_only=only,
        handed_off=handed,
        calls=k.calls,
        offered=k.offered,
        answered=k.answered,
        abandoned=k.abandoned,
        short_abandoned=k.short_abandoned,
        voicemail=k.voicemail,
        missed_calls=k.missed_calls,
        answer_rate=k.answer_rate,
        service_level=k.service_level,
        asa_s=k.asa_s,
        aht_s=k.aht_s,
        longest_wait_s=k.longest_wait_s,
    )


def calls_report(
    sessions: sessionmaker[Session],
    *,
    period: Period,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    queue: str | None = None,
    now: datetime | None = None,
) -> CallsReport:
    reports = KpiReports(sessions=sessions, clock=lambda: now or utcnow())
    starts = period_starts(since, until, period, zone)
    with sessions() as db:
        queues = list(db.scalars(select(QueueRecord.id).order_by(QueueRecord.id)))
    if queue is not None and queue not in queues:
        raise ReportError(
            "unknown_queue", f"there is no queue {queue!r}; choose one of {', '.join(queues) or '(none yet)'}"
        )
    outcomes: dict[int, list[CallOutcome]] = defaultdict(list)
    for o in reports.outcomes(since=since, until=until, queue_id=queue):
        outcomes[_bucket(starts, o.enqueued_at)].append(o)
    bot: dict[int, list[str | None]] = defaultdict(list)
    for at, handed_to in _bot_calls(sessions, since, until):
        bot[_bucket(starts, at)].append(handed_to)
    target = reports.service_target_s
    rows = [_calls_row(s, period_label(s, period), outcomes[i], bot[i], queue, target) for i, s in enumerate(starts)]
    every = [o for i in sorted(outcomes) for o in outcomes[i]]
    total = _calls_row(since, "total", every, [q for i in sorted(bot) for q in bot[i]], queue, target)
    return CallsReport(
        period=period,
        timezone=zone.key,
        since=since,
        until=until,
        queue=queue,
        queues=queues,
        service_target_s=target,
        rows=rows,
        total=total,
    )


def _agent_row(start: datetime | None, label: str, time_: AgentTime, outcomes: list[CallOutcome]) -> AgentRow:
    k = agent_kpis(agent_id=time_.agent_id, outcomes=outcomes, time=time_)
    return AgentRow(
        start=start,
        label=label,
        agent_id=time_.agent_id,
        available_s=time_.available_s,
        reserved_s=time_.reserved_s,
        on_call_s=time_.on_call_s,
        wrap_up_s=time_.wrap_up_s,
        not_ready_s=time_.not_ready_s,
        answered=k.answered,
        aht_s=k.aht_s,
        occupancy=k.occupancy,
    )


def _busy(row: AgentRow) -> bool:
    return row.answered > 0 or any(getattr(row, f"{s}_s") > 0 for s in STATES)


def agents_report(
    sessions: sessionmaker[Session],
    *,
    period: Period,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> AgentsReport:
    """State time and calls per agent per period (only periods in which the agent did something)."""
    reports = KpiReports(sessions=sessions, clock=lambda: now or utcnow())
    starts = period_starts(since, until, period, zone)
    outcomes = reports.outcomes(since=since, until=until)
    by_bucket: dict[int, list[CallOutcome]] = defaultdict(list)
    for o in outcomes:
        by_bucket[_bucket(starts, o.enqueued_at)].append(o)
    rows = []
    for i, start in enumerate(starts):
        lo, hi = max(start, since), min(next_period(start, period, zone), until)
        for _agent, spent in sorted(reports.agent_times(since=lo, until=hi).items()):
            row = _agent_row(start, period_label(start, period), spent, by_bucket[i])
            if _busy(row):
                rows.append(row)
    totals = [
        _agent_row(None, "total", spent, outcomes)
        for _, spent in sorted(reports.agent_times(since=since, until=until).items())
    ]
    totals = [t for t in totals if _busy(t)]
    return AgentsReport(
        period=period,
        timezone=zone.key,
        since=since,
        until=until,
        agents=[t.agent_id for t in totals],
        rows=rows,
        totals=totals,
    )


def _csv(rows: list[dict[str, Any]], name: str) -> Response:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),  # the BOM lets spreadsheet programs read the Chinese labels as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _stamp(period: Period, since: datetime, until: datetime) -> str:
    return f"{period}-{since:%Y%m%d}-{until:%Y%m%d}"


@router.get("/calls", response_model=CallsReport, responses={422: {}, 503: {}})
def calls(
    request: Request,
    _: Supervisor,
    period: Period = "day",
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    format: Format = "json",
) -> CallsReport | Response:
    """Calls per period: the bot's calls (bot only / handed off) and the ACD's outcomes and KPIs."""
    sessions = _sessions(request)
    if sessions is None:
        return _error(503, "starting", "the server is still starting; try again in a moment")
    zone = _zone(request)
    try:
        start, end = resolve_range(since, until, period, zone, now := _now(request))
        report = calls_report(sessions, period=period, since=start, until=end, zone=zone, queue=queue or None, now=now)
    except ReportError as exc:
        return _error(422, exc.code, str(exc))
    if format == "csv":
        rows = [r.model_dump(mode="json") for r in (*report.rows, report.total)]
        return _csv(rows, f"skycall-calls-{_stamp(period, start, end)}.csv")
    return report


@router.get("/agents", response_model=AgentsReport, responses={422: {}, 503: {}})
def agents(
    request: Request,
    _: Supervisor,
    period: Period = "day",
    since: datetime | None = None,
    until: datetime | None = None,
    format: Format = "json",
) -> AgentsReport | Response:
    """Seconds each agent spent in each state, calls answered, AHT and occupancy, per period."""
    sessions = _sessions(request)
    if sessions is None:
        return _error(503, "starting", "the server is still starting; try again in a moment")
    zone = _zone(request)
    try:
        start, end = resolve_range(since, until, period, zone, now := _now(request))
        report = agents_report(sessions, period=period, since=start, until=end, zone=zone, now=now)
    except ReportError as exc:
        return _error(422, exc.code, str(exc))
    if format == "csv":
        rows = [r.model_dump(mode="json") for r in (*report.rows, *report.totals)]
        return _csv(rows, f"skycall-agents-{_stamp(period, start, end)}.csv")
    return report
