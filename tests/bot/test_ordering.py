"""Order use cases against a real database (SQLite and PostgreSQL)."""

import asyncio
from decimal import Decimal

import pytest

from bot.domain.orders import IllegalTransition
from bot.ordering import Forbidden, InputError, LineInput, PlaceOrder
from storage import reservations
from storage.models import (
    Customer,
    Order,
    OrderLog,
    OrderStatus,
    Product,
    Shipment,
    Stock,
    Warehouse,
)
from storage.reservations import Reservation
from tests.ship import ship_sandbox


async def stock_of(sku, wh):
    return await Stock.get(product__sku=sku, warehouse__code=wh)


def order(customer="C0001", *lines, **kw):
    return PlaceOrder(customer=customer, lines=[LineInput(s, q) for s, q in lines], **kw)


async def test_place_keeps_a_draft_with_tentative_shipments_and_reserves_nothing(service):
    out = await service.place(order("C0001", ("OIL00001", 10), ("BRK00001", 5)))
    assert out.ok and out.order.status == OrderStatus.draft
    assert [g.code for g in out.gates] == ["customer", "credit", "stock", "coverage", "invoice"]
    ships = await Shipment.filter(order_id=out.order.id)
    assert ships and not any(s.reserved for s in ships)
    assert all(s.promised_at is not None and s.carrier for s in ships)
    assert (await stock_of("OIL00001", "HZ01")).reserved == 0
    assert out.order.total == Decimal("10") * 268 + Decimal("5") * 120
    assert out.order.no.startswith("LY") and len(out.order.no) == 14


async def test_confirm_reserves_exactly_what_was_allocated(service):
    out = await service.place(order("C0001", ("OIL00001", 10), ("BRK00001", 5)))
    res = await service.confirm(out.order.no, "zhangwei")
    assert res.ok and res.order.status == OrderStatus.allocated
    assert (await stock_of("OIL00001", "HZ01")).reserved == 10
    # BRK to Hangzhou: HZ01 has 40 < 50 after safety stock, so the seed rule skips it.
    assert (await stock_of("BRK00001", "HZ01")).reserved == 0
    reserved_brk = sum([(await stock_of("BRK00001", w)).reserved for w in ("SH01", "NJ01")])
    assert reserved_brk == 5
    log = await OrderLog.filter(order_id=out.order.id).order_by("id")
    assert [(r.action, r.from_status, r.to_status) for r in log] == [
        ("place", None, "draft"), ("confirm", "draft", "confirmed"),
        ("allocate", "confirmed", "allocated")]
    assert log[1].actor == "zhangwei"
    customer = await Customer.get(code="C0001")
    assert customer.exposure == res.order.total


async def test_all_failing_gates_are_reported_together_and_nothing_is_kept(service):
    before = await Order.all().count()
    cmd = PlaceOrder(customer="C0002", lines=[LineInput("TYR00001", 500)],
                     address="火星基地1号", invoice={"type": "专票", "tax_id": "123"})
    out = await service.place(cmd)
    failed = {g.code for g in out.gates if not g.ok}
    assert failed == {"credit", "stock", "coverage", "invoice"}
    assert out.order is None and await Order.all().count() == before


async def test_chat_keeps_a_failing_draft_for_a_fix(service):
    out = await service.place(order("C0002", ("TYR00001", 5), keep_failed=True, channel="wecom"))
    assert out.order is not None and not out.ok
    assert {g["code"] for g in out.order.gates if not g["ok"]} == {"credit"}


async def test_unknown_sku_and_bad_quantities_are_input_errors(service):
    with pytest.raises(InputError) as e:
        await service.place(order("C0001", ("OIL00001", 1), ("NOPE1", 1)))
    assert e.value.field == "lines[1].sku"
    with pytest.raises(InputError) as e:
        await service.place(order("C0001", ("OIL00001", 0)))
    assert e.value.field == "lines[0].qty"


async def test_cancel_releases_reservation_and_credit(service):
    out = await service.place(order("C0001", ("OIL00001", 10)))
    await service.confirm(out.order.no)
    await service.cancel(out.order.no, "zhangwei", "客户改单")
    assert (await stock_of("OIL00001", "HZ01")).reserved == 0
    assert (await Customer.get(code="C0001")).exposure == 0
    assert (await Order.get(no=out.order.no)).status == OrderStatus.cancelled
    with pytest.raises(IllegalTransition, match="已取消"):
        await service.confirm(out.order.no)


async def test_ship_deducts_on_hand_and_releases_reservation_once(service):
    out = await service.place(order("C0001", ("OIL00001", 10)))
    await service.confirm(out.order.no)
    shipped = await ship_sandbox(service, out.order.no)
    assert shipped.status == OrderStatus.shipped
    s = await stock_of("OIL00001", "HZ01")
    assert (s.on_hand, s.reserved) == (490, 0)
    ship = await Shipment.get(order_id=out.order.id)
    assert ship.waybill_no and ship.waybill_no.startswith("SBX")
    with pytest.raises(IllegalTransition):
        await ship_sandbox(service, out.order.no)
    assert (await stock_of("OIL00001", "HZ01")).on_hand == 490


async def test_illegal_transitions_are_refused(service):
    out = await service.place(order("C0001", ("OIL00001", 1)))
    with pytest.raises(IllegalTransition, match="待确认"):
        await ship_sandbox(service, out.order.no, "x")


async def test_manager_releases_a_held_credit_gate_and_it_is_logged(service):
    out = await service.place(order("C0002", ("FLT00001", 20)))  # 900 of 1000
    assert out.ok
    await Customer.filter(code="C0002").update(exposure=Decimal(500))
    held = await service.confirm(out.order.no)
    assert not held.ok and held.order.status == OrderStatus.on_hold
    with pytest.raises(Forbidden):
        await service.release_credit(out.order.no, "zhangwei", "老客户")
    with pytest.raises(InputError):
        await service.release_credit(out.order.no, "lina", "  ")
    res = await service.release_credit(out.order.no, "lina", "老客户，月底回款")
    assert res.ok and res.order.status == OrderStatus.allocated
    credit = next(g for g in res.gates if g.code == "credit")
    assert credit.ok and "李娜" in credit.message
    entry = await OrderLog.get(order_id=out.order.id, action="release_credit")
    assert entry.detail["by"] == "lina" and entry.detail["reason"] == "老客户，月底回款"
    assert (await Customer.get(code="C0002")).exposure == Decimal(1400)


async def test_order_log_is_append_only(service):
    out = await service.place(order("C0001", ("OIL00001", 1)))
    entry = await OrderLog.get(order_id=out.order.id)
    entry.actor = "forged"
    with pytest.raises(PermissionError):
        await entry.save()
    with pytest.raises(PermissionError):
        await entry.delete()


async def test_confirm_reruns_gates_against_current_stock(service):
    out = await service.place(order("C0001", ("TYR00001", 60)))  # 8 + 30 + 30 = 68
    assert out.ok
    await Stock.filter(product__sku="TYR00001").update(on_hand=10)
    res = await service.confirm(out.order.no)
    assert res.order.status == OrderStatus.on_hold
    assert [g.code for g in res.gates if not g.ok] == ["stock"]
    assert sum([s.reserved for s in await Stock.filter(product__sku="TYR00001")]) == 0


async def _flash_world(n_available: int) -> None:
    p = await Product.create(sku="HOT00001", name="秒杀机油 5W-30 4L", category="OIL",
                             price=Decimal("1.00"))
    wh = await Warehouse.get(code="HZ01")
    await Stock.create(warehouse=wh, product=p, on_hand=n_available)


async def test_300_concurrent_orders_for_100_units_never_oversell(service):
    await _flash_world(100)
    await Customer.filter(code="C0001").update(credit_limit=Decimal(10_000_000))

    async def one(i):
        out = await service.place(order("C0001", ("HOT00001", 1), idempotency_key=f"k{i}"))
        if out.order is None:
            return "rejected"
        res = await service.confirm(out.order.no)
        return res.order.status.value

    results = await asyncio.gather(*(one(i) for i in range(300)))
    assert results.count("allocated") == 100
    assert results.count("allocated") + results.count("on_hold") + results.count("rejected") \
        == 300
    s = await stock_of("HOT00001", "HZ01")
    assert (s.on_hand, s.reserved) == (100, 100)
    assert await Order.filter(status=OrderStatus.allocated).count() == 100
    # one reservation row per winning order, and the counter is their sum
    held = await Reservation.filter(product__sku="HOT00001", state="active").values_list(
        "qty", flat=True)
    assert (len(held), sum(held)) == (100, 100)
    assert await reservations.drift() == []


async def test_concurrent_confirmations_cannot_both_pass_the_credit_limit(service):
    a = await service.place(order("C0002", ("FLT00001", 15)))  # 675 of 1000
    b = await service.place(order("C0002", ("FLT00001", 15)))
    results = await asyncio.gather(service.confirm(a.order.no), service.confirm(b.order.no))
    assert sorted(r.order.status.value for r in results) == ["allocated", "on_hold"]
    assert (await Customer.get(code="C0002")).exposure == Decimal("675.00")


async def test_idempotency_key_race_makes_one_order(service):
    cmds = [order("C0001", ("OIL00001", 1), idempotency_key="same") for _ in range(20)]
    outs = await asyncio.gather(*(service.place(c) for c in cmds))
    assert len({o.order.no for o in outs}) == 1
    assert await Order.all().count() == 1
    assert sum(not o.replayed for o in outs) == 1


async def test_expedite_moves_an_allocated_order_to_a_faster_warehouse(service, settings):
    from dataclasses import replace

    out = await service.place(order("C0002", ("FLT00001", 2), address="上海市浦东新区张江路1号"))
    await service.confirm(out.order.no)
    hz, nj = await Warehouse.get(code="HZ01"), await Warehouse.get(code="NJ01")
    assert (await Shipment.get(order_id=out.order.id)).warehouse_id == hz.id  # nearest
    # Now Nanjing → Shanghai becomes the fastest lane.
    service.settings = replace(settings, carriers={
        code: replace(c, lanes=(("江苏", "上海", 1.0),)) for code, c in settings.carriers.items()})
    res = await service.expedite(out.order.no, "lina", "客户车在等")
    assert res.order.priority == 1
    assert (await Shipment.get(order_id=out.order.id)).warehouse_id == nj.id
    assert res.order.promised_at < out.order.promised_at
    assert (await stock_of("FLT00001", "HZ01")).reserved == 0
    assert (await stock_of("FLT00001", "NJ01")).reserved == 2
    entry = await OrderLog.get(order_id=out.order.id, action="expedite")
    assert entry.detail["moved"] is True and entry.detail["reason"] == "客户车在等"


async def test_expedite_keeps_a_shipment_whose_waybill_was_issued(service, settings):
    from dataclasses import replace

    out = await service.place(order("C0002", ("FLT00001", 2), address="上海市浦东新区张江路1号"))
    await service.confirm(out.order.no)
    # the carrier issued the waybill, the hand-over is held (e.g. ZTO refused the pickup)
    await Shipment.filter(order_id=out.order.id).update(waybill_no="SF1400000001")
    service.settings = replace(settings, carriers={
        code: replace(c, lanes=(("江苏", "上海", 1.0),)) for code, c in settings.carriers.items()})
    res = await service.expedite(out.order.no, "lina", "客户车在等")
    assert res.order.priority == 1
    ship = await Shipment.get(order_id=out.order.id)
    assert ship.waybill_no == "SF1400000001"
    assert ship.warehouse_id == (await Warehouse.get(code="HZ01")).id
    assert (await stock_of("FLT00001", "HZ01")).reserved == 2


async def test_expedite_keeps_the_allocation_when_nothing_is_faster(service):
    out = await service.place(order("C0001", ("OIL00001", 3)))
    confirmed = await service.confirm(out.order.no)
    res = await service.expedite(out.order.no, "lina")
    assert res.order.priority == 1 and res.order.promised_at == confirmed.order.promised_at
    assert (await stock_of("OIL00001", "HZ01")).reserved == 3
    entry = await OrderLog.get(order_id=out.order.id, action="expedite")
    assert entry.detail["moved"] is False


async def test_expedite_is_refused_once_shipped(service):
    out = await service.place(order("C0001", ("OIL00001", 1)))
    await service.confirm(out.order.no)
    await ship_sandbox(service, out.order.no)
    with pytest.raises(IllegalTransition):
        await service.expedite(out.order.no, "lina")


async def test_an_urgent_draft_is_allocated_fastest_first_at_confirmation(service, settings):
    from dataclasses import replace

    # Make NJ01 (farther from Hangzhou) the fastest lane for OIL... via an explicit lane.
    fast_nj = {code: replace(c, lanes=(("江苏", "浙江", 1.0),)) for code, c in
               settings.carriers.items()}
    service.settings = replace(settings, carriers=fast_nj)
    await Stock.filter(product__sku="FLT00001", warehouse__code="NJ01").update(on_hand=100)
    out = await service.place(order("C0001", ("FLT00001", 5)))
    first = await Shipment.get(order_id=out.order.id)
    assert first.warehouse_id == (await Warehouse.get(code="HZ01")).id  # nearest
    await service.expedite(out.order.no, "lina")
    res = await service.confirm(out.order.no)
    ship = await Shipment.get(order_id=out.order.id)
    assert ship.warehouse_id == (await Warehouse.get(code="NJ01")).id
    assert res.order.status == OrderStatus.allocated


async def test_sandbox_auto_ship_hands_over_orders_confirmed_long_enough_ago(service):
    from datetime import UTC, datetime, timedelta

    from bot.autoship import ship_due
    from bot.shipping import ShippingService

    out = await service.place(order("C0001", ("OIL00001", 1)))
    await service.confirm(out.order.no)
    shipping = ShippingService(service, {})  # no live carrier: sandbox waybills
    assert await ship_due(shipping, timedelta(minutes=10)) == 0
    later = datetime.now(UTC) + timedelta(minutes=11)
    assert await ship_due(shipping, timedelta(minutes=10), later) == 1
    shipped = await Order.get(no=out.order.no)
    assert shipped.status == OrderStatus.shipped
    log = await OrderLog.get(order_id=shipped.id, action="ship")
    assert log.actor == "sandbox:auto"
