"""Read models behind the chat's questions (看板, 查单, 查物流): what they show is read here,
so the chat handlers only translate a message and format the answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet

from bot.catalog import Catalog
from bot.domain.vocab import CST, carrier_name
from storage import kpi
from storage.chat_models import ChatQuestion
from storage.models import Order, OrderLine, OrderStatus, Shipment
from storage.tracking_models import TrackingEventRow

DONE = (OrderStatus.delivered, OrderStatus.cancelled)


async def asked(kind: str, user_id: str, subject: str) -> None:
    """Count a question (the dashboard's logistics questions per day), answered or not."""
    _ = await ChatQuestion.create(kind=kind, user_id=user_id, subject=subject[:64])


def placed_today(day_start: datetime) -> QuerySet[Order]:
    """Orders placed since `day_start`: drafts, and drafts cancelled before anyone confirmed
    them (replaced by 修改, or dropped), were never orders."""
    return kpi.placed(Order.filter(created_at__gte=day_start))


@dataclass(frozen=True)
class Board:
    """The managers' 看板 for one China-time day."""

    day_start: datetime
    placed: int
    on_hold: int
    shipped: int
    late: int  # confirmed, past the promise, not delivered (or cancelled)
    logistics_questions: int


async def board(now: datetime) -> Board:
    day_start = datetime.combine(now.astimezone(CST).date(), datetime.min.time(), CST)
    late = await Order.filter(promised_at__lt=now, confirmed_at__isnull=False).exclude(
        status__in=DONE).count()
    return Board(
        day_start=day_start, placed=await placed_today(day_start).count(),
        on_hold=await Order.filter(status=OrderStatus.on_hold).count(),
        shipped=await Order.filter(shipped_at__gte=day_start).count(), late=late,
        logistics_questions=await ChatQuestion.filter(kind="logistics",
                                                      at__gte=day_start).count())


@dataclass(frozen=True)
class Parcel:
    seq: int
    warehouse: str  # its name, or "" when unknown
    carrier: str  # display name, or "" before allocation picked one
    waybill_no: str | None
    status: OrderStatus
    last_event: TrackingEventRow | None


async def order_lines(order: Order) -> list[OrderLine]:
    return list(await OrderLine.filter(order_id=order.id).order_by("id"))


async def parcels(order: Order, cat: Catalog) -> list[Parcel]:
    """The order's shipments with where they left from, the carrier and the latest event."""
    names = {code: c.name for code, c in cat.settings.carriers.items()}
    out = []
    for s in await Shipment.filter(order_id=order.id).order_by("seq"):
        wh = cat.warehouses.get(cat.warehouse_codes.get(s.warehouse_id, ""))
        carrier = carrier_name(s.carrier, names)
        last = await TrackingEventRow.filter(shipment_id=s.id).order_by("-occurred_at").first()
        out.append(Parcel(s.seq, wh.name if wh else "", carrier,
                          s.waybill_no, s.status, last))
    return out
