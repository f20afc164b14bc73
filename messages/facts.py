"""What notifications say about an order, read once from the database, plus the formatting
rules people see (times in China time, masked addresses, carrier and status names).

`load_order` runs inside the caller's transaction when there is one (tortoise routes ORM
reads to it), so a plan sees the state change it is planning for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q

from bot import kpi
from storage import notify_sql
from storage.models import Order, OrderStatus, Shipment, Staff
from storage.outbox_models import OutboxNotification, OutboxStatus

CST = ZoneInfo("Asia/Shanghai")
UNKNOWN = "待定"
STATUS_ZH: Mapping[str, str] = {
    "draft": "待确认", "confirmed": "已确认", "allocated": "已分仓", "shipped": "已出库",
    "info_received": "已下单", "collected": "已揽收", "in_transit": "运输中",
    "out_for_delivery": "派送中", "delivered": "已签收", "exception": "物流异常",
    "returned": "已退回", "on_hold": "已挂起", "cancelled": "已取消",
}
_FIRST_DIGIT = re.compile(r"\d")


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
    """Active managers' WeCom user ids."""
    rows = await Staff.filter(role="manager", active=True).order_by("userid").values_list(
        "userid", flat=True)
    return [str(u) for u in rows]


# ---- formatting --------------------------------------------------------------------------

def fmt_time(at: datetime | None) -> str:
    """``11月26日 15:00`` in China time; 待定 when unknown."""
    if at is None:
        return UNKNOWN
    local = at.astimezone(CST)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def mask_address(address: str) -> str:
    """Keep the area and street, hide the house number: 浙江省杭州市西湖区文三路***."""
    address = address.strip()
    m = _FIRST_DIGIT.search(address)
    if m is not None and m.start() >= 4:
        return address[:m.start()] + "***"
    return address[:12] + "***" if len(address) > 12 else address


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 11 else digits


def status_zh(status: Any) -> str:
    value = str(getattr(status, "value", status))
    return STATUS_ZH.get(value, value)


def carrier_name(code: str, names: Mapping[str, str]) -> str:
    from integrations.carriers.base import CARRIER_NAMES

    if not code:
        return UNKNOWN
    return names.get(code) or CARRIER_NAMES.get(code, code)


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
        "日期": f"{day.month}月{day.day}日",
        # Placed orders only (storage/kpi.py PLACED_SQL): never drafts, as on the dashboard.
        "新增订单": str(await Order.filter(created_at__gte=start, created_at__lt=end).exclude(
            status=OrderStatus.draft).exclude(
            Q(status=OrderStatus.cancelled) & Q(confirmed_at__isnull=True)).count()),
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
