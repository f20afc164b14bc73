"""Sandbox only: hand confirmed orders to the (sandbox) carrier after a delay, so that
`python bot.py` shows the whole lifecycle from chat order to 已签收 without a warehouse."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.orders import IllegalTransition
from bot.ordering import OrderService
from storage.models import Order, OrderStatus

log = logging.getLogger(__name__)


async def ship_due(service: OrderService, waybills: Callable[[Any, Any], Awaitable[str]],
                   delay: timedelta, now: datetime | None = None) -> int:
    """Ship every allocated order confirmed at least `delay` ago; returns how many."""
    cutoff = (now or datetime.now(UTC)) - delay
    due = await Order.filter(status=OrderStatus.allocated, confirmed_at__lte=cutoff
                             ).order_by("-priority", "confirmed_at").values_list("no", flat=True)
    shipped = 0
    for no in due:
        try:
            await service.ship(str(no), "sandbox:auto", waybills)
            shipped += 1
        except IllegalTransition:  # shipped or cancelled meanwhile
            continue
    return shipped


async def run(service: OrderService, waybills: Callable[[Any, Any], Awaitable[str]],
              delay: timedelta, every: float = 30.0) -> None:
    while True:
        try:
            if n := await ship_due(service, waybills, delay):
                log.info("sandbox: %d orders handed to the sandbox carrier", n)
        except Exception:
            log.exception("sandbox auto-ship failed; trying again later")
        await asyncio.sleep(every)
