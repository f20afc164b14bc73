"""Turn orders into card views and replies (presentation only; no decisions here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.catalog import Catalog
from bot.domain import eta
from bot.domain.fmt import amount
from bot.stockview import servable
from messages.cards import LineView, OrderCardView, order_card
from storage.models import Customer, Order, OrderLine, OrderStatus


@dataclass(frozen=True)
class ChatLinks:
    """Links a reply may carry: an order's customer tracking page (to forward to the shop)
    and the managers' dashboard (signed)."""

    tracking: Callable[[str], str]
    dashboard: Callable[[], str]


CARD_STATE = {
    OrderStatus.draft: "open", OrderStatus.on_hold: "held", OrderStatus.cancelled: "cancelled",
}


def promise_text(promised: datetime | None, now: datetime | None = None) -> str:
    if promised is None:
        return ""
    now = now or datetime.now(UTC)
    return f"{eta.describe(promised, now)}，还剩{eta.countdown_hours(promised, now)}小时"


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
        total=amount(order.total), credit_left=amount(left_d),
        promise=promise_text(order.promised_at), problems=problems,
        state=CARD_STATE.get(order.status, "confirmed"), task_id=task_id, note=note)


async def order_card_json(order: Order, cat: Catalog, task_id: str, note: str = "") -> dict:
    return order_card(await order_view(order, cat, task_id, note))
