"""JSON shapes of the public API (DESIGN.md §5). Times are ISO 8601 with +08:00."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.catalog import Catalog
from bot.domain.vocab import CST
from bot.ordering import OrderService, Outcome
from bot.stockview import by_warehouse
from bot.trackview import TrackingPageConfig
from storage.models import Customer, Order, OrderLine, OrderStatus, Shipment

SHIPPED = frozenset({OrderStatus.shipped, OrderStatus.in_transit, OrderStatus.out_for_delivery,
                     OrderStatus.delivered, OrderStatus.exception})


def iso(t: datetime | None) -> str | None:
    return t.astimezone(CST).isoformat(timespec="seconds") if t else None


def money(d: Decimal) -> float:
    return float(d.quantize(Decimal("0.01")))


async def order_json(order: Order, svc: OrderService, customer: Customer | None = None,
                     lines: list[OrderLine] | None = None,
                     shipments: list[Shipment] | None = None,
                     tracking: TrackingPageConfig | None = None) -> dict[str, Any]:
    """The order as the API shows it; rows the caller already holds are not read again."""
    cat = await svc.catalog.fresh()
    customer = customer or await Customer.get(id=order.customer_id)
    lines = lines if lines is not None else await OrderLine.filter(order_id=order.id
                                                                   ).order_by("id")
    shipments = sorted(shipments, key=lambda s: s.seq) if shipments is not None else (
        await Shipment.filter(order_id=order.id).order_by("seq"))
    return {
        "no": order.no,
        "status": order.status.value,
        "customer": {"code": customer.code, "name": customer.name},
        "channel": order.channel,
        "campaign": order.campaign,
        "lines": [{"sku": ln.sku, "name": ln.name, "qty": ln.qty,
                   "unit_price": money(ln.unit_price), "amount": money(ln.amount)}
                  for ln in lines],
        "total": money(order.total),
        "address": {"raw": order.address_raw, "province": order.province, "city": order.city,
                    "district": order.district, "adcode": order.adcode},
        "invoice": {"type": order.invoice_type, "tax_id": order.tax_id},
        "shipments": [_shipment(s, cat) for s in shipments],
        "promised_at": iso(order.promised_at),
        "gates": [{"code": g["code"], "ok": g["ok"], "message": g["message"]}
                  for g in order.gates or []],
        "credit_released_by": order.credit_released_by,
        "priority": order.priority,
        "created_at": iso(order.created_at),
        "confirmed_at": iso(order.confirmed_at),
        "shipped_at": iso(order.shipped_at),
        "tracking_url": tracking.url(order.no) if tracking and order.status in SHIPPED else None,
    }


def _shipment(s: Shipment, cat: Catalog) -> dict[str, Any]:
    code = cat.warehouse_codes.get(s.warehouse_id, "")
    wh = cat.warehouses.get(code)
    return {"seq": s.seq, "warehouse": code, "warehouse_name": wh.name if wh else "",
            "carrier": s.carrier, "waybill_no": s.waybill_no, "status": s.status.value,
            "reserved": s.reserved, "promised_at": iso(s.promised_at),
            "lines": [{"sku": ln["sku"], "qty": ln["qty"]} for ln in s.lines]}


async def outcome_json(result: Outcome, svc: OrderService,
                       tracking: TrackingPageConfig | None = None) -> dict[str, Any]:
    assert result.order is not None
    return await order_json(result.order, svc, result.customer, result.lines, result.shipments,
                            tracking)


async def stock_json(sku: str, cat: Catalog) -> dict[str, Any] | None:
    """Per warehouse: `safety_stock` is what the stock gate keeps back there (the larger of
    the row's own figure and the allocation rule's for a delivery in that warehouse's city),
    `servable` what an order can still take (bot/stockview.py)."""
    p = cat.products.get(sku)
    if p is None:
        return None
    whs = [{"warehouse": r.warehouse, "name": r.name,
            "kind": "virtual" if r.virtual else "physical", "on_hand": r.on_hand,
            "reserved": r.reserved, "available": r.available, "safety_stock": r.floor,
            "safety_stock_own": r.safety_stock, "servable": r.servable}
           for r in await by_warehouse(sku, cat)]
    physical = [w for w in whs if w["kind"] != "virtual"]
    return {"sku": p.sku, "name": p.name, "unit": p.unit, "warehouses": whs,
            "available": sum(w["available"] for w in physical),
            "servable": sum(w["servable"] for w in physical)}
