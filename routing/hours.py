"""Business hours and holidays of a queue: is it open at a moment, and when does it open next.

Hours are local wall-clock intervals per weekday in the queue's IANA time zone, ``[open, close)``
(the opening minute is open, the closing minute is closed; ``24:00`` closes at midnight). A holiday
closes the queue for the whole local date. Daylight-saving changes follow ``zoneinfo``: an opening
time that does not exist on the day the clocks go forward is taken as the instant after the gap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_HORIZON_DAYS = 400  # a queue that does not open within this many days counts as never opening


@dataclass(frozen=True)
class BusinessHours:
    timezone: str  # IANA, e.g. "Asia/Shanghai"
    weekly: Mapping[int, tuple[tuple[int, int], ...]]  # weekday (0 = Monday) → [(open, close)] in minutes
    holidays: frozenset[date] = field(default_factory=frozenset)  # local dates, closed all day

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}; use an IANA name such as 'Asia/Shanghai'") from None
        for day, intervals in self.weekly.items():
            if day not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), got {day!r}")
            for start, end in intervals:
                if not 0 <= start < end <= 24 * 60:
                    raise ValueError(f"weekday {day}: an interval must open before it closes, got {start}-{end} min")

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        return any(start <= minute < end for start, end in self.weekly.get(local.weekday(), ()))

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` if open, else the next moment the queue opens (timezone-aware, in the queue's zone);
        ``None`` if it does not open within 400 days."""
        if self.is_open(at):
            return at
        zone = ZoneInfo(self.timezone)
        today = at.astimezone(zone).date()
        for offset in range(_HORIZON_DAYS):
            day = today + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, _ in sorted(self.weekly.get(day.weekday(), ())):
                opening = datetime.combine(day, time(start // 60, start % 60), tzinfo=zone)
                if opening > at:
                    return opening
        return None


def parse_hours(*, timezone: str, weekly: Mapping[str, str], holidays: Iterable[date | str] = ()) -> BusinessHours:
    """``parse_hours(timezone="Asia/Shanghai", weekly={"mon-fri": "08:00-20:00", "sat":
    "09:00-12:00,13:00-17:00"}, holidays=["2026-10-01"])``; days not named are closed."""
    days: dict[int, list[tuple[int, int]]] = {}
    for key, text in weekly.items():
        first, _, last = key.lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"bad weekday {key!r}; use mon..sun or a range such as 'mon-fri'")
        lo, hi = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        for part in text.split(","):
            match = _INTERVAL.match(part.strip())
            if match is None:
                raise ValueError(f"{key}: bad interval {part!r}; write HH:MM-HH:MM, e.g. '08:00-20:00'")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if m1 > 59 or m2 > 59:
                raise ValueError(f"{key}: bad minutes in {part!r}; minutes go from 00 to 59")
            for day in range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(hi + 1)]:
                days.setdefault(day, []).append((h1 * 60 + m1, h2 * 60 + m2))
    dates = frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in holidays)
    return BusinessHours(timezone=timezone, weekly={d: tuple(sorted(v)) for d, v in days.items()}, holidays=dates)
