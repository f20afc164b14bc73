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


async def test_an_edit_in_words_changes_the_same_card_and_customer_view_reads_well(
        world, settings, aiohttp_client, browser, tmp_path):  # noqa: F811
    client = await aiohttp_client(build(settings, manage_db=False))
    page = await open_console(client, browser, "zhangwei")
    card = await say(page, f"C0001 OIL00001 x3 FLT00001 x2 {ADDRESS}", 1)
    await card.get_by_role("button", name="修改").click()
    await page.wait_for_function("document.querySelectorAll('#log .row:not(.me)').length >= 2")
    await page.fill("#text", "第2行改成x20")
    await page.click("#send")
    await page.wait_for_function(
        "document.querySelector('.card .sub').textContent.includes('第2行数量改为20')")
    assert await page.locator(".card").count() == 1  # updated in place, not a second card
    body = await page.locator(".card").inner_text()
    assert "曼牌 空气滤清器 丰田卡罗拉 C2433 ×20" in body
    await page.locator(".card").get_by_role("button", name="确认下单").click()
    await page.wait_for_function(
        "document.querySelector('.card .title').textContent.includes('订单已确认')")
    view = await say(page, "查客户 恒通汽修", 3)
    text = await view.inner_text()
    assert text.startswith("C0001 杭州西湖恒通汽修厂") and "未完成订单（1）" in text
    assert "开票：专票" in text
    assert "最近1单" in text and "已取消" not in text  # the draft 修改 replaced is no order
    await page.screenshot(path=str(tmp_path / "console-customer.png"), full_page=True)
    keep(tmp_path / "console-customer.png")
