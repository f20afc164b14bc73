"""Bulkheads and deadlines: a carrier that drips its answer byte by byte holds only its own
pool. While 100 ships hang on it, a 帮助 through the real WeCom callback is answered through
the fake WeCom; then every ship ends with a clear timeout and is held for a retry."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from bot.app import build
from bot.config import Secret
from bot.ordering import LineInput, PlaceOrder
from handlers.keys import SERVICE, SHIPPING
from integrations.http import DEFAULTS, Bulkhead, Pools
from storage.models import OrderStatus
from storage.shipping_models import ShippingHold
from tests.fakes.sf_server import FakeSf
from tests.fakes.wecom_server import FakeWeCom
from tests.handlers.test_wecom_callback import AES, TOKEN, post, text_xml, until

SHIPS = 100
CARRIER_DEADLINE_S = 3.0


@pytest.fixture
async def wecom():
    async with FakeWeCom() as server:
        yield server


@pytest.fixture
async def dripping_sf(aiohttp_server: Any) -> FakeSf:
    fake = FakeSf()
    await fake.start(aiohttp_server)
    fake.drip_every, fake.drip_seconds = 0.2, 30.0
    fake.fail("drip")
    return fake


@pytest.fixture
async def client(world, settings, wecom, dripping_sf, aiohttp_client):
    env = {"WECOM_CORP_ID": wecom.corp_id, "WECOM_AGENT_ID": str(wecom.agent_id),
           "WECOM_SECRET": wecom.secret, "WECOM_TOKEN": TOKEN, "WECOM_AES_KEY": AES,
           "WECOM_API_BASE": wecom.url, "SF_PARTNER_ID": dripping_sf.partner_id,
           "SF_CHECKWORD": dripping_sf.checkword, "SF_API_BASE": dripping_sf.base_url}
    s = replace(settings, env={k: Secret(v) for k, v in env.items()})
    pools = Pools({**DEFAULTS, "carrier": Bulkhead(concurrency=16,
                                                   deadline_s=CARRIER_DEADLINE_S)})
    return await aiohttp_client(build(s, manage_db=False, pools=pools))


async def allocated_orders(app: Any, n: int) -> list[str]:
    service = app[SERVICE]
    nos = []
    for _ in range(n):
        out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 1)]))
        assert out.ok, out.gates
        await service.confirm(out.order.no)
        nos.append(out.order.no)
    return nos


async def test_chat_is_answered_while_100_ships_hang_on_a_dripping_carrier(
        client, wecom, dripping_sf):
    app = client.server.app
    nos = await allocated_orders(app, SHIPS)
    ships = [asyncio.create_task(app[SHIPPING].ship(no, "wh")) for no in nos]
    await until(lambda: len(dripping_sf.received) >= 16)  # the carrier's pool is full

    resp = await post(client, wecom, text_xml(wecom, "zhangwei", "帮助", 20001))
    assert resp.status == 200
    while not wecom.delivered("zhangwei"):
        assert not any(t.done() for t in ships), "a ship ended before the chat reply"
        await asyncio.sleep(0.01)
    assert not any(t.done() for t in ships)  # the reply came while every ship still hangs
    assert "查库存" in wecom.delivered("zhangwei")[0].payload["content"]

    results = await asyncio.gather(*ships)
    for r in results:
        assert not r.shipped and r.order.status == OrderStatus.allocated
        [held] = r.held
        # the deadline that fired, not httpx's per-read 10 s: sent and timed out, or never
        # given one of the pool's 16 slots (how many of each depends on how the ships start)
        sent = f"顺丰接口超时（{CARRIER_DEADLINE_S:g} 秒未响应）"
        unsent = f"顺丰接口繁忙（{CARRIER_DEADLINE_S:g} 秒内请求未能发出）"
        assert held.reason in (sent, unsent), held.reason
        assert held.retry_at is not None and held.attempts == 1  # back-off, then again
    assert await ShippingHold.filter(attempts=1).count() == SHIPS
