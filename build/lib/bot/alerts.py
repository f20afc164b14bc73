"""Scheduled notifications that no single state change causes: promises at risk, stuck
parcels, and the managers' daily report. Each finder returns domain events (bot/events.py);
the notifier turns them into outbox rows, whose dedup keys make a repeated run harmless
(one alert per promise, per silence, per day).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from bot import events as ev
from bot.domain.vocab import CST
from bot.tracking import StuckShipment
from storage.models import Order, OrderStatus

log = logging.getLogger(__name__)
Notify = Callable[[Sequence[Any]], Awaitable[None]]

# Not yet with the courier on the last mile: a promise can still slip.
AT_RISK = (OrderStatus.confirmed, OrderStatus.allocated, OrderStatus.shipped,
           OrderStatus.in_transit, OrderStatus.exception)
LOOK_BACK = timedelta(days=2)  # promises already missed are still told, but not old ones


async def delay_risks(now: datetime, hours: float) -> list[ev.DelayRisk]:
    """Orders whose promise is at most `hours` away (or recently passed) and whose parcel is
    not out for delivery yet."""
    rows = await Order.filter(
        status__in=AT_RISK, promised_at__lte=now + timedelta(hours=hours),
        promised_at__gt=now - LOOK_BACK,
    ).order_by("promised_at").values_list("no", "promised_at")
    return [ev.DelayRisk(no, promised) for no, promised in rows]


def stuck_events(found: Sequence[StuckShipment]) -> list[ev.ShipmentStuck]:
    return [ev.ShipmentStuck(s.order_no, s.shipment_id, s.waybill, s.carrier, s.status.value,
                             s.since, s.hours) for s in found]


def report_day(now: datetime, at: time) -> date | None:
    """The China-time day whose report is due at `now`: today once `at` has passed."""
    local = now.astimezone(CST)
    return local.date() if local.time() >= at else None


async def send(notify: Notify, events: Sequence[Any]) -> int:
    """Plan and enqueue `events` in one transaction; how many were handed over."""
    if not events:
        return 0
    async with in_transaction():
        await notify(events)
    return len(events)


def delay_job(notify: Notify, hours: float) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        n = await send(notify, await delay_risks(datetime.now(UTC), hours))
        if n:
            log.info("delay risk: %d order(s) told to their salespeople", n)

    return job


def stuck_handler(notify: Notify) -> Callable[[Sequence[StuckShipment]], Awaitable[None]]:
    """`build_scheduler(on_stuck=...)`: stuck shipments alert their salespeople."""
    async def on_stuck(found: Sequence[StuckShipment]) -> None:
        await send(notify, stuck_events(found))

    return on_stuck


def daily_job(notify: Notify, at: time) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        day = report_day(datetime.now(UTC), at)
        if day is not None:
            await send(notify, [ev.DailyReport(day)])

    return job
