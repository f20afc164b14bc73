"""The delivery promise: cut-off, pick/pack, transit, calendar, and how it is said."""

from datetime import date, datetime, time, timedelta

from bot.config import PromiseConfig
from bot.domain.eta import CST, countdown_hours, departure, describe, promise

CFG = PromiseConfig(pick_pack_hours=2, workdays=frozenset({1, 2, 3, 4, 5, 6}))
WED = date(2026, 11, 25)  # a Wednesday


def at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), CST)


def test_before_cutoff_leaves_the_same_day_at_the_cutoff():
    assert departure(at(WED, 10), time(16), CFG) == at(WED, 16)


def test_just_before_cutoff_leaves_after_pick_and_pack():
    assert departure(at(WED, 15, 30), time(16), CFG) == at(WED, 17, 30)


def test_after_cutoff_leaves_at_the_next_days_cutoff():
    assert departure(at(WED, 16, 1), time(16), CFG) == at(WED + timedelta(days=1), 16)


def test_sunday_and_holidays_are_skipped():
    sat = date(2026, 11, 28)
    assert departure(at(sat, 18), time(16), CFG) == at(date(2026, 11, 30), 16)  # Sun skipped
    cfg = PromiseConfig(pick_pack_hours=2, workdays=CFG.workdays,
                        holidays=frozenset({date(2026, 11, 26)}))
    assert departure(at(WED, 18), time(16), cfg) == at(date(2026, 11, 27), 16)


def test_promise_adds_transit_and_rounds_up_to_the_hour():
    # leaves Wed 16:00, 20 h → Thu 12:00
    assert promise(at(WED, 9, 10), time(16), 20, CFG) == at(WED + timedelta(days=1), 12)
    # leaves 17:30, 18.5 h → Thu 12:00 exactly
    assert promise(at(WED, 15, 30), time(16), 18.5, CFG) == at(WED + timedelta(days=1), 12)
    assert promise(at(WED, 15, 30), time(16), 18.6, CFG) == at(WED + timedelta(days=1), 13)


def test_a_night_arrival_is_promised_for_the_morning_round():
    # leaves Wed 16:00, 10 h → 02:00 Thu → promised Thu 11:00
    assert promise(at(WED, 9), time(16), 10, CFG) == at(WED + timedelta(days=1), 11)
    # leaves 16:00, 5 h → 21:00 Wed → Thu 11:00
    assert promise(at(WED, 9), time(16), 5, CFG) == at(WED + timedelta(days=1), 11)


def test_promise_is_timezone_aware_whatever_the_input_zone():
    from datetime import UTC

    utc = at(WED, 10).astimezone(UTC)
    assert promise(utc, time(16), 20, CFG) == promise(at(WED, 10), time(16), 20, CFG)


def test_describe_and_countdown_in_the_words_of_a_salesperson():
    now = at(WED, 12)
    assert describe(at(WED + timedelta(days=1), 15), now) == "预计明天15:00前送达"
    assert describe(at(WED, 18), now) == "预计今天18:00前送达"
    assert describe(at(WED + timedelta(days=2), 11), now) == "预计后天11:00前送达"
    assert describe(at(date(2026, 12, 1), 11), now) == "预计12月1日11:00前送达"
    assert countdown_hours(at(WED + timedelta(days=1), 15), now) == 27
    assert countdown_hours(at(WED, 11), now) == 0
