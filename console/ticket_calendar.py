"""The business calendar that SLA deadlines are counted on: working days in the center's time zone.

A working day is Monday to Friday, minus public holidays, plus make-up working days (the Chinese
调休 weekends on which offices work to bridge a holiday). Holidays win over the weekday rule and a
make-up day wins over the weekend; a date listed as both is refused.

**The SLA rule.** A ticket's deadline is the *end* (23:59:59 local time) of the Nth working day
*after* the local date on which it was submitted: the day of submission never counts, whatever the
hour. A complaint (15 working days) submitted on Friday 2026-09-18 at 09:00 in Asia/Shanghai is
due on 2026-10-15 at 23:59:59 +08:00 — National Day (1–7 October) and Mid-Autumn (25 September) do not
count; the make-up Sunday 20 September and Saturday 10 October do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_END_OF_DAY = time(23, 59, 59)
_HORIZON_DAYS = 3660  # counting more than ten years of days means a broken calendar, not a long SLA


@dataclass(frozen=True)
class WorkingCalendar:
    timezone: str = "Asia/Shanghai"  # IANA
    holidays: frozenset[date] = field(default_factory=frozenset)  # local dates off, even on a weekday
    makeup_days: frozenset[date] = field(default_factory=frozenset)  # local weekend dates worked (调休)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}; use an IANA name such as 'Asia/Shanghai'") from None
        both = sorted(self.holidays & self.makeup_days)
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"{listed}: listed both as a holiday and as a make-up working day; keep one")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_date(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError(f"refusing a naive datetime {at.isoformat()}; pass a timezone-aware one")
        return at.astimezone(self.zone).date()

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The ``n``-th working day strictly after ``day`` (``n`` ≥ 1)."""
        if n < 1:
            raise ValueError(f"the number of working days must be at least 1, got {n}")
        current, counted = day, 0
        for _ in range(_HORIZON_DAYS):
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
                if counted == n:
                    return current
        raise ValueError(f"no {n} working days within {_HORIZON_DAYS} days of {day.isoformat()}; check the calendar")

    def deadline(self, submitted_at: datetime, working_days: int) -> datetime:
        """End of the ``working_days``-th working day after the local submission date (aware, local zone)."""
        due = self.nth_working_day_after(self.local_date(submitted_at), working_days)
        return datetime.combine(due, _END_OF_DAY, tzinfo=self.zone)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]`` (0 when ``end`` is not after ``start``)."""
        days = (end - start).days
        return sum(1 for k in range(1, days + 1) if self.is_working_day(start + timedelta(days=k)))


def calendar_from(
    *, timezone: str = "Asia/Shanghai", holidays: Iterable[date | str] = (), makeup_days: Iterable[date | str] = ()
) -> WorkingCalendar:
    """``calendar_from(holidays=["2026-10-01", ...], makeup_days=["2026-09-20"])``; ISO dates or dates."""

    def dates(values: Iterable[date | str], what: str) -> frozenset[date]:
        out = set()
        for v in values:
            if isinstance(v, date):
                out.add(v)
                continue
            try:
                out.add(date.fromisoformat(str(v)))
            except ValueError:
                raise ValueError(f"{what}: {v!r} is not a date; write YYYY-MM-DD, e.g. 2026-10-01") from None
        return frozenset(out)

    return WorkingCalendar(
        timezone=timezone, holidays=dates(holidays, "holidays"), makeup_days=dates(makeup_days, "makeup_days")
    )
