"""The business calendar and SLA deadlines: weekends, holidays, make-up days, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from console.ticket_calendar import WorkingCalendar, calendar_from
from console.ticket_templates import load_catalog

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLAIN = WorkingCalendar()  # Monday to Friday, no holidays
CHINA_2026 = load_catalog().working_calendar()  # the bundled templates file


def at(y: int, m: int, d: int, hh: int = 9, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(y, m, d, hh, 0, tzinfo=zone)


def test_weekdays_work_and_weekends_do_not() -> None:
    week = [date(2026, 11, 30) + timedelta(days=k) for k in range(7)]  # Monday .. Sunday
    assert [PLAIN.is_working_day(d) for d in week] == [True] * 5 + [False] * 2


def test_deadline_is_the_end_of_the_nth_working_day_after_submission() -> None:
    # submitted Monday: Tue, Wed, Thu, Fri, Mon → due Monday 7 December at 23:59:59 local
    due = PLAIN.deadline(at(2026, 11, 30), 5)
    assert due == datetime(2026, 12, 7, 23, 59, 59, tzinfo=SHANGHAI)
    assert due.utcoffset() == timedelta(hours=8)
    # the hour of submission does not matter, the submission day never counts
    assert PLAIN.deadline(at(2026, 11, 30, 0), 5) == PLAIN.deadline(at(2026, 11, 30, 23), 5) == due


def test_weekend_submission_counts_from_monday() -> None:
    assert PLAIN.deadline(at(2026, 12, 5), 1).date() == date(2026, 12, 7)  # Saturday → Monday
    assert PLAIN.deadline(at(2026, 12, 6), 5).date() == date(2026, 12, 11)  # Sunday → Friday


def test_holidays_are_skipped_and_makeup_days_count() -> None:
    cal = calendar_from(holidays=["2026-12-02"], makeup_days=["2026-12-05"])
    assert not cal.is_working_day(date(2026, 12, 2))  # a Wednesday off
    assert cal.is_working_day(date(2026, 12, 5))  # a Saturday worked
    # Monday 30 Nov + 5: Tue 1, (Wed 2 off), Thu 3, Fri 4, Sat 5 (make-up), Mon 7
    assert cal.deadline(at(2026, 11, 30), 5).date() == date(2026, 12, 7)
    # without the make-up day it would be Tuesday 8
    assert calendar_from(holidays=["2026-12-02"]).deadline(at(2026, 11, 30), 5).date() == date(2026, 12, 8)


def test_complaint_deadline_crosses_the_national_day_week() -> None:
    # Friday 18 Sep 2026, 15 working days: Sun 20 (make-up), 21–24, [25–27 Mid-Autumn], 28–30,
    # [1–7 Oct National Day], 8, 9, Sat 10 (make-up), 12, 13, 14, 15
    due = CHINA_2026.deadline(at(2026, 9, 18), 15)
    assert due == datetime(2026, 10, 15, 23, 59, 59, tzinfo=SHANGHAI)
    assert CHINA_2026.working_days_between(date(2026, 9, 18), due.date()) == 15
    # submitted on the last day before the holiday: the first working day is 8 October
    assert CHINA_2026.deadline(at(2026, 9, 30), 1).date() == date(2026, 10, 8)


def test_spring_festival_makeup_saturdays() -> None:
    assert CHINA_2026.is_working_day(date(2026, 2, 14)) and CHINA_2026.is_working_day(date(2026, 2, 28))
    assert not any(CHINA_2026.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    # Friday 13 Feb + 2 working days: Sat 14 (make-up), then Tue 24 after nine days off
    assert CHINA_2026.deadline(at(2026, 2, 13), 2).date() == date(2026, 2, 24)


def test_local_date_decides_not_utc() -> None:
    # 2026-11-30 20:00 UTC is already Tuesday 1 December 04:00 in Shanghai
    late = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert PLAIN.deadline(late, 1).date() == date(2026, 12, 2)
    assert WorkingCalendar(timezone="UTC").deadline(late, 1).date() == date(2026, 12, 1)


def test_no_dst_in_shanghai_and_dst_zones_keep_local_end_of_day() -> None:
    # Asia/Shanghai has no daylight saving: every deadline is +08:00
    offsets = {PLAIN.deadline(at(2026, 1, 5), n).utcoffset() for n in range(1, 260, 7)}
    assert offsets == {timedelta(hours=8)}
    # a zone with DST (clocks go forward on Sunday 29 March 2026): still 23:59:59 local on both sides
    paris = WorkingCalendar(timezone="Europe/Paris")
    thursday = at(2026, 3, 26, zone=ZoneInfo("Europe/Paris"))
    before, after = paris.deadline(thursday, 1), paris.deadline(thursday, 2)  # Friday 27, Monday 30
    assert before.time() == after.time() == time(23, 59, 59)
    assert before.utcoffset() == timedelta(hours=1) and after.utcoffset() == timedelta(hours=2)


def test_bad_calendars_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        WorkingCalendar(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="both as a holiday and as a make-up working day"):
        calendar_from(holidays=["2026-10-10"], makeup_days=["2026-10-10"])
    with pytest.raises(ValueError, match="write YYYY-MM-DD"):
        calendar_from(holidays=["10/01/2026"])
    with pytest.raises(ValueError, match="at least 1"):
        PLAIN.deadline(at(2026, 12, 1), 0)
    with pytest.raises(ValueError, match="naive"):
        PLAIN.deadline(datetime(2026, 12, 1, 9, 0), 1)
    every_day_off = calendar_from(holidays=[date(2026, 1, 1) + timedelta(days=k) for k in range(4000)])
    with pytest.raises(ValueError, match="check the calendar"):
        every_day_off.deadline(at(2025, 12, 31), 1)
