"""The delivery promise: warehouse cut-off, pick/pack time, carrier transit, shipping calendar.

Orders confirmed by a warehouse's cut-off on a shipping day leave that day, once picked and
packed; later ones leave at the next shipping day's cut-off. The promise is the departure
plus the lane's transit hours, rounded up to the hour; an arrival in the night is promised
for the end of the next morning round (11:00).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

from bot.domain import fmt
from bot.domain.rules import PromiseConfig
from bot.domain.vocab import CST

MORNING_ROUND_END = time(11, 0)
LAST_DELIVERY = time(20, 0)
FIRST_DELIVERY = time(9, 0)


def is_shipping_day(day: date, cfg: PromiseConfig) -> bool:
    return day.isoweekday() in cfg.workdays and day not in cfg.holidays


def departure(confirmed_at: datetime, cutoff: time, cfg: PromiseConfig) -> datetime:
    """When the parcel leaves the warehouse."""
    local = confirmed_at.astimezone(CST)
    day = local.date()
    if is_shipping_day(day, cfg) and local.time() <= cutoff:
        ready = local + timedelta(hours=cfg.pick_pack_hours)
        return max(ready, datetime.combine(day, cutoff, CST))
    for _ in range(60):
        day += timedelta(days=1)
        if is_shipping_day(day, cfg):
            return datetime.combine(day, cutoff, CST)
    raise ValueError("promise.workdays/holidays leave no shipping day in the next 60 days")


def promise(confirmed_at: datetime, cutoff: time, transit: float, cfg: PromiseConfig) -> datetime:
    """The promised delivery time (aware, Asia/Shanghai)."""
    arrive = departure(confirmed_at, cutoff, cfg) + timedelta(hours=transit)
    arrive = _round_up_hour(arrive)
    if arrive.time() > LAST_DELIVERY:
        return datetime.combine(arrive.date() + timedelta(days=1), MORNING_ROUND_END, CST)
    if arrive.time() < FIRST_DELIVERY:
        return datetime.combine(arrive.date(), MORNING_ROUND_END, CST)
    return arrive


def departure_day(confirmed_at: datetime, cutoff: time, cfg: PromiseConfig) -> date:
    """The planned departure's date (China time), which learnt waves are relative to."""
    return departure(confirmed_at, cutoff, cfg).astimezone(CST).date()


def promise_on_wave(confirmed_at: datetime, cutoff: time, cfg: PromiseConfig,
                    minute: int) -> datetime | None:
    """The learnt promise: `minute` after the planned departure day's midnight (None when
    that would come before the departure itself: the caller falls back to transit hours)."""
    leave = departure(confirmed_at, cutoff, cfg)
    day = leave.astimezone(CST).date()
    promised = datetime.combine(day, time(0), CST) + timedelta(minutes=minute)
    return promised if promised > leave else None


def _round_up_hour(t: datetime) -> datetime:
    base = t.replace(minute=0, second=0, microsecond=0)
    return base if base == t else base + timedelta(hours=1)


def countdown_hours(promised: datetime, now: datetime) -> int:
    """Whole hours left until the promise (never negative)."""
    return max(0, math.ceil((promised - now).total_seconds() / 3600))


SURE_SHARE = 0.8  # below this learnt within-window share, the card says how sure it is


def describe(promised: datetime, now: datetime, within: float | None = None) -> str:
    """预计明天15:00前送达 — the promise in the words a salesperson uses; where the learnt
    share of deliveries within the window is low, it says so (约6成把握)."""
    p, n = promised.astimezone(CST), now.astimezone(CST)
    days = (p.date() - n.date()).days
    word = {0: "今天", 1: "明天", 2: "后天"}.get(days, fmt.day(p))
    text = f"预计{word}{p:%H:%M}前送达"
    if within is not None and within < SURE_SHARE:
        text += f"（约{max(1, round(within * 10))}成把握）"
    return text
