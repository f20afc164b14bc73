"""The customer tracking page in a real headless Chromium (Debian's, driven by Playwright).

A phone viewport (390×844), the live countdown, the offline map (drawn from coordinates, no
request may leave 127.0.0.1), the delivered page, the 404 page, and the Amap path with the
Amap script answered by a local stub. Screenshots are kept with LVYUE_SCREENSHOTS=DIR.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from bot.ordering import LineInput, PlaceOrder
from bot.trackview import TrackingPageConfig
from handlers import pages
from storage.models import Order, OrderStatus, Shipment
from tests.ship import ship_sandbox

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
# In words, never a clock-like 21:15:44 (issue 9)
COUNTDOWN = re.compile(r"^(\d+天)?(\d+小时)?\d+分$")
SECRET = "e2e-secret"
# A stand-in for the Amap JS API 2.0: records what the page asks of it, then calls back.
AMAP_STUB = """
window.__amap = [];
window.AMap = {
  Map: function (box, opts) { __amap.push(["Map", opts.center]);
    this.add = function (list) { __amap.push(["add", list.length]); };
    this.setFitView = function () { __amap.push(["fit"]); }; },
  Marker: function (o) { __amap.push(["Marker", o.title || "", o.position]); },
  Polyline: function (o) { __amap.push(["Polyline", o.path.length, o.strokeStyle || "solid"]); },
  Pixel: function (x, y) { this.x = x; this.y = y; }
};
var cb = (document.currentScript.src.match(/callback=([A-Za-z_$][\\w$]*)/) || [])[1];
if (cb && window[cb]) window[cb]();
"""



@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    if not HAVE_CHROMIUM:
        pytest.fail("Chromium is needed for browser tests: apt-get install chromium "
                    "(.ci/run installs it)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


def keep(path: Path) -> None:
    """Copy a screenshot where a person can look at it (LVYUE_SCREENSHOTS=DIR)."""
    if target := os.environ.get("LVYUE_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def config(settings: Any, **over: Any) -> TrackingPageConfig:
    return replace(TrackingPageConfig.from_settings(settings), secret=SECRET, **over)


async def serve(aiohttp_client: Any, cfg: TrackingPageConfig) -> Any:
    app = web.Application()
    app[pages.TRACKING] = cfg
    app.add_routes(pages.routes)
    return await aiohttp_client(app)


class Phone:
    """A phone-sized page that refuses (and remembers) every request not to 127.0.0.1."""

    def __init__(self, context: Any, page: Any) -> None:
        self.context, self.page = context, page
        self.external: list[str] = []
        self.errors: list[str] = []

    @classmethod
    async def open(cls, browser: Any, allow: dict[str, str] | None = None) -> Phone:
        context = await browser.new_context(**PHONE)
        phone = cls(context, await context.new_page())
        allow = allow or {}

        async def guard(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith("data:"):
                await route.continue_()
                return
            for prefix, body in allow.items():
                if url.startswith(prefix):
                    await route.fulfill(status=200, content_type="application/javascript",
                                        body=body)
                    return
            phone.external.append(url)
            await route.abort()

        await context.route("**/*", guard)
        phone.page.on("pageerror", lambda exc: phone.errors.append(str(exc)))
        phone.page.on("console", lambda msg: phone.errors.append(msg.text)
                      if msg.type == "error" else None)
        return phone

    async def shot(self, tmp_path: Path, name: str) -> None:
        await self.page.screenshot(path=str(tmp_path / name), full_page=True)
        keep(tmp_path / name)


async def in_transit_order(service: Any, world: Any) -> Order:
    """Nanjing warehouse → the Hangzhou shop, now at the Wuxi hub."""
    out = await service.place(PlaceOrder(customer="C0001", lines=[LineInput("FLT00001", 6)],
                                         warehouse="NJ01"))
    assert out.ok, out.gates
    await service.confirm(out.order.no, "zhangwei")
    order = await ship_sandbox(service, out.order.no)
    ship = await Shipment.get(order_id=order.id)
    assert ship.warehouse_id == world["warehouses"]["NJ01"].id
    left = datetime.now(UTC) - timedelta(hours=12)
    await add_events(ship, left, [
        (0.8, "collected", "南京市", "【南京市】南京鼓楼网点 已揽收"),
        (2.1, "in_transit", "南京市", "快件离开【南京鼓楼网点】，已发往【南京转运中心】"),
        (5.3, "in_transit", "南京市", "快件已到达【南京转运中心】"),
        (7.0, "in_transit", "无锡市", "快件离开【南京转运中心】，已发往【无锡转运中心】"),
        (9.6, "in_transit", "无锡市", "快件已到达【无锡转运中心】"),
    ])
    await Shipment.filter(id=ship.id).update(status=OrderStatus.in_transit, shipped_at=left)
    await Order.filter(id=order.id).update(status=OrderStatus.in_transit, shipped_at=left)
    return await Order.get(id=order.id)


async def add_events(ship: Shipment, start: datetime,
                     events: list[tuple[float, str, str, str]]) -> None:
    from storage.tracking_models import TrackingEventRow

    for hours, status, location, text in events:
        await TrackingEventRow.create(
            shipment_id=ship.id, carrier=ship.carrier or "zto", waybill=ship.waybill_no or "",
            status=status, occurred_at=start + timedelta(hours=hours), location=location,
            description=text, dedupe_key=uuid.uuid4().hex)


async def test_tracking_page_on_a_phone_with_the_offline_map(world, service, settings,
                                                             aiohttp_client, browser, tmp_path):
    cfg = config(settings)
    client = await serve(aiohttp_client, cfg)
    order = await in_transit_order(service, world)
    phone = await Phone.open(browser)
    page = phone.page
    await page.goto(str(client.make_url(f"/t/{cfg.token(order.no)}")))

    assert await page.locator("#status").inner_text() == "运输中"
    assert "预计" in await page.locator("#promise").inner_text()
    # the countdown runs (its script has written data-left) and reads in words
    value = page.locator("#countdown-value")
    await page.wait_for_function(
        "() => document.getElementById('countdown').hasAttribute('data-left')", timeout=3000)
    first = await value.inner_text()
    assert COUNTDOWN.match(first), first
    left = int(await page.locator("#countdown").get_attribute("data-left") or 0)
    assert first.endswith(f"{left // 60 % 60}分") and left > 3600
    # the offline map: origin, destination, the route travelled and to go, the parcel now
    svg = page.locator("#map svg")
    await svg.wait_for()
    for sel in ("#map-origin", "#map-dest", "path.map-route.done", "path.map-route.rest",
                "#map-current", "circle.m-hub"):
        assert await svg.locator(sel).count() >= 1, sel
    assert await svg.locator("text.m-city").count() >= 3  # the region is labelled
    # real province outlines from the packaged geodata, not an empty grid (issue 9)
    outlines = svg.locator("path.m-outline")
    names = {await outlines.nth(i).get_attribute("data-name")
             for i in range(await outlines.count())}
    assert {"浙江", "江苏", "上海", "安徽"} <= names, names
    cities = {await c.get_attribute("data-name")
              for c in await svg.locator("path.m-outline-city").all()}
    assert {"杭州", "南京", "无锡", "湖州"} <= cities, cities
    zj = await svg.locator('path.m-outline[data-name="浙江"]').bounding_box()
    assert zj and zj["width"] > 100 and zj["height"] > 100  # a shape the size of the view
    assert "离线示意图" in await page.locator("#map-mode").inner_text()
    box = await svg.bounding_box()
    assert box and box["width"] > 340 and box["height"] > 200
    # timeline newest first, masked receiver, nothing off the page's width
    events = page.locator(".timeline .ev")
    assert await events.count() == 5
    assert "无锡转运中心" in await events.first.inner_text()
    assert await page.locator("#address").inner_text() == "浙江省杭州市西湖区****"
    assert "138****0001" in await page.locator("#contact").inner_text()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.shot(tmp_path, "tracking-in-transit.png")
    await svg.screenshot(path=str(tmp_path / "tracking-map.png"))
    keep(tmp_path / "tracking-map.png")
    assert phone.external == [], phone.external
    assert phone.errors == [], phone.errors


async def test_delivered_page_and_the_404_page(world, service, settings, aiohttp_client,
                                               browser, tmp_path):
    cfg = config(settings)
    client = await serve(aiohttp_client, cfg)
    order = await in_transit_order(service, world)
    ship = await Shipment.get(order_id=order.id)
    delivered = order.promised_at - timedelta(hours=1, minutes=20)
    await add_events(ship, delivered - timedelta(hours=2), [
        (0.5, "in_transit", "杭州市", "快件已到达【杭州转运中心】"),
        (1.0, "out_for_delivery", "杭州市", "【杭州市】快件已到达【杭州城西网点】，正在派件"),
        (2.0, "delivered", "杭州市", "【杭州市】快件已签收，签收人：王师傅"),
    ])
    for model, key in ((Order, order.id), (Shipment, ship.id)):
        await model.filter(id=key).update(status=OrderStatus.delivered, delivered_at=delivered)
    phone = await Phone.open(browser)
    page = phone.page
    await page.goto(str(client.make_url(f"/t/{cfg.token(order.no)}")))
    assert await page.locator("#status").inner_text() == "已签收"
    assert "在承诺时间内送达，提前1小时" in await page.locator("#verdict").inner_text()
    assert await page.locator("#countdown").count() == 0
    await page.locator("#map svg #map-dest").wait_for()
    assert await page.locator("#map svg path.map-route.rest").count() == 0
    assert "签收人：王*傅" in await page.locator(".timeline .ev").first.inner_text()
    await phone.shot(tmp_path, "tracking-delivered.png")
    await page.locator("#map svg").screenshot(path=str(tmp_path / "tracking-map-delivered.png"))
    keep(tmp_path / "tracking-map-delivered.png")
    assert phone.errors == [], phone.errors

    resp = await page.goto(str(client.make_url("/t/expired-or-forged.token")))
    assert resp and resp.status == 404
    assert await page.locator("h1").inner_text() == "链接无效或已过期"
    await phone.shot(tmp_path, "tracking-not-found.png")
    assert phone.external == [], phone.external


async def test_with_an_amap_key_the_live_map_draws_the_route(world, service, settings,
                                                            aiohttp_client, browser):
    cfg = config(settings, amap_key="test-key")
    client = await serve(aiohttp_client, cfg)
    order = await in_transit_order(service, world)
    phone = await Phone.open(browser, allow={"https://webapi.amap.com/maps?": AMAP_STUB})
    page = phone.page
    await page.goto(str(client.make_url(f"/t/{cfg.token(order.no)}")))
    await page.wait_for_function("window.__amap && window.__amap.some(c => c[0] === 'fit')")
    calls = await page.evaluate("window.__amap")
    kinds = [c[0] for c in calls]
    assert kinds.count("Map") == 1
    markers = [c[1] for c in calls if c[0] == "Marker"]
    assert "南京仓" in markers and "杭州市西湖区" in markers
    lines = sorted((c[1], c[2]) for c in calls if c[0] == "Polyline")
    assert lines == [(2, "dashed"), (2, "solid")]  # Nanjing → Wuxi done; Wuxi → Hangzhou to go
    assert await page.locator("#map svg").count() == 0  # the live map replaced the schematic
    assert await page.locator("#map-mode").inner_text() == "实时地图"
    assert phone.external == [] and phone.errors == [], (phone.external, phone.errors)


async def test_when_amap_cannot_load_the_offline_map_stays(world, service, settings,
                                                          aiohttp_client, browser):
    cfg = config(settings, amap_key="test-key")
    client = await serve(aiohttp_client, cfg)
    order = await in_transit_order(service, world)
    phone = await Phone.open(browser)  # the Amap request is refused like any other
    page = phone.page
    await page.goto(str(client.make_url(f"/t/{cfg.token(order.no)}")))
    await page.wait_for_function(
        "document.getElementById('map-mode').textContent === '离线示意图'")
    assert await page.locator("#map svg #map-origin").count() == 1
    assert [urlsplit(u).hostname for u in phone.external] == ["webapi.amap.com"]
