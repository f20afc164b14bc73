"""Sandbox only: hand confirmed orders to the (sandbox) carrier after a delay, so that
`python bot.py` shows the whole lifecycle from chat order to 已签收 without a warehouse.

Orders go through `ShippingService.ship`: one a carrier refuses is held, and
`ShippingService.retry_due` tries it again, not this loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from bot.domain.orders import IllegalTransition
from bot.shipping import ShippingService
from storage.models import Order, OrderStatus
from storage.shipping_models import ShippingHold

log = logging.getLogger(__name__)


async def ship_due(shipping: ShippingService, delay: timedelta, now: datetime | None = None
                   ) -> int:
    """Ship every allocated order confirmed at least `delay` ago and not held; returns how many."""
    cutoff = (now or datetime.now(UTC)) - delay
    held = await ShippingHold.all().values_list("shipment__order_id", flat=True)
    due = await Order.filter(status=OrderStatus.allocated, confirmed_at__lte=cutoff).exclude(
        id__in=list(held)).order_by("-priority", "confirmed_at").values_list("no", flat=True)
    shipped = 0
    for no in due:
        try:
            result = await shipping.ship(str(no), "sandbox:auto")
        except IllegalTransition:  # shipped or cancelled meanwhile
            continue
        shipped += result.shipped
    return shipped


async def run(shipping: ShippingService, delay: timedelta, every: float = 30.0) -> None:
    while True:
        try:
            if n := await ship_due(shipping, delay):
                log.info("sandbox: %d orders handed to the sandbox carrier", n)
        except Exception:
            log.exception("sandbox auto-ship failed; trying again later")
        await asyncio.sleep(every)

