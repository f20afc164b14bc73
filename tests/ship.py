"""Shipping orders in tests the way production does: ShippingService, with the sandbox
carrier issuing the e-waybills (no carrier has keys in these tests)."""

from __future__ import annotations

from typing import Any

from bot.shipping import ShippingService
from storage.models import Order, Shipment


async def ship_sandbox(service: Any, no: str, actor: str = "warehouse") -> Order:
    """Waybills from the sandbox carrier, then the ship transaction; the shipped order."""
    result = await ShippingService(service, {}).ship(no, actor)
    assert result.shipped, result.held
    return result.order


async def waybills(order: Order) -> list[str]:
    """The order's waybill numbers, by shipment seq."""
    rows = await Shipment.filter(order_id=order.id).order_by("seq")
    return [s.waybill_no or "" for s in rows]
