"""Turn orders into card views and replies (presentation only; no decisions here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.catalog import Catalog
from bot.domain import credit, eta
from bot.domain.fmt import amount
from bot.domain.gates import destination
from bot.domain.vocab import carrier_name
from bot.stockview import servable
from integrations import geocode
from messages.cards import LineView, OrderCardView, order_card
from messages.facts import fmt_time
from storage.models import (
    Customer,
    Order,
    OrderLine,
    OrderLog,
    OrderStatus,
    Product,
    Shipment,
)


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
    if promised <= now:  # late: say so, never "还剩0小时"
        late = max(1, int((now - promised).total_seconds() // 3600))
        return f"原承诺{fmt_time(promised)}前送达，已超时{late}小时"
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


def progress_text(order: Order, now: datetime | None = None, within: float | None = None
                  ) -> str:
    """The order's time line in words: signed for when delivered, nothing once cancelled,
    otherwise the promise with its countdown."""
    if order.status == OrderStatus.delivered:
        return f"已签收（{fmt_time(order.delivered_at)}）" if order.delivered_at else "已签收"
    if order.status == OrderStatus.cancelled:
        return ""
    return promise_text(order.promised_at, now, within)


async def order_view(order: Order, cat: Catalog, task_id: str, note: str = ""
                     ) -> OrderCardView:
    customer = await Customer.get(id=order.customer_id)
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    place = geocode.parse(order.address_raw) if order.address_raw else None
    dest = destination(place) if place else None
    avail = await servable([ln.sku for ln in lines], cat, order.campaign, dest)
    # Credit left once this order counts: drafts are not charged until confirmed.
    charged = order.status not in (OrderStatus.draft, OrderStatus.on_hold,
                                   OrderStatus.cancelled)
    left_d = credit.left(customer.credit_limit, customer.exposure,
                         cat.settings.credit_tolerance) - (Decimal(0) if charged else order.total)
    bad = [g for g in order.gates or [] if not g["ok"]]
    asked = bool(bad) and await OrderLog.filter(order_id=order.id,
                                                action="request_release").exists()
    return OrderCardView(
        no=order.no, customer=customer.name,
        lines=[LineView(ln.sku, ln.name, ln.qty, avail.get(ln.sku, 0), amount(ln.unit_price))
               for ln in lines],
        total=amount(order.total), credit_left=amount(left_d),
        promise=progress_text(order, within=await promise_share(order, cat)),
        problems=[g["message"] for g in bad],
        state=CARD_STATE.get(order.status, "confirmed"), task_id=task_id, note=note,
        address=order.address_raw, shipments=await shipment_texts(order, lines, cat),
        invoice=invoice_text(order), credit_hold=any(g["code"] == "credit" for g in bad),
        release_asked=asked)


async def shipment_texts(order: Order, lines: list[OrderLine], cat: Catalog) -> list[str]:
    """Per shipment: the warehouse, the carrier and which lines it carries."""
    index = {ln.sku: i for i, ln in enumerate(lines, start=1)}
    names = {code: c.name for code, c in cat.settings.carriers.items()}
    out = []
    for s in await Shipment.filter(order_id=order.id).order_by("seq"):
        wh = cat.warehouses.get(cat.warehouse_codes.get(s.warehouse_id, ""))
        carrier = carrier_name(s.carrier, names)
        rows = sorted({index[x["sku"]] for x in s.lines or [] if x.get("sku") in index})
        which = f"（第{'、'.join(map(str, rows))}行）" if rows and len(index) > 1 else ""
        out.append(f"{wh.name if wh else '?'}·{carrier or '未定快递'}{which}")
    return out


def invoice_text(order: Order) -> str:
    if order.invoice_type == "专票":
        tail = order.tax_id[-4:] if order.tax_id else "缺"
        return f"专票（税号尾号{tail}）"
    return order.invoice_type


async def example_order() -> str:
    """An order message that works as written on this database: codes are unambiguous, and
    the customer's own address is inside the carriers' coverage."""
    c = await Customer.filter(active=True).order_by("code").first()
    p = await Product.filter(active=True).order_by("sku").first()
    where = (c.address if c and c.address else "杭州市西湖区文三路100号")
    return f"{c.code if c else 'C0001'} {p.sku if p else 'BRK00001'} x2 送{where}"


async def order_card_json(order: Order, cat: Catalog, task_id: str, note: str = "") -> dict:
    return order_card(await order_view(order, cat, task_id, note))
