"""The dashboard in a real headless Chromium: a month of figures on a phone and on a desktop,
the empty state, and the 403 page. Screenshots are kept with LVYUE_SCREENSHOTS=DIR.

No request may leave 127.0.0.1 and the page runs no script at all (its CSP allows none), so
a console error here is a CSP violation or a broken asset.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import Secret
from bot.domain.eta import CST
from bot.trackview import TrackingPageConfig
from handlers import dashboard, pages
from storage.chat_models import ChatQuestion
from storage.models import Order, OrderStatus, Shipment
from tests.bot.test_kpi import NOW
from tests.e2e.test_tracking_browser import Phone, keep
from tests.e2e.test_tracking_browser import browser as browser  # the fixture

pytestmark = pytest.mark.browser
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN",
           "timezone_id": "Asia/Shanghai"}


def make_app(settings: Any) -> web.Application:
    app = web.Application()
    cfg = TrackingPageConfig.from_settings(replace(settings, secret=Secret("e2e")))
    app[pages.TRACKING] = replace(cfg, clock=lambda: NOW)
    app.add_routes(dashboard.routes)
    return app


async def a_month_of_orders(world: Any) -> None:
    """~20 orders a day for 30 days, deterministic, with promises, deliveries and questions."""
    customers = list(world["customers"].values())
    wh = world["warehouses"]["HZ01"]
    today = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    orders, times = [], []
    for day in range(30):
        start = today - timedelta(days=29 - day)
        for i in range(14 + (day * 7) % 11):
            created = start + timedelta(hours=8 + (i * 37 % 600) / 60)
            if created >= NOW:
                continue
            shipped = created + timedelta(hours=2 + (i * 13 + day) % 14)
            promised = created + timedelta(hours=24 + (i % 3) * 12)
            delivered = promised + timedelta(hours=((i * 29 + day * 3) % 17 - 8) * 0.75)
            if day >= 27 and i % 2:  # the last days: not yet delivered
                delivered = None
            if shipped >= NOW:
                shipped = delivered = None
            if delivered is not None and delivered >= NOW:
                delivered = None
            status = (OrderStatus.delivered if delivered else
                      OrderStatus.in_transit if shipped else OrderStatus.allocated)
            orders.append(Order(no=f"LYE{day:02d}{i:03d}", customer=customers[i % 2],
                                status=status, promised_at=promised, confirmed_at=created,
                                shipped_at=shipped, delivered_at=delivered))
            times.append((created, promised, shipped, delivered, "sf" if i % 3 else "zto"))
    await Order.bulk_create(orders)
    by_no = {o.no: o for o in await Order.all()}
    ships = []
    for o, (created, promised, shipped, delivered, carrier) in zip(orders, times, strict=True):
        await Order.filter(id=by_no[o.no].id).update(created_at=created)
        ships.append(Shipment(order_id=by_no[o.no].id, seq=1, warehouse_id=wh.id,
                              carrier=carrier, status=o.status, promised_at=promised,
                              shipped_at=shipped, delivered_at=delivered))
    await Shipment.bulk_create(ships)
    for day in range(30):
        for j in range(2 + (day * 5) % 9):
            q = await ChatQuestion.create(kind="logistics" if j % 3 else "order", user_id="u")
            at = today - timedelta(days=29 - day) + timedelta(hours=9 + j)
            await ChatQuestion.filter(id=q.id).update(at=min(at, NOW - timedelta(minutes=1)))
    await Order.filter(no="LYE29000").update(status=OrderStatus.on_hold)


async def open_page(browser: Any, url: str, desktop: bool = False, **extra: Any) -> Phone:
    if not desktop:
        phone = await Phone.open(browser)
        if extra:
            await phone.context.set_extra_http_headers(extra)
    else:
        context = await browser.new_context(**DESKTOP, extra_http_headers=extra)
        phone = Phone(context, await context.new_page())
        phone.page.on("console", lambda m: phone.errors.append(m.text)
                      if m.type == "error" else None)
    await phone.page.goto(url)
    return phone


async def test_a_month_of_figures_on_a_phone_and_a_desktop(world, settings, aiohttp_client,
                                                           browser, tmp_path: Path):
    await a_month_of_orders(world)
    client = await aiohttp_client(make_app(settings))
    phone = await open_page(browser, str(client.make_url("/dashboard")))
    page = phone.page
    assert await page.title() == "履约看板 · 近30天"
    assert await page.locator("#empty").count() == 0
    for chart in ("chart-orders", "chart-questions", "chart-histogram", "chart-ship"):
        svg = page.locator(f"svg#{chart}")
        box = await svg.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 140, chart
    assert await page.locator("svg#chart-orders polyline").count() == 3
    assert await page.locator("svg#chart-questions rect.bar").count() >= 30
    assert await page.locator("svg#chart-histogram rect.in-window").count() == 2
    tiles = page.locator("#tiles .tile")
    assert await tiles.count() == 11
    assert "%" in await tiles.nth(0).locator(".tile-value").inner_text()
    # every figure says on hover what it counts: tiles, table columns, bars and axes
    for i in range(await tiles.count()):
        title = await tiles.nth(i).get_attribute("title")
        assert title and len(title) > 20, (i, title)
    for th in await page.locator("table th").all():
        assert await th.get_attribute("title"), await th.inner_text()
    bars = await page.eval_on_selector_all("svg#chart-histogram rect.bar title",
                                           "els => els.map(e => e.textContent)")
    assert bars and all(t.startswith(("提前", "延迟")) for t in bars), bars
    # early and late apart, with their sign
    values = {await t.locator(".tile-label").inner_text():
              await t.locator(".tile-value").inner_text() for t in await tiles.all()}
    assert values["提前送达偏差"].startswith("−") and values["延迟送达偏差"].startswith("+")
    assert "−0.0" not in await page.locator("#tiles").inner_text()
    # CJK glyphs render with a real width (no tofu boxes of zero width)
    width = await page.evaluate(
        "() => { const c = document.createElement('canvas').getContext('2d');"
        " c.font = '16px \"Noto Sans CJK SC\"'; return c.measureText('履约看板').width; }")
    assert width > 40
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.shot(tmp_path, "dashboard-phone.png")
    await page.screenshot(path=str(tmp_path / "dashboard-phone-top.png"))
    keep(tmp_path / "dashboard-phone-top.png")
    card = page.locator("article.card", has=page.locator("svg#chart-histogram"))
    await card.screenshot(path=str(tmp_path / "dashboard-histogram.png"))
    keep(tmp_path / "dashboard-histogram.png")
    assert phone.external == [] and phone.errors == [], (phone.external, phone.errors)
    await phone.context.close()

    # the 7-day tab
    desk = await open_page(browser, str(client.make_url("/dashboard")), desktop=True)
    await desk.page.click("text=近7天")
    await desk.page.wait_for_url("**days=7**")
    assert await desk.page.title() == "履约看板 · 近7天"
    await desk.page.goto(str(client.make_url("/dashboard?days=30")))
    await desk.page.screenshot(path=str(tmp_path / "dashboard-desktop.png"), full_page=True)
    keep(tmp_path / "dashboard-desktop.png")
    assert desk.errors == [], desk.errors
    await desk.context.close()


async def test_the_empty_state_and_the_403_page(db, settings, aiohttp_client, browser,
                                                tmp_path: Path):
    client = await aiohttp_client(make_app(settings))
    phone = await open_page(browser, str(client.make_url("/dashboard")))
    page = phone.page
    assert "暂无数据" in await page.locator("#empty").inner_text()
    assert await page.locator("svg.chart").count() == 0
    assert await page.locator(".empty").count() == 6
    await phone.shot(tmp_path, "dashboard-empty.png")
    assert phone.errors == [], phone.errors
    await phone.context.close()

    denied = await open_page(browser, str(client.make_url("/dashboard")),
                             **{"X-Forwarded-For": "203.0.113.9"})
    assert "无权查看看板" in await denied.page.locator("#denied").inner_text()
    await denied.shot(tmp_path, "dashboard-403.png")
    await denied.context.close()
