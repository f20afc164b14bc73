"""The local chat console in a real headless Chromium (Debian's, driven by Playwright)."""

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
from aiohttp import web

from bot.app import build
from storage.models import Order, OrderStatus

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _installed(path: str) -> bool:
    return Path(path).exists()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    if not _installed(CHROMIUM):
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


async def test_order_by_chat_and_confirm_by_clicking_the_card(world, settings, aiohttp_client,
                                                               browser, tmp_path):
    client = await aiohttp_client(build(settings, manage_db=False))
    page = await browser.new_page(viewport={"width": 900, "height": 900})
    await page.goto(str(client.make_url("/console")))
    await page.wait_for_selector("#who option[value=zhangwei]", state="attached")
    # role names come from the server's vocabulary (bot/domain/vocab.py ROLE_ZH)
    assert await page.inner_text("#who option[value=zhangwei]") == "张伟（销售）"
    await page.select_option("#who", "zhangwei")
    await page.fill("#text", "恒通汽修 BRK00001 前刹车片 x5，OIL00001 机油 x2 "
                    "送浙江省杭州市西湖区文三路100号")
    await page.click("#send")
    card = page.locator(".card").first
    await card.wait_for()
    assert "订单待确认" in await card.locator(".title").inner_text()
    assert "充足" in await card.inner_text() or "紧张" in await card.inner_text()
    await page.screenshot(path=str(tmp_path / "console-draft.png"), full_page=True)
    keep(tmp_path / "console-draft.png")
    await card.get_by_role("button", name="确认下单").click()
    await page.wait_for_function(
        "document.querySelector('.card .title').textContent.includes('订单已确认')")
    no = (await page.locator(".card .title").inner_text()).split()[-1]
    assert (await Order.get(no=no)).status == OrderStatus.allocated
    await page.screenshot(path=str(tmp_path / "console-confirmed.png"), full_page=True)
    keep(tmp_path / "console-confirmed.png")


async def test_console_refuses_other_hosts(world, settings, aiohttp_client):
    client = await aiohttp_client(build(settings, manage_db=False))
    assert (await client.get("/console")).status == 200
    # a proxy on this machine relaying someone else is not "this machine"
    resp = await client.get("/console", headers={"X-Forwarded-For": "8.8.8.8"})
    assert resp.status == 403 and "本机" in await resp.text()
    from handlers.console import _loopback_only

    class Remote:
        remote = "10.1.2.3"
        host = "127.0.0.1:8080"
        headers: Mapping[str, str] = MappingProxyType({})

    with pytest.raises(web.HTTPForbidden) as refused:
        _loopback_only(Remote())  # type: ignore[arg-type]
    assert "本机" in refused.value.text


async def test_outbox_tab_shows_the_dead_reason_and_retry_sends_it(world, settings,
                                                                   aiohttp_client, browser,
                                                                   tmp_path):
    import asyncio
    from datetime import UTC, datetime

    from handlers.keys import OUTBOX
    from messages.channels import ConsoleChannel
    from messages.outbox import OutboxDispatcher
    from messages.render import load
    from storage import outbox

    context = {"单号": "SO20261125001", "客户名称": "杭州西湖恒通汽修厂", "原通知": "已出库",
               "渠道": "公众号", "原因": "用户未关注公众号（43004）"}
    now = datetime.now(UTC)
    await outbox.enqueue([outbox.Notification(
        dedup_key=k, event="push_failed", channel="console", recipient="zhangwei",
        template="push_failed.wecom_app", context=context, order_no="SO20261125001")
        for k in ("sent", "dead")], now)
    sent, dead = await outbox.claim(2, "seed", 60, now, ["console"])
    await outbox.mark_sent(sent, "console-seed", "给客户杭州西湖恒通汽修厂的通知未能送达（订单"
                           "SO20261125001，已出库，公众号）：用户未关注公众号（43004）。", now)
    await outbox.mark_dead(dead, "控制台渠道暂不可用（演示）")

    app = build(settings, manage_db=False)
    app[OUTBOX] = dispatcher = OutboxDispatcher({"console": ConsoleChannel()},
                                                renderer=load(), worker_id="browser-test")
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run_forever(stop, idle=1.0))
    try:
        client = await aiohttp_client(app)
        page = await browser.new_page(viewport={"width": 900, "height": 700})
        await page.goto(str(client.make_url("/console")))
        await page.wait_for_selector("#dead-badge:not([hidden])")
        assert await page.inner_text("#dead-badge") == "1"
        await page.click("#tab-outbox")
        note = page.locator(f'.note[data-id="{dead.id}"]')
        await note.wait_for()
        assert "原因：控制台渠道暂不可用（演示）" in await note.inner_text()
        assert "推送失败提醒" in await note.inner_text() and "订单 SO20261125001" in \
            await note.inner_text()
        assert "失败1" in (await page.inner_text(".chip-dead")).replace("\n", "")
        assert "月" in await note.locator(".time").inner_text()  # China time, as the bot writes
        assert "用户未关注公众号" in await page.locator(f'.note[data-id="{sent.id}"] .text'
                                                     ).inner_text()
        await page.screenshot(path=str(tmp_path / "console-outbox-dead.png"), full_page=True)
        keep(tmp_path / "console-outbox-dead.png")

        await note.get_by_role("button", name="重试").click()
        await page.wait_for_selector(f'.note[data-id="{dead.id}"] .tag-sent')
        note = page.locator(f'.note[data-id="{dead.id}"]')
        assert "请电话告知客户" in await note.locator(".text").inner_text()
        assert await note.get_by_role("button", name="重试").count() == 0
        await page.wait_for_selector("#dead-badge", state="hidden")
        await page.click(".chip-dead")
        await page.wait_for_selector(".empty")
        await page.click(".chip-all")
        await note.wait_for()
        await page.screenshot(path=str(tmp_path / "console-outbox-retried.png"), full_page=True)
        keep(tmp_path / "console-outbox-retried.png")
        await outbox.enqueue([outbox.Notification(  # appears by itself: the view refreshes
            dedup_key="later", event="push_failed", channel="console", recipient="lina",
            template="push_failed.wecom_app", context=context, order_no="SO20261125001")])
        await page.wait_for_selector('.note .to:text("控制台 → lina")')
    finally:
        stop.set()
        await running


async def test_a_customer_push_on_the_console_opens_the_tracking_page(world, settings,
                                                                      aiohttp_client, browser,
                                                                      tmp_path):
    from dataclasses import replace
    from datetime import time
    from urllib.parse import urlsplit

    from bot.ordering import LineInput, PlaceOrder
    from handlers.keys import OUTBOX, SERVICE

    loud = replace(settings, quiet_hours=(time(0, 0), time(0, 0)))
    app = build(loud, manage_db=False)
    out = await app[SERVICE].place(PlaceOrder("C0001", [LineInput("OIL00001", 2)]))
    await app[SERVICE].confirm(out.order.no, "zhangwei")
    assert await app[OUTBOX].run_once() == 1  # the customer's 订单确认, on the console
    client = await aiohttp_client(app)
    page = await browser.new_page(viewport={"width": 900, "height": 700})
    await page.goto(str(client.make_url("/console")))
    await page.click("#tab-outbox")
    note = page.locator(".note", has_text="订单确认")
    await note.wait_for()
    assert out.order.no in await note.locator(".text").inner_text()
    link = note.get_by_role("link", name="打开跟踪页")
    href = await link.get_attribute("href")
    assert href and "/t/" in href
    await page.screenshot(path=str(tmp_path / "console-customer-push.png"), full_page=True)
    keep(tmp_path / "console-customer-push.png")
    # the link names the configured public URL; open the same path on this test server
    tracking = await browser.new_page(viewport={"width": 390, "height": 844})
    await tracking.goto(str(client.make_url(urlsplit(href).path)))
    assert out.order.no in await tracking.inner_text("body")


async def test_the_console_opens_as_a_salesperson_with_readme_s_example(
        world, settings, aiohttp_client, browser, tmp_path):
    """A new user who types the example in the box without picking anyone speaks as a
    salesperson (not as the first staff member, an admin), and the example is README's."""
    from tests.test_readme_examples import chat_rows

    client = await aiohttp_client(build(settings, manage_db=False))
    page = await browser.new_page(viewport={"width": 900, "height": 700})
    await page.goto(str(client.make_url("/console")))
    await page.wait_for_selector("#who option[value=zhangwei]", state="attached")
    await page.wait_for_function("document.querySelector('#who').value === 'zhangwei'")
    placeholder = await page.get_attribute("#text", "placeholder")
    assert placeholder == "例如：" + chat_rows()[0][2]
    await page.screenshot(path=str(tmp_path / "console-first-open.png"))
    keep(tmp_path / "console-first-open.png")


async def test_a_spreadsheet_sent_on_the_console_comes_back_as_cards(world, settings,
                                                                     aiohttp_client, browser,
                                                                     tmp_path):
    from tests.handlers.test_sheet_chat import BATCH, xlsx

    path = tmp_path / "批量订单.xlsx"
    path.write_bytes(xlsx(BATCH))
    client = await aiohttp_client(build(settings, manage_db=False))
    page = await browser.new_page(viewport={"width": 900, "height": 1200})
    await page.goto(str(client.make_url("/console")))
    await page.wait_for_selector("#who option[value=zhangwei]", state="attached")
    await page.select_option("#who", "zhangwei")
    await page.set_input_files("#sheet", str(path))
    await page.locator(".card").nth(1).wait_for()
    text = await page.inner_text("body")
    assert "生成 2 张订单" in text and "第7行：客户“C0099”不存在" in text
    assert await page.locator(".card").count() == 2
    await page.screenshot(path=str(tmp_path / "console-sheet.png"), full_page=True)
    keep(tmp_path / "console-sheet.png")
