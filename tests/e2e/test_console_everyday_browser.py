"""What the console shows on the everyday path (issue 9), in a real headless Chromium."""

import pytest

from bot.app import build
from bot.ordering import LineInput, PlaceOrder
from handlers.keys import SERVICE
from tests.e2e.test_console_browser import browser, keep  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
ADDRESS = "送浙江省杭州市西湖区文三路100号"


async def open_console(client, browser, who, chat="single"):  # noqa: F811
    page = await browser.new_page(viewport={"width": 900, "height": 1000})
    await page.goto(str(client.make_url("/console")))
    await page.wait_for_selector(f"#who option[value={who}]", state="attached")
    await page.select_option("#who", who)
    await page.select_option("#chat", chat)
    return page


async def say(page, words, count):
    await page.fill("#text", words)
    await page.click("#send")
    await page.wait_for_function(
        f"document.querySelectorAll('#log .row:not(.me)').length >= {count}")
    return page.locator("#log .row:not(.me)").nth(count - 1).locator(".bubble, .card")


async def test_a_held_card_shows_what_was_understood_and_offers_release(
        world, settings, aiohttp_client, browser, tmp_path):  # noqa: F811
    client = await aiohttp_client(build(settings, manage_db=False))
    page = await open_console(client, browser, "zhangwei")
    card = await say(page, f"C0002 TYR00001 x5 {ADDRESS}", 1)
    body = await card.inner_text()
    assert "米其林 浩悦4 205/55R16 91V" in body  # the full name, wrapped
    assert "单价¥520.00" in body and "浙江省杭州市西湖区文三路100号" in body
    assert "发货：" in body
    names = [await b.inner_text() for b in await card.locator("button").all()]
    assert names == ["申请放行", "修改", "取消"]
    await page.screenshot(path=str(tmp_path / "console-held.png"), full_page=True)
    keep(tmp_path / "console-held.png")
    await card.get_by_role("button", name="申请放行").click()
    await page.wait_for_function(
        "document.querySelector('.card .sub').textContent.includes('已申请放行')")
    names = [await b.inner_text() for b in await page.locator(".card button").all()]
    assert names == ["修改", "取消"]


async def test_a_manager_at_mentions_the_bot_in_the_group_and_links_are_links(
        world, settings, aiohttp_client, browser, tmp_path):  # noqa: F811
    client = await aiohttp_client(build(settings, manage_db=False))
    service = client.app[SERVICE]
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 2)],
                                         address=ADDRESS[1:]))
    await service.confirm(out.order.no)
    page = await open_console(client, browser, "lina", "group")
    reply = await say(page, f"@履约助手 加急 {out.order.no} 客户停工待料", 1)
    assert (await reply.inner_text()).startswith(f"已加急订单{out.order.no}")
    reply = await say(page, f"@履约助手 查物流 {out.order.no}", 2)
    link = reply.locator("a")
    assert await link.count() == 1
    href = await link.get_attribute("href")
    assert href.startswith("http") and "/t/" in href
    assert await link.inner_text() == href
    await page.screenshot(path=str(tmp_path / "console-group.png"), full_page=True)
    keep(tmp_path / "console-group.png")
