"""Business hours and holidays: boundaries, time zones, the next opening, and the engine refusing
calls to a closed queue (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from routing.engine import RoutingEngine
from routing.hours import parse_hours
from routing.models import CallStatus, QueuedCall, QueueSpec, RefusalReason, Refused, VoiceAction
from tests.routing.conftest import ManualClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = parse_hours(
    timezone="Asia/Shanghai",
    weekly={"mon-fri": "08:00-20:00", "sat": "09:00-12:00,13:00-17:00"},
    holidays=["2026-10-01", date(2026, 10, 2)],
)


def local(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def test_opening_minute_is_open_and_closing_minute_is_closed() -> None:
    assert not HOURS.is_open(local(2026, 11, 23, 7, 59, 59))  # a Monday
    assert HOURS.is_open(local(2026, 11, 23, 8, 0))
    assert HOURS.is_open(local(2026, 11, 23, 19, 59, 59))
    assert not HOURS.is_open(local(2026, 11, 23, 20, 0))
    assert not HOURS.is_open(local(2026, 11, 28, 12, 30))  # Saturday lunch break
    assert not HOURS.is_open(local(2026, 11, 29, 10, 0))  # Sunday is not named: closed


def test_hours_are_local_to_the_queue_time_zone() -> None:
    assert HOURS.is_open(datetime(2026, 11, 23, 0, 30, tzinfo=UTC))  # 08:30 in Shanghai
    assert not HOURS.is_open(datetime(2026, 11, 23, 12, 30, tzinfo=UTC))  # 20:30 in Shanghai


def test_holidays_close_the_whole_day_and_the_next_opening_skips_them() -> None:
    assert not HOURS.is_open(local(2026, 10, 1, 10, 0))  # a Thursday, but a holiday
    assert HOURS.next_opening(local(2026, 9, 30, 21, 0)) == local(2026, 10, 3, 9, 0)  # Saturday


def test_next_opening() -> None:
    assert HOURS.next_opening(local(2026, 11, 23, 10, 0)) == local(2026, 11, 23, 10, 0)  # open now
    assert HOURS.next_opening(local(2026, 11, 23, 6, 0)) == local(2026, 11, 23, 8, 0)
    assert HOURS.next_opening(local(2026, 11, 27, 20, 0)) == local(2026, 11, 28, 9, 0)  # Fri → Sat
    assert HOURS.next_opening(local(2026, 11, 28, 12, 0)) == local(2026, 11, 28, 13, 0)
    assert HOURS.next_opening(local(2026, 11, 28, 17, 0)) == local(2026, 11, 30, 8, 0)  # Sat → Mon
    weekend = parse_hours(timezone="UTC", weekly={"sat-sun": "00:00-24:00"})
    assert weekend.is_open(datetime(2026, 11, 29, 23, 59, tzinfo=UTC))
    assert weekend.next_opening(datetime(2026, 11, 30, 0, 0, tzinfo=UTC)) == datetime(2026, 12, 5, tzinfo=UTC)
    never = parse_hours(timezone="UTC", weekly={})
    assert never.next_opening(datetime(2026, 11, 30, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({"monday": "08:00-20:00"}, "bad weekday 'monday'; use mon..sun"),
        ({"mon": "8-20"}, "bad interval '8-20'; write HH:MM-HH:MM"),
        ({"mon": "20:00-08:00"}, "an interval must open before it closes"),
        ({"mon": "08:75-09:00"}, "minutes go from 00 to 59"),
    ],
)
def test_bad_hours_are_refused_with_the_fix(weekly: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(timezone="Asia/Shanghai", weekly=weekly)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        parse_hours(timezone="Mars/Base", weekly={})


def test_a_closed_queue_refuses_calls_with_the_next_opening(db: Engine) -> None:
    clock = ManualClock(local(2026, 11, 23, 7, 0))  # Monday 07:00 in Shanghai
    acd = RoutingEngine(engine=db, clock=clock, hours={"lost_zh": HOURS})
    acd.save_queue(queue=QueueSpec(queue_id="lost_zh", language="zh"))
    acd.save_queue(queue=QueueSpec(queue_id="always", language="zh"))
    refused = acd.enqueue(call_id="early", queue_id="lost_zh")
    assert refused == Refused(
        call_id="early",
        queue_id="lost_zh",
        reason=RefusalReason.CLOSED,
        action=VoiceAction.PLAY_MESSAGE_AND_HANG_UP,
        opens_at=local(2026, 11, 23, 8, 0),
    )
    assert acd.waiting_calls() == []  # nothing was stored
    assert isinstance(acd.enqueue(call_id="other", queue_id="always"), QueuedCall)  # no hours: always open
    clock.advance(3600)
    queued = acd.enqueue(call_id="early", queue_id="lost_zh")  # the caller tries again at 08:00
    assert isinstance(queued, QueuedCall) and queued.status is CallStatus.WAITING
