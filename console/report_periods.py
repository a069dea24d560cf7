"""The periods of a report: the contact center's local hours, days and months.

A report row covers one period that overlaps ``[since, until)``; the periods are aligned on the
local clock of the business calendar's zone (an hour steps on the UTC instant, so an hour is an hour
across a DST change; days and months start at local midnight). Times without a zone are local.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Period = Literal["hour", "day", "month"]
MAX_PERIODS = 800  # a month of hours (744), two years of days, 66 months


class ReportError(ValueError):
    """A report request the user has to change; the message says how."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def period_label(start: datetime, period: Period) -> str:
    return start.strftime({"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "month": "%Y-%m"}[period])


def period_floor(at: datetime, period: Period, zone: ZoneInfo) -> datetime:
    local = at.astimezone(zone)
    if period == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date() if period == "day" else local.date().replace(day=1)
    return datetime.combine(day, time(), zone)


def next_period(start: datetime, period: Period, zone: ZoneInfo) -> datetime:
    if period == "hour":  # step on the UTC instant: an hour is an hour across a DST change
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
    if period == "day":
        return datetime.combine(start.date() + timedelta(days=1), time(), zone)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return datetime.combine(date(year, month, 1), time(), zone)


def period_starts(since: datetime, until: datetime, period: Period, zone: ZoneInfo) -> list[datetime]:
    """The local starts of the periods that overlap ``[since, until)``."""
    starts = []
    at = period_floor(since, period, zone)
    while at < until:
        starts.append(at)
        if len(starts) > MAX_PERIODS:
            raise ReportError(
                "too_many_periods",
                f"that range has more than {MAX_PERIODS} {period}s; choose a shorter range or a longer period",
            )
        at = next_period(at, period, zone)
    return starts


def resolve_range(
    since: datetime | None, until: datetime | None, period: Period, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """Aware ``[since, until)``; by default today (hours), the last 7 days, or the last 12 months."""

    def aware(at: datetime) -> datetime:
        return at.replace(tzinfo=zone) if at.tzinfo is None else at

    end = aware(until) if until is not None else now
    if since is not None:
        start = aware(since)
    else:
        today = period_floor(end - timedelta(microseconds=1), "day", zone)
        if period == "hour":
            start = today
        elif period == "day":
            start = datetime.combine(today.date() - timedelta(days=6), time(), zone)
        else:
            first = today.date().replace(day=1)
            start = datetime.combine(first.replace(year=first.year - 1), time(), zone)
            start = next_period(start, "month", zone)
    if end <= start:
        raise ReportError("bad_range", f"until ({end.isoformat()}) must be after since ({start.isoformat()})")
    return start, end
