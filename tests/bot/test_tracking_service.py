"""TrackingService.apply and find_stuck against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.domain.orders import IllegalTransition
from bot.ordering import LineInput, PlaceOrder
from bot.tracking import ShipmentStatusChanged, TrackingConfig, TrackingService
from integrations.carriers.base import SHANGHAI, CommonStatus, TrackingEvent
from storage.models import Order, OrderLog, OrderStatus, Shipment, Stock
from storage.shipping_models import store_waybill
from storage.tracking_models import ShipmentTracking, TrackingEventRow
from tests.fakes import out_of_order_with_duplicates
from tests.ship import ship_sandbox, waybills

C = CommonStatus
S = OrderStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
NOW = T0 + timedelta(days=3)



class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def tracking(settings: Any, clock: Clock) -> TrackingService:
    return TrackingService(settings, {}, clock, config=TrackingConfig())


def ev(waybill: str, hours: float, status: CommonStatus, text: str = "",
       carrier: str = "zto") -> TrackingEvent:
    return TrackingEvent(waybill, carrier, status, T0 + timedelta(hours=hours), "上海市",
                         text or f"{status.value} +{hours}h", {"n": hours})


async def ship_order(service: Any, *lines: tuple[str, int]) -> tuple[Order, list[str]]:
    """Placed, confirmed and shipped (production path, sandbox waybills); the order and its
    waybill numbers by shipment."""
    out = await service.place(PlaceOrder(customer="C0001",
                                         lines=[LineInput(s, q) for s, q in lines]))
    assert out.ok, out.gates
    await service.confirm(out.order.no, "zhangwei")
    order = await ship_sandbox(service, out.order.no)
    return order, await waybills(order)


async def statuses(order: Order) -> tuple[OrderStatus, list[OrderStatus]]:
    fresh = await Order.get(id=order.id)
    ships = await Shipment.filter(order_id=order.id).order_by("seq")
    return fresh.status, [s.status for s in ships]


async def track_log(order: Order) -> list[tuple[str, str | None, str | None]]:
    rows = await OrderLog.filter(order_id=order.id, action="track").order_by("id")
    return [(r.actor, r.from_status, r.to_status) for r in rows]


async def test_a_pushed_sequence_moves_the_order_and_logs_each_transition(service, tracking):
    order, (w1,) = await ship_order(service, ("OIL00001", 2))
    changes = await tracking.apply([ev(w1, 0, C.COLLECTED)])
    assert changes == []  # collected is still "shipped"
    changes = await tracking.apply([ev(w1, 5, C.IN_TRANSIT), ev(w1, 20, C.OUT_FOR_DELIVERY)])
    assert [(c.old, c.new) for c in changes] == [(S.shipped, S.out_for_delivery)]
    change = changes[0]
    assert isinstance(change, ShipmentStatusChanged)
    assert (change.order_no, change.waybill, change.carrier) == (order.no, w1, "zto")
    assert change.at == T0 + timedelta(hours=20)
    assert (change.order_old, change.order_new) == (S.shipped, S.out_for_delivery)
    await tracking.apply([ev(w1, 23, C.DELIVERED, "已签收，签收人：王师傅")])
    assert await statuses(order) == (S.delivered, [S.delivered])
    assert await track_log(order) == [("carrier:zto", "shipped", "out_for_delivery"),
                                      ("carrier:zto", "out_for_delivery", "delivered")]
    delivered = T0 + timedelta(hours=23)
    assert (await Order.get(id=order.id)).delivered_at == delivered
    assert (await Shipment.get(order_id=order.id)).delivered_at == delivered


async def test_duplicated_pushes_are_stored_once(service, tracking):
    _, (w1,) = await ship_order(service, ("OIL00001", 2))
    nodes = [ev(w1, 0, C.COLLECTED), ev(w1, 5, C.IN_TRANSIT), ev(w1, 9, C.DELIVERED)]
    first = await tracking.apply_detailed(out_of_order_with_duplicates(nodes))
    assert first.stored == 3
    again = await tracking.apply_detailed(nodes, pushed=True)
    assert again.stored == 0 and again.changes == []
    assert await TrackingEventRow.all().count() == 3
    row = await TrackingEventRow.filter(status=C.DELIVERED).get()
    assert row.occurred_at == T0 + timedelta(hours=9) and row.payload == {"n": 9}


async def test_out_of_order_events_never_move_status_backwards(service, tracking):
    order, (w1,) = await ship_order(service, ("OIL00001", 2))
    await tracking.apply([ev(w1, 20, C.OUT_FOR_DELIVERY)])
    assert await statuses(order) == (S.out_for_delivery, [S.out_for_delivery])
    changes = await tracking.apply([ev(w1, 0, C.COLLECTED), ev(w1, 5, C.IN_TRANSIT)])
    assert changes == []
    assert await statuses(order) == (S.out_for_delivery, [S.out_for_delivery])
    await tracking.apply([ev(w1, 23, C.DELIVERED)])
    await tracking.apply([ev(w1, 22, C.EXCEPTION, "派件异常")])  # late, older: no effect
    await tracking.apply([ev(w1, 30, C.EXCEPTION, "客户投诉")])  # after delivery: no effect
    assert await statuses(order) == (S.delivered, [S.delivered])
    assert await track_log(order) == [("carrier:zto", "shipped", "out_for_delivery"),
                                      ("carrier:zto", "out_for_delivery", "delivered")]
    assert await TrackingEventRow.all().count() == 6


async def test_an_exception_shows_then_progress_resumes(service, tracking):
    order, (w1,) = await ship_order(service, ("OIL00001", 2))
    await tracking.apply([ev(w1, 5, C.IN_TRANSIT)])
    await tracking.apply([ev(w1, 8, C.EXCEPTION, "中转滞留")])
    assert await statuses(order) == (S.exception, [S.exception])
    await tracking.apply([ev(w1, 12, C.IN_TRANSIT, "已重新发出")])
    assert await statuses(order) == (S.in_transit, [S.in_transit])
    assert [t for _, _, t in await track_log(order)] == ["in_transit", "exception",
                                                         "in_transit"]


async def test_split_order_status_is_derived_from_its_shipments(service, tracking):
    # OIL ships from HZ01, BRK from another warehouse (HZ01 is under its safety stock).
    order, (wa, wb) = await ship_order(service, ("OIL00001", 2), ("BRK00001", 5))
    ships = await Shipment.filter(order_id=order.id).order_by("seq")
    assert [s.waybill_no for s in ships] == [wa, wb]
    await tracking.apply([ev(wa, 20, C.DELIVERED), ev(wb, 3, C.IN_TRANSIT)])
    assert await statuses(order) == (S.in_transit, [S.delivered, S.in_transit])
    assert (await Order.get(id=order.id)).delivered_at is None
    await tracking.apply([ev(wb, 30, C.DELIVERED)])
    assert await statuses(order) == (S.delivered, [S.delivered, S.delivered])
    assert (await Order.get(id=order.id)).delivered_at == T0 + timedelta(hours=30)
    assert await track_log(order) == [("carrier:zto", "shipped", "in_transit"),
                                      ("carrier:zto", "in_transit", "delivered")]


async def test_unknown_waybills_are_ignored_and_counted(service, tracking):
    _, (w1,) = await ship_order(service, ("OIL00001", 2))
    applied = await tracking.apply_detailed([ev("NOPE", 1, C.IN_TRANSIT),
                                             ev(w1, 1, C.IN_TRANSIT)])
    assert applied.unknown == ["NOPE"] and applied.stored == 1
    assert tracking.unknown_waybills == 1
    assert await TrackingEventRow.filter(waybill="NOPE").count() == 0


async def test_state_change_and_outbox_hook_commit_together_or_not_at_all(service, settings,
                                                                         clock):
    order, (w1,) = await ship_order(service, ("OIL00001", 2))
    seen: list[ShipmentStatusChanged] = []

    async def failing_outbox(changes: Sequence[ShipmentStatusChanged]) -> None:
        seen.extend(changes)
        raise RuntimeError("outbox down")

    tracking = TrackingService(settings, {}, clock, on_changes=failing_outbox)
    with pytest.raises(RuntimeError):
        await tracking.apply([ev(w1, 5, C.IN_TRANSIT)])
    assert len(seen) == 1
    assert await statuses(order) == (S.shipped, [S.shipped])
    assert await TrackingEventRow.all().count() == 0 and await track_log(order) == []


async def test_a_push_marks_the_shipment_subscribed_and_terminal_stops_polling(
        service, tracking, clock):
    order, (w1,) = await ship_order(service, ("OIL00001", 2))
    await tracking.apply([ev(w1, 5, C.IN_TRANSIT)], pushed=True)
    row = await ShipmentTracking.get(shipment__order_id=order.id)
    assert row.subscribed and row.status == "in_transit"
    assert row.last_event_at == T0 + timedelta(hours=5)
    assert row.next_poll_at == clock.at + timedelta(minutes=120)
    await tracking.apply([ev(w1, 9, C.DELIVERED)])
    row = await ShipmentTracking.get(id=row.id)
    assert row.next_poll_at is None and row.status == "delivered"


async def test_stuck_shipments_alert_once_per_silence(service, tracking):
    order, (w1,) = await ship_order(service, ("OIL00001", 2))
    await tracking.apply([ev(w1, 5, C.IN_TRANSIT)])
    last = T0 + timedelta(hours=5)
    assert await tracking.find_stuck(last + timedelta(hours=35)) == []  # in_transit: 36 h
    stuck = await tracking.find_stuck(last + timedelta(hours=37))
    assert [(s.order_no, s.waybill, s.status, s.since, s.hours) for s in stuck] == [
        (order.no, w1, S.in_transit, last, 36.0)]
    assert stuck[0].salesperson is None
    assert await tracking.find_stuck(last + timedelta(hours=50)) == []  # already alerted
    await tracking.apply([ev(w1, 60, C.OUT_FOR_DELIVERY)])
    again = await tracking.find_stuck(T0 + timedelta(hours=60 + 13))  # out_for_delivery: 12 h
    assert [s.status for s in again] == [S.out_for_delivery]


async def test_a_shipment_without_any_event_is_stuck_from_its_shipping_time(service, tracking):
    order, _ = await ship_order(service, ("OIL00001", 2))
    await Order.filter(id=order.id).update(salesperson="zhangwei")
    await tracking.sweep(NOW)  # enrols it (no clients: nothing is queried)
    shipped_at = (await Shipment.get(order_id=order.id)).shipped_at
    assert await tracking.find_stuck(shipped_at + timedelta(hours=23)) == []
    stuck = await tracking.find_stuck(shipped_at + timedelta(hours=25))
    assert [(s.status, s.since, s.salesperson) for s in stuck] == [
        (S.shipped, shipped_at, "zhangwei")]


async def allocated_with_waybill(service: Any) -> tuple[Order, str]:
    """Confirmed, and its e-waybill stored (as ShippingService does before the ship
    transaction), but not shipped: the carrier does not have it by our records."""
    out = await service.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 2)]))
    await service.confirm(out.order.no, "zhangwei")
    ship = await Shipment.get(order_id=out.order.id)
    assert await store_waybill(ship.id, "SBX20260302000001") == "SBX20260302000001"
    return out.order, "SBX20260302000001"


async def test_a_carrier_event_for_an_order_not_yet_shipped_raises_and_keeps_nothing(
        service, tracking):
    order, number = await allocated_with_waybill(service)
    with pytest.raises(IllegalTransition, match="已分仓"):
        await tracking.apply([ev(number, 1, C.COLLECTED), ev(number, 2, C.IN_TRANSIT)])
    # Not moved to shipped behind the warehouse's back (stock was never deducted), and the
    # events are not kept: they are applied once the order has shipped.
    assert await statuses(order) == (S.allocated, [S.allocated])
    assert await TrackingEventRow.all().count() == 0 and await track_log(order) == []
    stock = await Stock.get(product__sku="OIL00001", warehouse__code="HZ01")
    assert (stock.on_hand, stock.reserved) == (500, 2)
    await ship_sandbox(service, order.no)
    changes = await tracking.apply([ev(number, 1, C.COLLECTED), ev(number, 2, C.IN_TRANSIT)])
    assert [(c.old, c.new) for c in changes] == [(S.shipped, S.in_transit)]
    stock = await Stock.get(id=stock.id)
    assert (stock.on_hand, stock.reserved) == (498, 0)


async def test_a_carrier_event_for_a_cancelled_order_is_stale_and_ignored(service, tracking):
    order, number = await allocated_with_waybill(service)  # the waybill was issued …
    await service.cancel(order.no, "zhangwei", "客户取消")  # … then the order was cancelled
    changes = await tracking.apply([ev(number, 1, C.COLLECTED), ev(number, 3, C.IN_TRANSIT)],
                                   pushed=True)
    assert changes == []  # no raise: a carrier never reopens a cancelled order
    assert await statuses(order) == (S.cancelled, [S.cancelled])
    assert await TrackingEventRow.filter(waybill=number).count() == 2  # kept, for the record
    assert await track_log(order) == []

