"""The order master view (智能订单主表) of one customer: credit, open orders, parcels in
transit, the last orders, the items they buy with stock now in their nearest warehouses,
and the invoice details on file. Chat (`查客户`) and `GET /api/customers/{code}` show it.

Every read goes through an index (orders.customer_id, order_lines.order_id,
shipments.order_id, tracking_events.shipment_id): a few hundred rows per customer, however
many orders the database holds (bench/customer_view.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.catalog import Catalog
from bot.domain import credit as credit_rule
from bot.domain.allocation import Destination, distance
from bot.domain.gates import destination
from bot.domain.invoice import invoice_problems
from bot.stockview import WarehouseStock, by_warehouse
from integrations import geocode
from storage.models import Customer, Order, OrderLine, OrderStatus, Shipment
from storage.tracking_models import TrackingEventRow

S = OrderStatus
PAYMENT_DAYS = 30  # a delivered order unpaid for longer than this is overdue
RECENT = 10
TOP_ITEMS = 5
NEAREST = 3
OPEN = (S.confirmed, S.allocated, S.shipped, S.in_transit, S.out_for_delivery, S.on_hold,
        S.exception)
MOVING = (S.shipped, S.in_transit, S.out_for_delivery, S.exception)
CHARGED = (S.confirmed, S.allocated, S.shipped, S.in_transit, S.out_for_delivery,
           S.delivered, S.exception)


@dataclass(frozen=True)
class Credit:
    limit: Decimal
    used: Decimal
    overdue: Decimal
    overdue_orders: int
    tolerance: float = 0.0  # [gates] credit_tolerance

    @property
    def left(self) -> Decimal:
        """What the credit gate still lets through (the same rule, tolerance included)."""
        return credit_rule.left(self.limit, self.used, self.tolerance)


@dataclass(frozen=True)
class OrderRow:
    no: str
    status: OrderStatus
    total: Decimal
    created_at: datetime
    promised_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Parcel:
    order_no: str
    seq: int
    warehouse: str
    carrier: str
    waybill_no: str
    status: OrderStatus
    promised_at: datetime | None
    latest: TrackingEventRow | None


@dataclass(frozen=True)
class TopItem:
    sku: str
    name: str
    qty: int
    orders: int
    stock: list[WarehouseStock] = field(default_factory=list)  # nearest warehouses first


@dataclass(frozen=True)
class CustomerView:
    customer: Customer
    credit: Credit
    open_orders: list[OrderRow]
    in_transit: list[Parcel]
    recent: list[OrderRow]
    top_items: list[TopItem]
    invoice_problems: list[str]


async def find(ref: str) -> list[Customer]:
    """Customers a code or a name points at: the exact one, else those whose name or alias
    contains the words (at most 10)."""
    ref = ref.strip()
    if not ref:
        return []
    exact = await Customer.filter(code=ref.upper()).first() or await Customer.filter(
        name=ref).first()
    if exact is not None:
        return [exact]
    found = await Customer.filter(name__icontains=ref).order_by("code").limit(10)
    if found:
        return list(found)
    rows = await Customer.filter(active=True).only("id", "code", "name", "aliases")
    ids = [c.id for c in rows if any(ref in a for a in c.aliases or [])][:10]
    return list(await Customer.filter(id__in=ids).order_by("code")) if ids else []


async def load(customer: Customer, cat: Catalog, now: datetime | None = None
               ) -> CustomerView:
    now = now or datetime.now(UTC)
    raw = await Order.filter(customer_id=customer.id).order_by("-id").values(
        "id", "no", "status", "total", "created_at", "promised_at", "delivered_at", "paid_at",
        "confirmed_at")
    orders = [OrderRow(r["no"], S(r["status"]), r["total"], r["created_at"], r["promised_at"],
                       r["delivered_at"]) for r in raw]
    due = now - timedelta(days=PAYMENT_DAYS)
    overdue = [r for r in raw if r["status"] == S.delivered and r["paid_at"] is None
               and r["delivered_at"] is not None and r["delivered_at"] < due]
    credit = Credit(customer.credit_limit, customer.exposure,
                    sum((r["total"] for r in overdue), Decimal("0.00")), len(overdue),
                    cat.settings.credit_tolerance)
    nos = {r["id"]: r["no"] for r in raw}
    return CustomerView(
        customer=customer, credit=credit,
        open_orders=[o for o in orders if o.status in OPEN],
        in_transit=await _parcels([r["id"] for r in raw if r["status"] in MOVING], nos, cat),
        # Drafts, and drafts cancelled before anyone confirmed them (a 修改 replaces its
        # draft), were never orders.
        recent=[o for o, r in zip(orders, raw, strict=True) if o.status != S.draft and not (
            o.status == S.cancelled and r["confirmed_at"] is None)][:RECENT],
        top_items=await _top_items([r["id"] for r in raw if r["status"] in CHARGED],
                                   customer, cat),
        invoice_problems=invoice_problems(customer.invoice_type, customer.tax_id,
                                          customer.bank, customer.account))


async def _parcels(order_ids: list[int], nos: dict[int, str], cat: Catalog) -> list[Parcel]:
    if not order_ids:
        return []
    ships = await Shipment.filter(order_id__in=order_ids, status__in=MOVING).order_by(
        "order_id", "seq")
    latest: dict[int, TrackingEventRow] = {}
    if ships:
        for ev in await TrackingEventRow.filter(
                shipment_id__in=[s.id for s in ships]).order_by("occurred_at", "id"):
            latest[ev.shipment_id] = ev
    return [Parcel(nos.get(s.order_id, ""), s.seq, cat.warehouse_codes.get(s.warehouse_id, ""),
                   s.carrier or "", s.waybill_no or "", s.status, s.promised_at,
                   latest.get(s.id)) for s in ships]


async def _top_items(order_ids: list[int], customer: Customer, cat: Catalog
                     ) -> list[TopItem]:
    if not order_ids:
        return []
    qty: dict[str, int] = defaultdict(int)
    seen: dict[str, set[int]] = defaultdict(set)
    names: dict[str, str] = {}
    for ln in await OrderLine.filter(order_id__in=order_ids).values("order_id", "sku", "name",
                                                                    "qty"):
        qty[ln["sku"]] += ln["qty"]
        seen[ln["sku"]].add(ln["order_id"])
        names[ln["sku"]] = ln["name"]
    top = sorted(qty, key=lambda s: (-len(seen[s]), -qty[s], s))[:TOP_ITEMS]
    near = nearest_warehouses(customer, cat)
    out = []
    for sku in top:
        rows = {r.warehouse: r for r in await by_warehouse(sku, cat, _dest(customer))}
        out.append(TopItem(sku, names[sku], qty[sku], len(seen[sku]),
                           [rows[w] for w in near if w in rows]))
    return out


def _dest(customer: Customer) -> Destination | None:
    place = geocode.parse(customer.address) if customer.address else None
    return destination(place) if place else None


def nearest_warehouses(customer: Customer, cat: Catalog) -> list[str]:
    """The physical warehouses closest to the customer's address (all, by code, without)."""
    pool = [w for w in cat.warehouses.values() if w.active and not w.virtual]
    dest = _dest(customer)
    if dest is None:
        return sorted(w.code for w in pool)[:NEAREST]
    return [w.code for w in sorted(pool, key=lambda w: (distance(w, dest), w.code))][:NEAREST]


def as_json(v: CustomerView, cat: Catalog, iso: Any, status_zh: dict[Any, str]
            ) -> dict[str, Any]:
    """The API's shape (handlers pass their time format and status words)."""
    c = v.customer

    def money(d: Decimal) -> float:
        return float(d.quantize(Decimal("0.01")))

    def order(o: OrderRow) -> dict[str, Any]:
        return {"no": o.no, "status": o.status.value, "status_zh": status_zh[o.status],
                "total": money(o.total), "created_at": iso(o.created_at),
                "promised_at": iso(o.promised_at), "delivered_at": iso(o.delivered_at)}

    def parcel(p: Parcel) -> dict[str, Any]:
        ev = p.latest
        return {"order_no": p.order_no, "seq": p.seq, "warehouse": p.warehouse,
                "carrier": p.carrier, "waybill_no": p.waybill_no, "status": p.status.value,
                "promised_at": iso(p.promised_at),
                "latest": None if ev is None else {
                    "at": iso(ev.occurred_at), "status": str(ev.status.value),
                    "location": ev.location, "description": ev.description}}

    return {
        "code": c.code, "name": c.name, "active": c.active, "contact": c.contact,
        "phone": c.phone, "address": c.address, "sales_owner": c.sales_owner,
        "credit": {"limit": money(v.credit.limit), "used": money(v.credit.used),
                   "left": money(v.credit.left), "overdue": money(v.credit.overdue),
                   "overdue_orders": v.credit.overdue_orders,
                   "overdue_after_days": PAYMENT_DAYS},
        "open_orders": [order(o) for o in v.open_orders],
        "in_transit": [parcel(p) for p in v.in_transit],
        "recent_orders": [order(o) for o in v.recent],
        "top_items": [{"sku": t.sku, "name": t.name, "qty": t.qty, "orders": t.orders,
                       "stock": [{"warehouse": s.warehouse, "name": s.name,
                                  "available": s.available, "servable": s.servable}
                                 for s in t.stock]} for t in v.top_items],
        "invoice": {"type": c.invoice_type, "tax_id": c.tax_id, "bank": c.bank,
                    "account": c.account, "problems": v.invoice_problems},
    }
