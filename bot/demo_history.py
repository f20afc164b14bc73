"""90 days of demo history, so a fresh install's dashboard, 看板 and calibration have
something true to show (`python bot.py demo`, and the first start on an empty database).

What is written, deterministic for a given seed and `now`:
- orders on every shipping day (fewer on Sundays), 8:00–20:00 China time, by customers who
  mostly reorder their own few favourite items; each confirmed minutes after it was placed,
  shipped from the customer's nearest warehouse by the promise rules (bot/domain/eta.py:
  cut-off, pick/pack, the carrier's configured transit hours), and delivered after the
  **sandbox carrier's own transit time** for that waybill (integrations/carriers/sandbox.py
  `story`, at real speed), so early and late deliveries spread as the sandbox spreads them;
- parcels not yet due are still on their way (shipped/in transit; not polled, see
  write_history); a few orders cancelled;
  a few held at the credit gate in the last days, waiting for a manager's 放行;
- 查物流/查单/查库存 questions asked in chat, about one for every six orders.

Every such order is marked as demo data: channel `demo` (DEMO_CHANNEL) and waybill numbers
starting with DEMO. No stock is reserved by them (held orders reserve nothing; shipped ones
have left the warehouse), so `stock reconcile` stays clean. Rows are written with bulk
inserts; bench: `python bot.py demo` prints the time taken.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from bot import demo_data as D
from bot.config import Settings
from bot.domain import eta, vocab
from bot.domain.allocation import Destination, WarehouseInfo
from bot.domain.coverage import configured_hours
from integrations import geocode
from integrations.carriers import sandbox
from storage.chat_models import ChatQuestion
from storage.models import Order, OrderLine, OrderStatus, Shipment
from storage.tracking_models import ShipmentTracking

HISTORY_DAYS = 90
DEMO_CHANNEL = "demo"
ORDERS_PER_DAY = (30, 55)  # a shipping day; Sundays a third of it
HELD = 4
CENT = Decimal("0.01")
S = OrderStatus


@dataclass(frozen=True)
class _Place:
    province: str  # full: 浙江省
    city: str  # full: 杭州市
    lat: float | None
    lon: float | None

    @property
    def short(self) -> Destination:
        return Destination(geocode.short_name(self.province), geocode.short_name(self.city),
                           self.lat, self.lon)


def _place(address: str) -> _Place | None:
    for c in D.CITIES:
        prefix = c.province if c.province == c.city else c.province + c.city
        if address.startswith(prefix):
            point = geocode.city_point(c.city)
            return _Place(c.province, c.city, *(point or (None, None)))
    return None


def _nearest(dest: _Place, warehouses: Sequence[WarehouseInfo]) -> WarehouseInfo:
    d = dest.short
    same = [w for w in warehouses if w.city == d.city] or [
        w for w in warehouses if w.province == d.province]
    if same:
        return same[0]
    if d.lat is None or d.lon is None:
        return warehouses[0]
    lat, lon = d.lat, d.lon
    return min(warehouses, key=lambda w: geocode.distance_km(
        (w.lat or 0.0, w.lon or 0.0), (lat, lon)))


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


@dataclass
class History:
    orders: list[Order]
    lines: list[list[dict[str, Any]]]  # per order
    shipments: list[dict[str, Any] | None]  # per order
    questions: list[tuple[str, str, str, datetime]]  # kind, user, subject, at


def build_history(settings: Settings, customers: Sequence[dict[str, Any]],
                  products: Sequence[dict[str, Any]], warehouses: Sequence[dict[str, Any]],
                  now: datetime, *, days: int = HISTORY_DAYS, seed: int = 2026) -> History:
    """The history as unsaved rows (pure: no database)."""
    rng = random.Random(f"{seed}/history")
    cfg = settings.promise
    whs = [WarehouseInfo(w["code"], w["name"], str(getattr(w["kind"], "value", w["kind"])),
                         geocode.short_name(w["province"]), geocode.short_name(w["city"]),
                         w.get("lat"), w.get("lon"),
                         time.fromisoformat(w["cutoff"]) if isinstance(w["cutoff"], str)
                         else w["cutoff"])
           for w in warehouses if str(getattr(w["kind"], "value", w["kind"])) == "physical"]
    carriers = [c for c in settings.carriers if settings.carriers[c].transit]
    weights = [5 if c == "zto" else 3 if c == "sf" else 2 for c in carriers]
    active = [c for c in customers if c["active"]]
    placed = {c["code"]: _place(c["address"]) for c in active}
    active = [c for c in active if placed[c["code"]] is not None]
    # Regulars order often: a heavy-tailed weight per customer, favourites per customer.
    buy_weight = [rng.paretovariate(1.3) for _ in active]
    popular = rng.sample(list(products), min(600, len(products)))
    favourites = {c["code"]: rng.sample(popular, 6) for c in active}
    today = now.astimezone(vocab.CST).date()
    h = History([], [], [], [])
    k = 0
    held = 0  # a few orders of the last two days wait at the credit gate
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        lo, hi = ORDERS_PER_DAY
        n = rng.randint(lo, hi) // (3 if day.isoweekday() == 7 else 1)
        for _ in range(n):
            created = datetime.combine(day, time(8), vocab.CST) + timedelta(
                seconds=rng.randrange(12 * 3600))
            if created >= now - timedelta(minutes=30):
                continue
            k += 1
            cust = rng.choices(active, weights=buy_weight)[0]
            place = placed[cust["code"]]
            assert place is not None
            wh = _nearest(place, whs)
            carrier = rng.choices(carriers, weights=weights)[0]
            transit = configured_hours(settings.carriers[carrier], wh, place.short,
                                       settings.regions)
            confirmed = created + timedelta(minutes=rng.uniform(1, 15))
            promised = eta.promise(confirmed, wh.cutoff, transit, cfg)
            picks = rng.sample(favourites[cust["code"]], rng.choice((1, 1, 2, 2, 3)))
            lines = [{"product": p, "qty": rng.choice((2, 4, 5, 10, 10, 20, 30))}
                     for p in picks]
            total = sum((Decimal(str(p["product"]["price"])) * p["qty"] for p in lines),
                        Decimal(0)).quantize(CENT)
            no = f"LY{created.astimezone(vocab.CST):%y%m%d}{k}"
            base: dict[str, Any] = {
                "no": no, "channel": DEMO_CHANNEL, "salesperson": cust["sales_owner"],
                "address_raw": cust["address"], "province": place.province, "city": place.city,
                "lat": place.lat, "lon": place.lon, "invoice_type": cust["invoice_type"],
                "tax_id": cust.get("tax_id") or "", "bank": cust.get("bank") or "",
                "account": cust.get("account") or "", "total": total, "gates": [],
                "created_at": _utc(created), "promised_at": _utc(promised)}
            ship: dict[str, Any] | None = None
            roll = rng.random()
            if back <= 1 and held < HELD and roll < 0.2:
                held += 1
                base.update(status=S.on_hold, gates=[{
                    "code": "credit", "ok": False, "checked": {},
                    "message": "信用额度不足：本单后将超出额度，需经理放行（演示数据）"}])
            elif roll < 0.015:
                base.update(status=S.cancelled, confirmed_at=_utc(confirmed))
            else:
                shipped = max(eta.departure(confirmed, wh.cutoff, cfg)
                              + timedelta(hours=rng.uniform(-1.0, 0.5)),
                              confirmed + timedelta(minutes=20))
                if shipped >= now:  # today's: picked at once (no open reservations in demo)
                    shipped = confirmed + timedelta(hours=rng.uniform(0.5, 1.5))
                if shipped >= now:
                    k -= 1
                    continue
                waybill = f"DEMO{carrier.upper()}{k:08d}"
                steps = sandbox.story(waybill, sandbox.SandboxTrip(
                    shipped, geocode.short_name(wh.city), geocode.short_name(place.city)),
                    speed=1.0)
                delivered: datetime | None = steps[-1].occurred_at
                status = S.delivered
                if delivered is None or delivered >= now:
                    delivered = None
                    status = S.in_transit if steps[0].occurred_at < now else S.shipped
                base.update(status=status, confirmed_at=_utc(confirmed),
                            shipped_at=_utc(shipped),
                            delivered_at=_utc(delivered) if delivered else None)
                ship = {"warehouse": wh.code, "carrier": carrier, "waybill_no": waybill,
                        "status": status, "promised_at": _utc(promised),
                        "shipped_at": _utc(shipped),
                        "delivered_at": _utc(delivered) if delivered else None}
            h.orders.append(Order(**base))
            h.orders[-1]._demo_customer = cust["code"]  # type: ignore[attr-defined]
            h.lines.append(lines)
            h.shipments.append(ship)
            if rng.random() < 0.17:
                kind = rng.choices(("logistics", "order", "stock"), weights=(6, 3, 2))[0]
                asked = created + timedelta(hours=rng.uniform(2, 40))
                if asked < now:
                    h.questions.append((kind, cust["sales_owner"], no, _utc(asked)))
    return h


async def write_history(conn: BaseDBAsyncClient, h: History, customer_ids: dict[str, int],
                        product_ids: dict[str, int], warehouse_ids: dict[str, int],
                        batch: int = 2_000) -> dict[str, int]:
    """Bulk-insert the history (ids restart at 1 after clear_all, so LY+date+id holds)."""
    for o in h.orders:
        o.customer_id = customer_ids[o._demo_customer]  # type: ignore[attr-defined]
    await Order.bulk_create(h.orders, batch_size=batch, using_db=conn)
    ids = dict(await Order.all().using_db(conn).values_list("no", "id"))
    lines, ships = [], []
    for o, ls, s in zip(h.orders, h.lines, h.shipments, strict=True):
        oid = ids[o.no]
        for line in ls:
            p, qty = line["product"], line["qty"]
            price = Decimal(str(p["price"])).quantize(CENT)
            lines.append(OrderLine(order_id=oid, product_id=product_ids[p["sku"]], sku=p["sku"],
                                   name=p["name"], category=p["category"], qty=qty,
                                   unit_price=price, amount=(price * qty).quantize(CENT)))
        if s is not None:
            ships.append(Shipment(
                order_id=oid, seq=1, warehouse_id=warehouse_ids[s["warehouse"]],
                carrier=s["carrier"], waybill_no=s["waybill_no"], status=s["status"],
                reserved=False, promised_at=s["promised_at"], shipped_at=s["shipped_at"],
                delivered_at=s["delivered_at"],
                lines=[{"sku": x["product"]["sku"], "product_id": product_ids[x["product"]["sku"]],
                        "qty": x["qty"]} for x in ls]))
    await OrderLine.bulk_create(lines, batch_size=batch, using_db=conn)
    await Shipment.bulk_create(ships, batch_size=batch, using_db=conn)
    # Parcels still on their way are not polled: the sandbox replays a waybill's story 60×
    # faster than real time and would "deliver" them within minutes of the start (and push
    # customers about demo orders). They stay in transit, as of when the history was made.
    open_ids = await Shipment.filter(
        waybill_no__startswith="DEMO", delivered_at__isnull=True).using_db(conn).values_list(
        "id", flat=True)
    await ShipmentTracking.bulk_create(
        [ShipmentTracking(shipment_id=i, next_poll_at=None, status="in_transit")
         for i in open_ids], batch_size=batch, using_db=conn)
    questions = [ChatQuestion(kind=kind, user_id=user, subject=subject, at=at)
                 for kind, user, subject, at in h.questions]
    await ChatQuestion.bulk_create(questions, batch_size=batch, using_db=conn)
    return {"demo_orders": len(h.orders), "demo_order_lines": len(lines),
            "demo_shipments": len(ships), "demo_questions": len(questions)}
