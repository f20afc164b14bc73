"""TrackingService.sweep against the carrier fakes (real aiohttp servers on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest

from bot.domain.tracking import CarrierLimits, TrackingConfig
from bot.ordering import LineInput, PlaceOrder
from bot.tracking import TrackingService
from integrations.carriers.jd import JdClient
from integrations.carriers.kuaidi100 import Kuaidi100Client
from integrations.carriers.sandbox import SandboxCarrier
from integrations.carriers.sf import SfClient
from integrations.carriers.zto import ZtoClient
from storage.models import Order, OrderLog, OrderStatus, Shipment
from storage.tracking_models import ShipmentTracking, TrackingEventRow
from tests.fakes import jd_server as jd
from tests.fakes import kuaidi100_server as k100
from tests.fakes import sf_server as sf
from tests.fakes import zto_server as zto
from tests.fakes.jd_server import FakeJd
from tests.fakes.kuaidi100_server import FakeKuaidi100
from tests.fakes.sf_server import FakeSf
from tests.fakes.zto_server import FakeZto
from tests.ship import ship_sandbox

PHONE = "13800000001"
START = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
FAST = {"kuaidi100": CarrierLimits(rate_per_second=500, min_gap_minutes=31),
        "sf": CarrierLimits(rate_per_second=500, batch_size=10, send_phone=False),
        "zto": CarrierLimits(rate_per_second=500),
        "jd": CarrierLimits(rate_per_second=500, send_phone=False),
        "sandbox": CarrierLimits(rate_per_second=500, batch_size=100, send_phone=False,
                                 interval_minutes=1)}
CONFIG = TrackingConfig(carriers=FAST, route={"yto": "kuaidi100"})



class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def epoch(self) -> float:
        return self.at.timestamp()


@dataclass
class Fakes:
    k100: FakeKuaidi100
    sf: FakeSf
    zto: FakeZto
    jd: FakeJd

    def asked(self) -> Counter[str]:
        """Waybill -> how many times any fake was asked for its tracking."""
        seen: Counter[str] = Counter()
        for r in self.k100.received:
            if r.path == "/poll/query.do":
                seen[json.loads(r.form()["param"])["num"]] += 1
        for r in self.sf.received:
            seen.update(json.loads(r.form()["msgData"])["trackingNumber"])
        for r in self.zto.received:
            seen[r.json()["billCode"]] += 1
        for r in self.jd.received:
            seen[r.json()[0]["waybillCode"]] += 1
        return seen


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def fakes(aiohttp_server: Any, clock: Clock) -> Fakes:
    f = Fakes(FakeKuaidi100(), FakeSf(), FakeZto(), FakeJd())
    f.k100.now = clock.epoch  # the fake's lock rule runs on the test clock
    for fake in (f.k100, f.sf, f.zto, f.jd):
        await fake.start(aiohttp_server)
    return f


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def make_service(settings: Any, fakes: Fakes, http: httpx.AsyncClient, clock: Clock,
                 config: TrackingConfig = CONFIG) -> TrackingService:
    k100_client = Kuaidi100Client(http, fakes.k100.base_url, fakes.k100.base_url, "K100KEY",
                                  "K100CUSTOMER", "K100SECRET", "K100SALT", company="yuantong",
                                  clock=clock.epoch)
    clients: dict[str, Any] = {
        "kuaidi100": k100_client,
        "sf": SfClient(http, fakes.sf.base_url, "LVYUE_TEST", "CHECKWORD_TEST"),
        "zto": ZtoClient(http, fakes.zto.base_url, "ZTO_TEST_KEY", "ZTO_TEST_SECRET"),
        "jd": JdClient(http, fakes.jd.base_url, "JD_TEST_KEY", "JD_TEST_SECRET",
                       "JD_TEST_TOKEN", "010K000001"),
    }
    service = TrackingService(settings, clients, clock, config=config)
    service.clients["sandbox"] = SandboxCarrier(speed=3600, trips=service.sandbox_trips,
                                                clock=clock)
    return service


@pytest.fixture
def tracking(settings: Any, fakes: Fakes, http: httpx.AsyncClient, clock: Clock
             ) -> TrackingService:
    return make_service(settings, fakes, http, clock)


# ---- shipments and their carrier-side history ----------------------------------------------

def track(fakes: Fakes, carrier: str, num: str) -> int:
    """Give the fake of `carrier` a collected + in-transit history for `num`; returns 2."""
    if carrier == "yto":
        fakes.k100.add_track(
            num, "yuantong", PHONE,
            k100.data_item("2026-03-02 10:00:00", "【杭州市】已揽收", "杭州市", "103"),
            k100.data_item("2026-03-02 20:00:00", "【杭州市】发往上海", "杭州市", "1002"))
    elif carrier == "sf":
        fakes.sf.add_route(sf.route(1, num, "o", "2026-03-02 10:00:00", "50", "已收取快件"))
        fakes.sf.add_route(sf.route(2, num, "o", "2026-03-02 20:00:00", "30", "快件已发车"))
    elif carrier == "zto":
        fakes.zto.add_scans(num, PHONE,
                            zto.scan(num, "收件", "2026-03-02 10:00:00", "已揽收", "杭州"),
                            zto.scan(num, "发件", "2026-03-02 20:00:00", "发往上海", "杭州"))
    elif carrier == "jd":
        fakes.jd.traces[num] = [jd.trace_node(num, "2026-03-02 10:00:00", 420, "已揽收"),
                                jd.trace_node(num, "2026-03-02 20:00:00", 430, "运输中")]
    return 2


async def shipments(world: dict[str, Any], fakes: Fakes, counts: dict[str, int],
                    shipped_at: datetime = START - timedelta(days=1)) -> dict[str, str]:
    """`counts` shipments per carrier, shipped, with carrier-side history; waybill -> carrier."""
    customer, warehouse = world["customers"]["C0001"], world["warehouses"]["HZ01"]
    made: dict[str, str] = {}
    serial = 0
    for carrier, n in counts.items():
        for _ in range(n):
            serial += 1
            num = (f"SF{serial:013d}" if carrier == "sf" else f"7310{serial:010d}")
            order = await Order.create(no=f"LYT{serial:06d}", customer=customer,
                                       status=OrderStatus.shipped, shipped_at=shipped_at)
            await Shipment.create(order=order, seq=1, warehouse=warehouse, carrier=carrier,
                                  waybill_no=num, status=OrderStatus.shipped,
                                  shipped_at=shipped_at)
            track(fakes, carrier, num)
            made[num] = carrier
    return made


# ---- tests ---------------------------------------------------------------------------------

async def test_every_due_shipment_is_queried_exactly_once(tracking, fakes, world):
    made = await shipments(world, fakes, {"sf": 23, "zto": 6, "jd": 6, "yto": 6})
    report = await tracking.sweep(START)
    assert fakes.asked() == Counter(dict.fromkeys(made, 1))
    assert report.due == report.queried == report.enrolled == len(made)
    assert report.by_carrier == Counter(sf=23, zto=6, jd=6, kuaidi100=6)
    assert report.calls == 3 + 6 + 6 + 6  # SF asks for 10 numbers a call
    assert report.events == 2 * len(made) and not report.errors
    assert await TrackingEventRow.all().count() == 2 * len(made)
    assert set(await Order.all().values_list("status", flat=True)) == {OrderStatus.in_transit}
    actors = set(await OrderLog.filter(action="track").values_list("actor", flat=True))
    # the log names the courier that carries the parcel, also when Kuaidi100 reports for it
    assert actors == {"carrier:sf", "carrier:zto", "carrier:jd", "carrier:yto"}


async def test_nothing_is_queried_again_before_it_is_due(tracking, fakes, world):
    made = await shipments(world, fakes, {"sf": 3, "zto": 2})
    await tracking.sweep(START)
    again = await tracking.sweep(START + timedelta(minutes=13))
    assert again.due == again.queried == 0
    later = await tracking.sweep(START + timedelta(minutes=16))
    assert later.queried == len(made) and later.events == 0
    assert fakes.asked() == Counter(dict.fromkeys(made, 2))


async def test_kuaidi100_is_never_requeried_within_30_minutes(tracking, fakes, world, clock):
    made = await shipments(world, fakes, {"yto": 4, "zto": 2})
    k100_nums = [n for n, c in made.items() if c == "yto"]
    for minutes in range(0, 91, 15):
        clock.at = START + timedelta(minutes=minutes)
        await tracking.sweep(clock.at)
    # A config change or a push could make a row due early: the sweep still refuses.
    await ShipmentTracking.filter(shipment__waybill_no__in=k100_nums).update(
        next_poll_at=START)
    clock.at = START + timedelta(minutes=100)
    report = await tracking.sweep(clock.at)
    assert report.skipped_too_soon == 4
    for num in k100_nums:
        times = fakes.k100.queries[num]
        assert len(times) == 3  # at 0, 45 and 90 minutes
        assert all(b - a >= 30 * 60 for a, b in pairwise(times))
    assert fakes.k100.locked == {}
    zto_nums = [n for n, c in made.items() if c == "zto"]
    assert all(fakes.asked()[n] == 7 for n in zto_nums)  # every 15 minutes, 0..90


async def test_a_rate_limited_carrier_backs_off_without_aborting_the_others(
        settings, fakes, http, clock, world):
    # SF paced at 10 calls/s: its first refusal arrives before the next call may go. The
    # back-off (no Retry-After from SF) is 0.5 s here, longer than the 0.1 s a sweep waits.
    limits = {**FAST, "sf": CarrierLimits(rate_per_second=10, batch_size=10, send_phone=False)}
    config = replace(CONFIG, carriers=limits, rate_limit_backoff_seconds=0.5,
                     max_backoff_wait_seconds=0.1)
    tracking = make_service(settings, fakes, http, clock, config)
    made = await shipments(world, fakes, {"sf": 25, "zto": 3, "jd": 3, "yto": 3})
    fakes.sf.fail("rate_limit")  # A1005 on every call until told otherwise
    report = await tracking.sweep(START)
    assert report.errors["CarrierRateLimited"] + report.deferred == 25
    assert report.errors["CarrierRateLimited"] >= 10 and report.deferred >= 5
    others = [n for n, c in made.items() if c != "sf"]
    assert all(fakes.asked()[n] == 1 for n in others)
    assert report.events == 2 * len(others)
    fakes.sf.fail(None)
    await asyncio.sleep(0.6)  # the back-off has passed
    soon = await tracking.sweep(START + timedelta(minutes=2))
    assert soon.by_carrier == Counter(sf=25) and not soon.errors
    assert await Order.filter(status=OrderStatus.in_transit).count() == len(made)


async def test_errors_are_counted_per_waybill_and_the_rest_goes_on(tracking, fakes, world):
    made = await shipments(world, fakes, {"zto": 4, "jd": 3, "sf": 2, "ems": 1})
    fakes.zto.fail("server_error", times=1)
    fakes.jd.fail("garbage", times=1)
    report = await tracking.sweep(START)
    assert report.errors == Counter(CarrierUnavailable=1, CarrierBadResponse=1)
    assert report.no_client == 1  # nobody tracks "ems"
    assert report.queried == 9 and report.events == 2 * 7
    failed = await ShipmentTracking.filter(last_event_at__isnull=True,
                                           last_polled_at__isnull=False).count()
    assert failed == 2  # polled, nothing stored: asked again at the next interval
    assert len(made) == 10


async def test_sandbox_shows_the_whole_lifecycle_through_the_sweep(tracking, service, clock):
    out = await service.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 1)]))
    await service.confirm(out.order.no, "zhangwei")
    await ship_sandbox(service, out.order.no)
    shipped_at = (await Shipment.get(order_id=out.order.id)).shipped_at
    seen = []
    for half_seconds in range(0, 241):  # speed 3600: one real second is one simulated hour
        clock.at = shipped_at + timedelta(seconds=half_seconds / 2)
        await tracking.sweep(clock.at + timedelta(minutes=1))
        seen.append((await Order.get(id=out.order.id)).status)
    assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == [
        OrderStatus.shipped, OrderStatus.in_transit, OrderStatus.out_for_delivery,
        OrderStatus.delivered]
    log = await OrderLog.filter(order_id=out.order.id, action="track").order_by("id")
    assert {r.actor for r in log} == {"carrier:sandbox"}
    assert all("沙箱" in d for d in await TrackingEventRow.all().values_list(
        "description", flat=True))
