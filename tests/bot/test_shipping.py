"""ShippingService against real fake carriers (SF, ZTO, Kuaidi100) on both engines.

A carrier error holds the shipment with the carrier's own words and a back-off; the order
stays allocated and no stock moves. Waybills are asked for outside the ship transaction and
stored at once, so retries, crashes and racing calls never make a second waybill.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.domain.orders import IllegalTransition
from bot.events import ShipmentHeld
from bot.ordering import LineInput, PlaceOrder
from bot.shipping import RetryPolicy, ShippingService, request_for
from integrations.carriers.kuaidi100 import Kuaidi100Client
from integrations.carriers.sf import SfClient
from integrations.carriers.zto import ZtoClient
from storage.models import Order, OrderLog, OrderStatus, Shipment, Staff, Stock, Warehouse
from storage.shipping_models import ShippingHold
from tests.fakes.kuaidi100_server import FakeKuaidi100
from tests.fakes.sf_server import FakeSf
from tests.fakes.zto_server import FakeZto

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SF_CARD = "7551234567"
SF_REFUSAL = "顺丰：月结卡号已失效，请联系顺丰业务员"
ADDRESSES = {"HZ01": "余杭区仓前街道文一西路1号", "SH01": "闵行区申贵路1500号",
             "NJ01": "江宁区秣陵街道胜太路88号"}


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


class Sink:
    """The notifier: records the events it is handed (inside the hold transaction)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, events: Any) -> None:
        self.events.extend(events)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def sf(aiohttp_server: Any) -> FakeSf:
    fake = FakeSf()
    await fake.start(aiohttp_server)
    return fake


@pytest.fixture
async def zto(aiohttp_server: Any) -> FakeZto:
    fake = FakeZto()
    await fake.start(aiohttp_server)
    return fake


@pytest.fixture
async def k100(aiohttp_server: Any) -> FakeKuaidi100:
    fake = FakeKuaidi100()
    await fake.start(aiohttp_server)
    return fake


@pytest.fixture
async def shippable(world: dict[str, Any]) -> dict[str, Any]:
    """Warehouses with street addresses and a warehouse clerk's phone: what carriers need."""
    for code, address in ADDRESSES.items():
        await Warehouse.filter(code=code).update(address=address)
    await Staff.create(userid="zhouqiang", name="周强", role="warehouse", mobile="15888460192")
    return world


def sf_client(fake: FakeSf, http: httpx.AsyncClient) -> SfClient:
    return SfClient(http, fake.base_url, fake.partner_id, fake.checkword, SF_CARD, 2.0)


def zto_client(fake: FakeZto, http: httpx.AsyncClient) -> ZtoClient:
    return ZtoClient(http, fake.base_url, fake.app_key, fake.app_secret, 2.0)


def k100_client(fake: FakeKuaidi100, http: httpx.AsyncClient) -> Kuaidi100Client:
    return Kuaidi100Client(http, fake.base_url, fake.base_url, fake.key, fake.customer,
                           fake.secret, fake.salt, 2.0, company="zhongtong")


def shipping(service: Any, clients: dict[str, Any], *, sink: Sink | None = None,
             clock: Clock | None = None, policy: RetryPolicy | None = None
             ) -> ShippingService:
    return ShippingService(service, clients, sink, policy or RetryPolicy(), clock or Clock(),
                           rand=lambda: 0.5)


async def allocated(service: Any, *carriers: str,
                    lines: tuple[tuple[str, int], ...] = (("FLT00001", 10),)) -> Order:
    """A confirmed order whose shipments (by seq) go with `carriers`."""
    out = await service.place(PlaceOrder("C0001", [LineInput(s, q) for s, q in lines]))
    assert out.ok, out.gates
    await service.confirm(out.order.no)
    ships = await Shipment.filter(order_id=out.order.id).order_by("seq")
    assert len(ships) == len(carriers)
    for s, carrier in zip(ships, carriers, strict=True):
        await Shipment.filter(id=s.id).update(carrier=carrier)
    return await Order.get(no=out.order.no)


def creates(fake: FakeSf | FakeZto, order_id: str) -> int:
    """Create-order requests the fake received for one carrier order id."""
    if isinstance(fake, FakeSf):
        return sum(1 for r in fake.received
                   if r.form().get("serviceCode") == "EXP_RECE_CREATE_ORDER"
                   and f'"orderId":"{order_id}"' in r.form().get("msgData", ""))
    return sum(1 for r in fake.received if r.path.endswith("createOrder")
               and r.json().get("partnerOrderCode") == order_id)


async def stock(sku: str, wh: str) -> tuple[int, int]:
    row = await Stock.get(product__sku=sku, warehouse__code=wh)
    return row.on_hand, row.reserved


# ---- a carrier error holds ---------------------------------------------------------------

async def test_a_refusal_holds_the_shipment_with_the_carriers_words(service, shippable, sf,
                                                                    http):
    order = await allocated(service, "sf")
    sink = Sink()
    sf.fail("business", times=1)

    result = await shipping(service, {"sf": sf_client(sf, http)}, sink=sink).ship(order.no, "wh")

    assert not result.shipped
    assert result.order.status == OrderStatus.allocated
    assert result.held == [(1, "sf", SF_REFUSAL, 1, T0 + timedelta(seconds=60))]
    assert await stock("FLT00001", "HZ01") == (100, 10)  # nothing deducted, still reserved
    ship = await Shipment.get(order_id=order.id)
    assert ship.waybill_no is None and ship.reserved
    hold = await ShippingHold.get(shipment_id=ship.id)
    assert (hold.carrier, hold.reason, hold.attempts) == ("sf", SF_REFUSAL, 1)
    assert hold.first_failed_at == T0 and hold.retry_at == T0 + timedelta(seconds=60)
    assert sink.events == [ShipmentHeld(order.no, 1, "sf", SF_REFUSAL, 1,
                                        T0 + timedelta(seconds=60))]
    assert not await OrderLog.filter(order_id=order.id, action="ship").exists()


@pytest.mark.parametrize(("fault", "reason"), [
    ("slow", "顺丰接口超时（1 秒未响应）"),
    ("server_error", "顺丰接口故障（HTTP 502）"),
    ("rate_limit", "顺丰：流量超限"),
])
async def test_transport_faults_hold_too(service, shippable, sf, http, fault, reason):
    order = await allocated(service, "sf")
    sf.fail(fault, times=1)
    client = SfClient(http, sf.base_url, sf.partner_id, sf.checkword, SF_CARD, 1.0)

    result = await shipping(service, {"sf": client}).ship(order.no, "wh")

    assert [h.reason for h in result.held] == [reason]


async def test_retry_due_waits_for_retry_at_then_ships_with_one_waybill(service, shippable,
                                                                         sf, http):
    order = await allocated(service, "sf")
    clock = Clock()
    svc = shipping(service, {"sf": sf_client(sf, http)}, clock=clock)
    sf.fail("business", times=1)
    await svc.ship(order.no, "wh")
    asked = len(sf.received)

    assert await svc.retry_due(T0 + timedelta(seconds=59)) == 0
    assert len(sf.received) == asked  # not due: the carrier is not asked
    assert await svc.retry_due(T0 + timedelta(seconds=60)) == 1

    shipped = await Order.get(id=order.id)
    assert shipped.status == OrderStatus.shipped
    ship = await Shipment.get(order_id=order.id)
    assert ship.waybill_no == sf.orders[f"{order.no}-1"]["waybillNoInfoList"][0]["waybillNo"]
    assert await stock("FLT00001", "HZ01") == (90, 0)
    assert not await ShippingHold.exists()
    log = await OrderLog.get(order_id=order.id, action="ship")
    assert log.actor == "system:retry"
    assert await svc.retry_due(T0 + timedelta(hours=5)) == 0


async def test_back_off_grows_with_jitter_and_gives_up_with_a_final_alert(service, shippable,
                                                                         sf, http):
    order = await allocated(service, "sf")
    sink, clock = Sink(), Clock()
    policy = RetryPolicy(first_seconds=60, factor=2, cap_seconds=150, max_attempts=4,
                         jitter=0.2)
    svc = shipping(service, {"sf": sf_client(sf, http)}, sink=sink, clock=clock, policy=policy)
    sf.fail("business")

    waits = []
    for _ in range(4):
        result = await svc.ship(order.no, "wh")
        (held,) = result.held
        waits.append(held.retry_at - clock.at if held.retry_at else None)
        clock.at += timedelta(minutes=10)

    assert waits == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=150),
                     None]
    assert [e.attempts for e in sink.events] == [1, 2, 3, 4]
    assert sink.events[-1].retry_at is None
    assert sink.events[-1].event_id == f"ship_held:{order.no}:1:final"
    hold = await ShippingHold.get()
    assert (hold.attempts, hold.retry_at, hold.first_failed_at) == (4, None, T0)
    # Given up: the scheduler leaves it alone; a person may still POST ship again.
    sf.fail(None)
    assert await svc.retry_due(clock.at + timedelta(days=1)) == 0
    assert (await svc.ship(order.no, "wh")).shipped


def test_jitter_spreads_the_delay_both_ways():
    policy = RetryPolicy(first_seconds=100, jitter=0.2)
    assert policy.retry_at(1, T0, 0.0) == T0 + timedelta(seconds=80)
    assert policy.retry_at(1, T0, 0.999999) == T0 + timedelta(seconds=119.9999600)
    assert policy.retry_at(3, T0, 0.5, at_least=600) == T0 + timedelta(seconds=600)


async def test_a_rate_limit_waits_at_least_what_the_carrier_asks(service, shippable, k100,
                                                                 http):
    order = await allocated(service, "zto")
    k100.fail("rate_limit", times=1)  # HTTP 429, Retry-After: 60

    svc = shipping(service, {"zto": k100_client(k100, http)},
                   policy=RetryPolicy(first_seconds=5))
    (held,) = (await svc.ship(order.no, "wh")).held

    assert held.retry_at == T0 + timedelta(seconds=60)
    assert held.reason == "快递100接口限流（HTTP 429）"


# ---- one waybill per shipment ------------------------------------------------------------

async def test_a_crash_after_the_carrier_answered_gets_the_same_waybill(service, shippable,
                                                                        sf, http):
    order = await allocated(service, "sf")
    client = sf_client(sf, http)
    ship = await Shipment.get(order_id=order.id)
    # The first attempt got its answer, then the process died before storing it.
    first = await client.create_waybill(await request_for(order, ship))

    result = await shipping(service, {"sf": client}).ship(order.no, "wh")

    assert result.shipped
    assert (await Shipment.get(id=ship.id)).waybill_no == first.waybill_no
    assert len(sf.orders) == 1 and creates(sf, f"{order.no}-1") == 2


async def test_an_8016_repeat_is_looked_up(service, shippable, sf, http):
    order = await allocated(service, "sf")
    client = sf_client(sf, http)
    sf.duplicate_policy = "8016"
    first = await client.create_waybill(await request_for(order, await Shipment.get(
        order_id=order.id)))

    assert (await shipping(service, {"sf": client}).ship(order.no, "wh")).shipped
    assert (await Shipment.get(order_id=order.id)).waybill_no == first.waybill_no


async def test_a_stored_waybill_is_never_asked_for_again(service, shippable, sf, http):
    order = await allocated(service, "sf")
    await Shipment.filter(order_id=order.id).update(waybill_no="SF0000000000777")

    result = await shipping(service, {"sf": sf_client(sf, http)}).ship(order.no, "wh")

    assert result.shipped and not sf.received
    assert (await Shipment.get(order_id=order.id)).waybill_no == "SF0000000000777"


async def test_a_refused_repeat_without_a_stored_number_gives_up_at_once(service, shippable,
                                                                         zto, http,
                                                                         monkeypatch):
    monkeypatch.setattr("bot.shipping.DUPLICATE_POLLS", 2)
    order = await allocated(service, "zto")
    client = zto_client(zto, http)
    await client.create_waybill(await request_for(order, await Shipment.get(order_id=order.id)))

    (held,) = (await shipping(service, {"zto": client}).ship(order.no, "wh")).held

    assert held.retry_at is None  # asking again cannot help: a person looks the number up
    assert held.reason == "中通：合作商订单号重复，请勿重复下单"


async def test_a_split_order_keeps_the_good_waybill_and_asks_only_for_the_failed_one(
        service, shippable, sf, zto, http):
    order = await allocated(service, "sf", "zto", lines=(("FLT00001", 10), ("BRK00001", 10)))
    clock = Clock()
    svc = shipping(service, {"sf": sf_client(sf, http), "zto": zto_client(zto, http)},
                   clock=clock)
    sf.fail("business", times=1)

    result = await svc.ship(order.no, "wh")

    assert not result.shipped
    assert [(h.seq, h.carrier) for h in result.held] == [(1, "sf")]
    s1, s2 = await Shipment.filter(order_id=order.id).order_by("seq")
    assert s1.waybill_no is None
    assert s2.waybill_no == zto.orders[f"{order.no}-2"]["billCode"]
    assert await stock("BRK00001", "SH01") == (200, 10)

    assert await svc.retry_due(T0 + timedelta(minutes=5)) == 1

    s1, s2 = await Shipment.filter(order_id=order.id).order_by("seq")
    assert s1.waybill_no == sf.orders[f"{order.no}-1"]["waybillNoInfoList"][0]["waybillNo"]
    assert s2.waybill_no == zto.orders[f"{order.no}-2"]["billCode"]
    assert creates(zto, f"{order.no}-2") == 1
    assert creates(sf, f"{order.no}-1") == 2  # the refused one and the retry
    assert await stock("BRK00001", "SH01") == (190, 0)
    assert await stock("FLT00001", "HZ01") == (90, 0)
    assert not await ShippingHold.exists()


async def test_racing_ships_make_one_set_of_waybills_and_one_deduction(service, shippable,
                                                                        sf, zto, http):
    order = await allocated(service, "sf", "zto", lines=(("FLT00001", 10), ("BRK00001", 10)))
    sf.slow_seconds = 0.2
    sf.fail("slow", times=1)
    clients = {"sf": sf_client(sf, http), "zto": zto_client(zto, http)}
    # Two instances (as two processes would have) and several calls on each.
    one, two = shipping(service, clients), shipping(service, clients)

    results = await asyncio.gather(*(svc.ship(order.no, "wh") for svc in (one, two) * 3),
                                   return_exceptions=True)

    assert sum(1 for r in results if not isinstance(r, BaseException) and r.shipped) == 1
    assert all(isinstance(r, IllegalTransition) for r in results
               if isinstance(r, BaseException)), results
    assert len(sf.orders) == len(zto.orders) == 1
    s1, s2 = await Shipment.filter(order_id=order.id).order_by("seq")
    assert s1.waybill_no == sf.orders[f"{order.no}-1"]["waybillNoInfoList"][0]["waybillNo"]
    assert s2.waybill_no == zto.orders[f"{order.no}-2"]["billCode"]
    assert await stock("FLT00001", "HZ01") == (90, 0)
    assert await stock("BRK00001", "SH01") == (190, 0)
    assert await OrderLog.filter(order_id=order.id, action="ship").count() == 1


# ---- other orders, sandbox ----------------------------------------------------------------

async def test_holds_of_cancelled_orders_are_dropped(service, shippable, sf, http):
    order = await allocated(service, "sf")
    svc = shipping(service, {"sf": sf_client(sf, http)})
    sf.fail("business", times=1)
    await svc.ship(order.no, "wh")
    await service.cancel(order.no, "zhangwei", "客户取消")

    assert await svc.retry_due(T0 + timedelta(hours=1)) == 0
    assert not await ShippingHold.exists()
    assert creates(sf, f"{order.no}-1") == 1


async def test_a_carrier_without_live_keys_ships_from_the_sandbox(service, shippable):
    order = await allocated(service, "jd")

    result = await shipping(service, {}).ship(order.no, "wh")

    assert result.shipped
    assert (await Shipment.get(order_id=order.id)).waybill_no.startswith("SBX")


async def test_unknown_or_shipped_orders_raise(service, shippable):
    from bot.ordering import NotFound

    svc = shipping(service, {})
    with pytest.raises(NotFound):
        await svc.ship("LY000000999999", "wh")
    order = await allocated(service, "jd")
    await svc.ship(order.no, "wh")
    with pytest.raises(IllegalTransition):
        await svc.ship(order.no, "wh")


async def test_autoship_leaves_held_orders_to_the_retries(service, shippable, sf, http):
    from bot.autoship import ship_due

    held = await allocated(service, "sf")
    fine = await allocated(service, "sf")
    svc = shipping(service, {"sf": sf_client(sf, http)})
    sf.fail("business", times=1)
    await svc.ship(held.no, "wh")
    later = datetime.now(UTC) + timedelta(hours=1)

    assert await ship_due(svc, delay=timedelta(minutes=10), now=later) == 1

    assert (await Order.get(id=fine.id)).status == OrderStatus.shipped
    assert (await Order.get(id=held.id)).status == OrderStatus.allocated
    assert creates(sf, f"{held.no}-1") == 1


# ---- tracking subscriptions --------------------------------------------------------------

async def test_zto_waybills_are_subscribed_after_the_ship(service, shippable, zto, http):
    order = await allocated(service, "zto")

    assert (await shipping(service, {"zto": zto_client(zto, http)}).ship(order.no, "wh")
            ).shipped

    waybill = (await Shipment.get(order_id=order.id)).waybill_no
    assert zto.subscriptions == [{"billCode": waybill, "mobilePhone": "0001"}]


async def test_kuaidi100_waybills_are_subscribed_with_our_callback(service, shippable, k100,
                                                                    http):
    order = await allocated(service, "zto")

    assert (await shipping(service, {"zto": k100_client(k100, http)}).ship(order.no, "wh")
            ).shipped

    waybill = (await Shipment.get(order_id=order.id)).waybill_no
    params = k100.subscriptions[waybill]["parameters"]
    assert params["callbackurl"] == "http://127.0.0.1:8080/carriers/kuaidi100/push"
    assert params["salt"] == k100.salt and params["phone"] == "13800000001"


async def test_a_failed_subscription_does_not_fail_the_ship(service, shippable, zto, http,
                                                             caplog):
    order = await allocated(service, "zto")
    zto._apis["zto.merchant.waybill.track.subsrcibe"] = lambda _: web.Response(status=503)

    result = await shipping(service, {"zto": zto_client(zto, http)}).ship(order.no, "wh")

    assert result.shipped
    assert (await Order.get(id=order.id)).status == OrderStatus.shipped
    assert any(r.path.endswith("subsrcibe") for r in zto.received)
    assert "tracking subscription" in caplog.text
