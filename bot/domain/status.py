"""The order's states (bot/domain/orders.py says which moves are legal; the words people
read are in bot/domain/vocab.py). Stored as these values in orders.status and
shipments.status."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    draft = "draft"
    confirmed = "confirmed"
    allocated = "allocated"
    shipped = "shipped"
    in_transit = "in_transit"
    out_for_delivery = "out_for_delivery"
    delivered = "delivered"
    on_hold = "on_hold"
    cancelled = "cancelled"
    exception = "exception"
