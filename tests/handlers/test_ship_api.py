"""POST /api/orders/{no}/ship with a carrier that refuses: 202 with the hold, then 200.

The application is assembled here from the API routes and a ShippingService on the real SF
fake (bot/app.py wires the same pieces under the same keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.catalog import Catalog
from bot.config import Settings
from bot.ordering import LineInput, OrderService, PlaceOrder
from bot.ratelimit import Limiter
from bot.shipping import ShippingService
from bot.trackview import TrackingPageConfig
from handlers import api, auth, pages
from handlers.keys import SERVICE, SETTINGS, SHIPPING
from integrations.carriers.sf import SfClient
from storage.models import Shipment, Staff, Stock, Warehouse
from storage.shipping_models import ShippingHold
from tests.conftest import bearer, issue_key
from tests.fakes.sf_server import FakeSf
from tests.handlers.test_api import ISO_CST, PROBLEM, act, assert_problem

REFUSAL = "顺丰：月结卡号已失效，请联系顺丰业务员"


@pytest.fixture
async def sf(aiohttp_server: Any) -> FakeSf:
    fake = FakeSf()
    await fake.start(aiohttp_server)
    return fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def service(world: dict[str, Any], settings: Settings) -> OrderService:
    await Warehouse.filter(code="HZ01").update(address="余杭区仓前街道文一西路1号")
    await Staff.create(userid="zhouqiang", name="周强", role="warehouse", mobile="15888460192")
    return OrderService(settings, Catalog(settings))


@pytest.fixture
async def client(service: OrderService, settings: Settings, sf: FakeSf,
                 http: httpx.AsyncClient, aiohttp_client: Any) -> TestClient:
    app = web.Application(middlewares=[api.errors_middleware, auth.api_auth_middleware])
    app[SETTINGS] = settings
    app[auth.KEYS] = auth.KeyCache(Limiter(settings.limits.api_per_key))
    app[SERVICE] = service
    app[pages.TRACKING] = TrackingPageConfig.from_settings(settings)
    sf_client = SfClient(http, sf.base_url, sf.partner_id, sf.checkword, "7551234567", 2.0)
    app[SHIPPING] = ShippingService(service, {"sf": sf_client})
    app.add_routes(api.routes)
    return await aiohttp_client(app, headers=bearer(await issue_key("zhouqiang", "warehouse")))


async def allocated_sf_order(service: OrderService) -> str:
    out = await service.place(PlaceOrder("C0001", [LineInput("FLT00001", 10)]))
    await service.confirm(out.order.no)
    await Shipment.filter(order_id=out.order.id).update(carrier="sf")
    return out.order.no


async def hz_flt() -> tuple[int, int]:
    row = await Stock.get(product__sku="FLT00001", warehouse__code="HZ01")
    return row.on_hand, row.reserved


async def test_a_refusal_answers_202_with_the_hold_and_a_repeat_retries_at_once(client, service,
                                                                              sf):
    no = await allocated_sf_order(service)
    sf.fail("business", times=2)

    ans = await act(client, no, "ship", {"actor": "zhouqiang"})

    assert ans.status == 202, ans.body
    assert ans.content_type == "application/json"
    assert ans.body["no"] == no and ans.body["status"] == "allocated"
    assert ans.body["shipped_at"] is None
    assert [(s["waybill_no"], s["reserved"]) for s in ans.body["shipments"]] == [(None, True)]
    (held,) = ans.body["shipping_held"]
    assert set(held) == {"seq", "carrier", "reason", "attempts", "retry_at"}
    assert (held["seq"], held["carrier"], held["reason"], held["attempts"]) == (
        1, "sf", REFUSAL, 1)
    assert ISO_CST.match(held["retry_at"]), held["retry_at"]
    assert await hz_flt() == (100, 10)

    again = await act(client, no, "ship")  # the warehouse tries again by hand, at once
    assert again.status == 202
    assert again.body["shipping_held"][0]["attempts"] == 2

    done = await act(client, no, "ship")
    assert done.status == 200, done.body
    assert done.body["status"] == "shipped" and "shipping_held" not in done.body
    assert done.body["shipments"][0]["waybill_no"] == "SF0000000000001"
    assert await hz_flt() == (90, 0)
    assert not await ShippingHold.exists()

    assert_problem(await act(client, no, "ship"), 409, code="illegal_transition")


async def test_a_carrier_outage_is_a_hold_not_a_server_error(client, service, sf):
    no = await allocated_sf_order(service)
    sf.fail("server_error", times=1)

    ans = await act(client, no, "ship")

    assert ans.status == 202, ans.body
    assert ans.body["shipping_held"][0]["reason"] == "顺丰接口故障（HTTP 502）"


async def test_unknown_order_is_404(client):
    ans = await act(client, "LY000000999999", "ship")
    assert ans.status == 404 and ans.content_type == PROBLEM
