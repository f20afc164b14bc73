"""Turn orders into card views and replies (presentation only; no decisions here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.catalog import Catalog
from bot.domain import eta
from bot.stockview import servable
from messages.cards import LineView, OrderCardView, order_card
from storage.models import Customer, Order, OrderLine, OrderStatus, Shipment


@dataclass(frozen=True)
class ChatLinks:
    """Links a reply may carry: an order's customer tracking page (to forward to the shop)
    and the managers' dashboard (signed)."""

    tracking: Callable[[str], str]
    dashboard: Callable[[], str]


CARD_STATE = {
    OrderStatus.draft: "open", OrderStatus.on_hold: "held", OrderStatus.cancelled: "cancelled",
}


def promise_text(promised: datetime | None, now: datetime | None = None,
                 within: float | None = None) -> str:
    if promised is None:
        return ""
    now = now or datetime.now(UTC)
    return (f"{eta.describe(promised, now, within)}，"
            f"还剩{eta.countdown_hours(promised, now)}小时")


async def promise_share(order: Order, cat: Catalog) -> float | None:
    """The lowest learnt within-window share among the order's shipments (bot/waves.py)."""
    if not cat.transit.waves:
        return None
    at = order.confirmed_at or order.created_at
    ships = await Shipment.filter(order_id=order.id).values_list("carrier", "warehouse_id")
    shares = [cat.promise_share(c, w, order.province or "", order.city or "", at)
              for c, w in ships if c]
    known = [x for x in shares if x is not None]
    return min(known) if known else None


async def order_view(order: Order, cat: Catalog, task_id: str, note: str = ""
                     ) -> OrderCardView:
    customer = await Customer.get(id=order.customer_id)
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    avail = await servable([ln.sku for ln in lines], cat, order.campaign)
    # Credit left once this order counts: drafts are not charged until confirmed.
    charged = order.status not in (OrderStatus.draft, OrderStatus.on_hold,
                                   OrderStatus.cancelled)
    left_d = customer.credit_limit - customer.exposure - (Decimal(0) if charged else order.total)
    problems = [g["message"] for g in order.gates or [] if not g["ok"]]
    return OrderCardView(
        no=order.no, customer=customer.name,
        lines=[LineView(ln.sku, ln.name, ln.qty, avail.get(ln.sku, 0)) for ln in lines],
        total=f"{order.total:,.2f}", credit_left=f"{left_d:,.2f}",
        promise=promise_text(order.promised_at, within=await promise_share(order, cat)),
        problems=problems,
        state=CARD_STATE.get(order.status, "confirmed"), task_id=task_id, note=note)


async def order_card_json(order: Order, cat: Catalog, task_id: str, note: str = "") -> dict:
    return order_card(await order_view(order, cat, task_id, note))
