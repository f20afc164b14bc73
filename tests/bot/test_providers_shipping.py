"""Couriers served by providers, end to end: an order routed to ZTO with only Kuaidi100
configured gets a real Kuaidi100 e-waybill (kuaidicom zhongtong, the ZTO account) and a
Kuaidi100 subscription; a live installation never issues an SBX number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot import config
from bot.catalog import Catalog
from bot.ordering import LineInput, OrderService, PlaceOrder
from bot.shipping import ShippingService
from bot.tracking import TrackingService
from integrations.carriers import registry
from storage.models import Order, OrderStatus, Shipment, Staff, Warehouse
from storage.shipping_models import ShippingHold
from tests.fakes.kuaidi100_server import FakeKuaidi100, data_item, push_body, push_param
from tests.fakes.sf_server import FakeSf

ADDRESSES = {"HZ01": "余杭区仓前街道文一西路1号", "SH01": "闵行区申贵路1500号",
             "NJ01": "江宁区秣陵街道胜太路88号"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def k100(aiohttp_server: Any) -> FakeKuaidi100:
    fake = FakeKuaidi100()
    fake.accounts = {"zhongtong": "ZTO-MONTHLY-1", "yuantong": "YTO-2"}
    await fake.start(aiohttp_server)
    return fake


@pytest.fixture
async def sf(aiohttp_server: Any) -> FakeSf:
    fake = FakeSf()
    await fake.start(aiohttp_server)
    return fake


@pytest.fixture
async def shippable(world: dict[str, Any]) -> dict[str, Any]:
    for code, address in ADDRESSES.items():
        await Warehouse.filter(code=code).update(address=address)
    await Staff.create(userid="zhouqiang", name="周强", role="warehouse", mobile="15888460192")
    return world


def k100_settings(fake: FakeKuaidi100, **env: str) -> config.Settings:
    data = config._merge(config._read_toml(config.DEFAULTS_PATH), {"kuaidi100": {"couriers": {
        "zto": {"partner_id": "ZTO-MONTHLY-1"}, "yto": {"partner_id": "YTO-2"}}}})
    return config.from_mapping(data, {
        "KUAIDI100_KEY": fake.key, "KUAIDI100_CUSTOMER": fake.customer,
        "KUAIDI100_SECRET": fake.secret, "KUAIDI100_SALT": fake.salt,
        "KUAIDI100_POLL_BASE": fake.base_url, "KUAIDI100_API_BASE": fake.base_url, **env})


async def confirmed(service: OrderService) -> Order:
    out = await service.place(PlaceOrder("C0001", [LineInput("FLT00001", 10)]))
    assert out.ok, out.gates
    await service.confirm(out.order.no)
    return await Order.get(no=out.order.no)


async def test_only_kuaidi100_configured_ships_zto_through_kuaidi100(shippable, k100, http):
    settings = k100_settings(k100)
    providers = registry.build(settings, lambda _p: http)
    service = OrderService(settings, Catalog(settings))
    order = await confirmed(service)
    ship = await Shipment.get(order_id=order.id)
    assert ship.carrier == "zto"  # the default rule's first courier, served by Kuaidi100

    result = await ShippingService(service, providers.shipping,
                                   sandbox=providers.sandbox).ship(order.no, "wh")

    assert result.shipped, result.held
    waybill = (await Shipment.get(id=ship.id)).waybill_no
    assert waybill and waybill.startswith("7310") and not waybill.startswith("SBX")
    label = next(r.form() for r in k100.received if r.path == "/label/order")
    import json

    param = json.loads(label["param"])
    assert param["kuaidicom"] == "zhongtong" and param["partnerId"] == "ZTO-MONTHLY-1"
    sub = k100.subscriptions[waybill]
    assert sub["company"] == "zhongtong"
    assert sub["parameters"]["callbackurl"].endswith("/carriers/kuaidi100/push")

    # Its tracking follows the provider: polled as kuaidi100.zto, pushed to /kuaidi100.
    tracking = TrackingService(settings, providers.tracking, serving=providers.serving)
    assert tracking.client_for("zto", waybill) == "kuaidi100.zto"
    push = push_body(push_param(waybill, "zhongtong", [data_item(
        "2026-03-02 09:12:05", "【杭州市】已揽收", "浙江省杭州市", "103")]), k100.salt)
    parsed = tracking.clients["kuaidi100"].parse_push(push, {}, {})
    assert [(e.waybill, e.carrier) for e in parsed.events] == [(waybill, "zto")]


async def test_a_live_installation_never_issues_a_sandbox_number(shippable, k100, http):
    settings = k100_settings(k100)
    providers = registry.build(settings, lambda _p: http)
    service = OrderService(settings, Catalog(settings))
    order = await confirmed(service)
    await Shipment.filter(order_id=order.id).update(carrier="jd")  # allocated before a change

    result = await ShippingService(service, providers.shipping,
                                   sandbox=providers.sandbox).ship(order.no, "wh")

    assert not result.shipped
    assert (await Shipment.get(order_id=order.id)).waybill_no is None
    [held] = result.held
    assert held.reason.startswith("京东物流未开通") and "JD_APP_KEY" in held.reason
    assert held.retry_at is None  # asking again cannot help: a person configures it
    assert (await ShippingHold.get()).reason == held.reason
    assert (await Order.get(id=order.id)).status == OrderStatus.allocated


async def test_rules_skip_a_courier_without_provider(shippable, k100, sf, http):
    # SF direct keys only (no Kuaidi100): the default rule's first courier zto is skipped.
    data = config._read_toml(config.DEFAULTS_PATH)
    settings = config.from_mapping(data, {"SF_PARTNER_ID": sf.partner_id,
                                          "SF_CHECKWORD": sf.checkword,
                                          "SF_API_BASE": sf.base_url})
    providers = registry.build(settings, lambda _p: http)
    service = OrderService(settings, Catalog(settings))
    out = await service.place(PlaceOrder("C0001", [LineInput("FLT00001", 10)]))
    coverage = next(g for g in out.gates if g.code == "coverage")
    assert coverage.ok and "未开通：中通、京东" in coverage.message
    await service.confirm(out.order.no)
    assert (await Shipment.get(order_id=out.order.id)).carrier == "sf"
    result = await ShippingService(service, providers.shipping,
                                   sandbox=providers.sandbox).ship(out.order.no, "wh")
    assert result.shipped
    assert not (await Shipment.get(order_id=out.order.id)).waybill_no.startswith("SBX")
