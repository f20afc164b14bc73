"""POST /carriers/{carrier}/push with signed pushes made by the carrier fakes' helpers.

The handler is mounted in a small aiohttp app of its own; the database is real (SQLite and
PostgreSQL), orders are shipped through ShippingService (sandbox waybills), and the pushes
carry the numbers they were given.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.ordering import LineInput, PlaceOrder
from bot.tracking import TrackingService
from handlers.carrier_push import TRACKING, routes
from integrations.carriers.jd import JdClient
from integrations.carriers.kuaidi100 import Kuaidi100Client
from integrations.carriers.sandbox import SandboxCarrier
from integrations.carriers.sf import SfClient, push_token
from integrations.carriers.zto import ZtoClient
from storage.models import Order, OrderStatus
from storage.tracking_models import TrackingEventRow
from tests.fakes import kuaidi100_server as k100
from tests.fakes import out_of_order_with_duplicates
from tests.fakes import sf_server as sf
from tests.fakes import zto_server as zto
from tests.ship import ship_sandbox, waybills

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = "application/json;charset=utf-8"
ZTO_NUM = "73100196611387"
NOWHERE = "http://127.0.0.1:9"
K100_REPLY = '{"result": true, "returnCode": "200", "message": "成功"}'.encode()
SF_REPLY = '{"return_code": "0000", "return_msg": "成功"}'.encode()
ZTO_REPLY = ('{"status": true, "message": "成功", "result": "success", '
             '"statusCode": "SYS000"}').encode()



@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def tracking(settings: Any, http: httpx.AsyncClient) -> TrackingService:
    clients = {
        "kuaidi100": Kuaidi100Client(http, NOWHERE, NOWHERE, "K100KEY", "K100CUSTOMER",
                                     "K100SECRET", "K100SALT"),
        "sf": SfClient(http, NOWHERE, "LVYUE_TEST", "CHECKWORD_TEST"),
        "zto": ZtoClient(http, NOWHERE, "ZTO_TEST_KEY", "ZTO_TEST_SECRET"),
        "jd": JdClient(http, NOWHERE, "JD_TEST_KEY", "JD_TEST_SECRET", "JD_TEST_TOKEN",
                       "010K000001"),
        "sandbox": SandboxCarrier(),
    }
    return TrackingService(settings, clients, lambda: datetime(2026, 3, 4, tzinfo=UTC))


@pytest.fixture
async def client(aiohttp_client: Any, tracking: TrackingService, world: Any) -> TestClient:
    app = web.Application()
    app[TRACKING] = tracking
    app.add_routes(routes)
    return await aiohttp_client(app)


async def ship(service: Any) -> tuple[Order, str]:
    """A shipped order (production path, sandbox waybill) and its waybill number, which the
    pushes below carry."""
    out = await service.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 2)]))
    await service.confirm(out.order.no, "zhangwei")
    order = await ship_sandbox(service, out.order.no)
    (number,) = await waybills(order)
    return order, number


async def post(client: TestClient, path: str, body: bytes, headers: dict[str, str] | None = None
               ) -> tuple[int, str, bytes]:
    async with client.post(path, data=body, headers=headers or {}) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


async def status_of(order: Order) -> OrderStatus:
    return (await Order.get(id=order.id)).status


K100_ITEMS = [
    k100.data_item("2026-03-02 09:12:05", "【杭州市】杭州余杭仓前网点 已揽收", "浙江省杭州市",
                   "103"),
    k100.data_item("2026-03-02 21:40:11", "【杭州市】快件离开杭州中转部 发往上海", "浙江省杭州市",
                   "1002"),
    k100.data_item("2026-03-03 08:05:43", "【上海市】闵行网点 正在派件", "上海市闵行区", "5"),
    k100.data_item("2026-03-03 11:30:00", "【上海市】已签收，签收人：王师傅", "上海市闵行区",
                   "301"),
]


async def test_kuaidi100_snapshots_are_stored_once_and_answered_exactly(client, service):
    order, number = await ship(service)
    pushes = k100.snapshot_pushes(number, "zhongtong", K100_ITEMS, "K100SALT")
    for body in [*pushes, pushes[-1]]:  # the last one twice, as Kuaidi100 re-pushes
        assert await post(client, "/carriers/kuaidi100/push", body, FORM) == (
            200, JSON, K100_REPLY)
    assert await TrackingEventRow.filter(waybill=number).count() == 4
    assert await status_of(order) == OrderStatus.delivered


async def test_kuaidi100_bad_signature_is_403_and_nothing_is_stored(client, service):
    order, number = await ship(service)
    param = k100.push_param(number, "zhongtong", K100_ITEMS)
    status, ctype, body = await post(client, "/carriers/kuaidi100/push",
                                     k100.push_body(param, "WRONG_SALT"), FORM)
    assert status == 403 and ctype.startswith("application/problem+json")
    assert json.loads(body)["errors"][0]["code"] == "bad_signature"
    assert await TrackingEventRow.all().count() == 0
    assert await status_of(order) == OrderStatus.shipped


def sf_routes(number: str) -> list[dict[str, Any]]:
    return [sf.route(1, number, "LY-1", "2026-03-02 10:00:00", "50", "顺丰速运 已收取快件"),
            sf.route(2, number, "LY-1", "2026-03-02 18:00:00", "30", "快件已发车"),
            sf.route(3, number, "LY-1", "2026-03-03 09:00:00", "44", "正在派送途中"),
            sf.route(4, number, "LY-1", "2026-03-03 10:00:00", "80", "已签收")]


async def test_sf_route_push_with_our_token(client, service):
    order, number = await ship(service)
    path = f"/carriers/sf/push?token={push_token('LVYUE_TEST', 'CHECKWORD_TEST')}"
    nodes = sf_routes(number)
    for batch in ([nodes[2], nodes[0]], nodes):  # the second push repeats the first two
        assert await post(client, path, sf.push_body(batch),
                          {"Content-Type": "application/json"}) == (200, JSON, SF_REPLY)
    assert await TrackingEventRow.filter(waybill=number).count() == 4
    assert await status_of(order) == OrderStatus.delivered


async def test_sf_push_without_the_token_is_403(client, service):
    _, number = await ship(service)
    status, _, _ = await post(client, "/carriers/sf/push?token=guess",
                              sf.push_body(sf_routes(number)))
    assert status == 403
    assert await TrackingEventRow.all().count() == 0


def zto_traces(number: str = ZTO_NUM) -> list[dict[str, str]]:
    return [zto.trace(number, "GOT", "2026-03-02 15:07:46", "【杭州市】快件已揽收", "杭州市"),
            zto.trace(number, "DEPARTURE", "2026-03-02 20:00:00", "快件已发往上海", "杭州市"),
            zto.trace(number, "ARRIVAL", "2026-03-03 04:00:00", "快件已到达上海", "上海市"),
            zto.trace(number, "DISPATCH", "2026-03-03 09:00:00", "正在派件", "上海市"),
            zto.trace(number, "SIGNED", "2026-03-03 11:00:00", "已签收", "上海市")]


async def test_zto_out_of_order_duplicated_pushes(client, service):
    order, number = await ship(service)
    statuses = []
    for trace in out_of_order_with_duplicates(zto_traces(number)):
        body = zto.push_body(trace, "ZTO_TEST_KEY", "ZTO_TEST_SECRET")
        assert await post(client, "/carriers/zto/push", body, FORM) == (200, JSON, ZTO_REPLY)
        statuses.append(await status_of(order))
    assert set(statuses) == {OrderStatus.delivered}  # signed first: never moved back
    assert await TrackingEventRow.filter(waybill=number).count() == 5


async def test_zto_bad_digest_is_403_and_nothing_is_stored(client, service):
    _, number = await ship(service)
    body = zto.push_body(zto_traces(number)[0], "ZTO_TEST_KEY", "ZTO_TEST_SECRET",
                         data_digest="AAAAAAAAAAAAAAAAAAAAAA==")
    status, _, _ = await post(client, "/carriers/zto/push", body, FORM)
    assert status == 403
    assert await TrackingEventRow.all().count() == 0


async def test_a_signed_but_unreadable_body_is_400(client):
    body = zto.push_body("not json", "ZTO_TEST_KEY", "ZTO_TEST_SECRET")
    status, ctype, answer = await post(client, "/carriers/zto/push", body, FORM)
    assert status == 400 and ctype.startswith("application/problem+json")
    assert json.loads(answer)["errors"][0]["code"] == "bad_body"


@pytest.mark.parametrize("carrier", ["ems", "jd", "sandbox"])
async def test_unknown_disabled_or_pushless_carrier_is_404(client, carrier):
    status, ctype, body = await post(client, f"/carriers/{carrier}/push", b"{}")
    assert status == 404 and ctype.startswith("application/problem+json")
    assert json.loads(body)["errors"][0]["field"] == "carrier"


async def test_a_body_over_one_mebibyte_is_413(client):
    status, _, _ = await post(client, "/carriers/zto/push", b"x" * ((1 << 20) + 1), FORM)
    assert status == 413


async def test_a_push_for_an_unknown_waybill_is_acknowledged_and_ignored(client, tracking):
    body = zto.push_body(zto.trace("73100000000000", "GOT", "2026-03-02 15:07:46", "揽收"),
                         "ZTO_TEST_KEY", "ZTO_TEST_SECRET")
    assert await post(client, "/carriers/zto/push", body, FORM) == (200, JSON, ZTO_REPLY)
    assert tracking.unknown_waybills == 1
    assert await TrackingEventRow.all().count() == 0


async def test_a_failure_while_applying_is_503_never_500(client, tracking, monkeypatch):
    async def broken(events: Sequence[Any], *, pushed: bool = False) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(tracking, "apply", broken)
    body = zto.push_body(zto_traces()[0], "ZTO_TEST_KEY", "ZTO_TEST_SECRET")
    status, ctype, _ = await post(client, "/carriers/zto/push", body, FORM)
    assert status == 503 and ctype.startswith("application/problem+json")
