"""What notifications say about an order, read once from the database, plus the formatting
rules people see (times in China time, masked addresses, carrier and status names).

`load_order` runs inside the caller's transaction when there is one (tortoise routes ORM
reads to it), so a plan sees the state change it is planning for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from tortoise.expressions import Q

from bot import kpi
from bot.domain import fmt, vocab
from bot.domain.fmt import UNKNOWN as UNKNOWN
from bot.domain.fmt import fmt_time as fmt_time
from bot.domain.fmt import mask_phone as mask_phone
from bot.domain.roles import APPROVERS
from bot.domain.vocab import CST as CST
from bot.domain.vocab import status_zh as status_zh
from integrations import geocode
from storage import notify_sql
from storage.kpi import placed
from storage.models import Order, OrderStatus, Shipment, Staff
from storage.outbox_models import OutboxNotification, OutboxStatus


@dataclass(frozen=True)
class ShipmentFacts:
    id: int
    seq: int
    carrier: str
    waybill: str
    warehouse: str
    promised_at: datetime | None


@dataclass(frozen=True)
class OrderFacts:
    no: str
    customer_code: str
    customer_name: str
    contact: str
    phone: str
    address: str
    openid: str | None
    sales: str | None  # WeCom userid: the order's salesperson, else the customer's owner
    promised_at: datetime | None
    shipments: tuple[ShipmentFacts, ...]

    def shipment(self, *, seq: int | None = None, id: int | None = None) -> ShipmentFacts | None:
        for s in self.shipments:
            if (seq is not None and s.seq == seq) or (id is not None and s.id == id):
                return s
        return None


async def load_order(order_no: str) -> OrderFacts | None:
    """One statement (it runs inside the confirming transaction: keep it cheap)."""
    rows = await notify_sql.order_facts(order_no)
    if not rows:
        return None
    (no, code, name, contact, phone, address_raw, address, openid, salesperson, owner,
     promised) = rows[0][:11]
    return OrderFacts(
        no=no, customer_code=code, customer_name=name, contact=contact or "",
        phone=phone or "", address=address_raw or address or "", openid=openid or None,
        sales=salesperson or owner or None, promised_at=promised,
        shipments=tuple(ShipmentFacts(sid, seq, carrier or "", waybill or "", wh or "", at)
                        for sid, seq, carrier, waybill, wh, at in (r[11:] for r in rows)
                        if sid is not None))


async def staff_name(userid: str) -> str:
    name = await Staff.filter(userid=userid).first().values_list("name", flat=True)
    return str(name) if name else userid


async def managers() -> list[str]:
    """Active managers' (and admins') WeCom user ids."""
    rows = await Staff.filter(role__in=sorted(APPROVERS), active=True).order_by(
        "userid").values_list("userid", flat=True)
    return [str(u) for u in rows]


# ---- formatting --------------------------------------------------------------------------

def mask_address(address: str) -> str:
    """The area only, 浙江省杭州市西湖区**** (bot/domain/fmt.py: the tracking page's rule);
    an address that cannot be placed shows nothing of itself."""
    place = geocode.parse(address)
    if place is None:
        return fmt.MASK
    return fmt.mask_address(place.province, place.city, place.district)


def carrier_name(code: str, names: Mapping[str, str]) -> str:
    return vocab.carrier_name(code, names) or UNKNOWN


def parcel(facts: OrderFacts, ship: ShipmentFacts | None) -> str:
    """``（第1/2个包裹）`` for a split order, empty otherwise."""
    if ship is None or len(facts.shipments) < 2:
        return ""
    return f"（第{ship.seq}/{len(facts.shipments)}个包裹）"


# ---- the daily report ------------------------------------------------------------------

def china_day(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), CST).astimezone(UTC)
    return start, start + timedelta(days=1)


async def daily_figures(day: date, window_hours: float = 2.0) -> dict[str, str]:
    start, end = china_day(day)
    delivered = await Shipment.filter(delivered_at__gte=start, delivered_at__lt=end).values_list(
        "delivered_at", "promised_at")
    promised = [(d, p) for d, p in delivered if p is not None]
    on_time = sum(1 for d, p in promised if kpi.on_time(p, d, window_hours))
    return {
        "日期": fmt.day(day),
        # Placed orders only (storage/kpi.py): never drafts, as on the dashboard and 看板.
        "新增订单": str(await placed(
            Order.filter(created_at__gte=start, created_at__lt=end)).count()),
        "已发货": str(await Shipment.filter(shipped_at__gte=start, shipped_at__lt=end).count()),
        "已签收": str(len(delivered)),
        "挂起订单": str(await Order.filter(status=OrderStatus.on_hold).count()),
        "异常件": str(await Shipment.filter(status=OrderStatus.exception).count()),
        "准时率": _percent(on_time, len(promised)),
        "推送失败": str(await OutboxNotification.filter(
            Q(status=OutboxStatus.dead), created_at__gte=start, created_at__lt=end).count()),
    }


def _percent(part: int, whole: int) -> str:
    if not whole:
        return "—"
    return f"{(Decimal(part) * 100 / whole).quantize(Decimal('0.1'))}%"
