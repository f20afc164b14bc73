"""A team's word learnt on the console (issue 13), in a real headless Chromium: a
salesperson picks a candidate on a choice card, and the next message with the same phrase
is read with the learnt alias, without a question."""

from decimal import Decimal

import pytest

from bot.app import build
from tests.e2e.test_console_browser import browser, keep  # noqa: F401 (the fixture)
from tests.e2e.test_console_everyday_browser import ADDRESS, open_console, say

pytestmark = pytest.mark.browser


async def test_a_picked_candidate_is_used_on_the_next_message(
        world, settings, aiohttp_client, browser, tmp_path):  # noqa: F811
    from bot import learning
    from storage.models import OrderLine, Product

    # a rear pad next to the front one: 博世朗逸刹车片 fits both, so it is a question
    await Product.create(sku="BRK00002", name="博世 后刹车片 大众朗逸 0986AB1235",
                         category="BRK", price=Decimal("100.00"))
    client = await aiohttp_client(build(settings, manage_db=False))
    page = await open_console(client, browser, "zhangwei")
    ask = await say(page, f"C0001 博世朗逸刹车片 x4 {ADDRESS}", 1)
    radios = ask.locator("input[type=radio]")
    assert await radios.count() >= 2  # a choice card with the candidates
    values = [await r.get_attribute("value") for r in await radios.all()]
    assert "BRK00002" in values
    await ask.locator("input[value=BRK00002]").check()
    await ask.get_by_role("button", name="就是它").click()
    await page.wait_for_function("document.querySelectorAll('#log .row:not(.me)').length >= 2")
    [alias] = await learning.listing()
    assert (alias.target, alias.learnt_by) == ("BRK00002", "zhangwei")

    card = await say(page, f"C0001 博世朗逸刹车片 x2 {ADDRESS}", 3)
    body = await card.inner_text()
    assert await card.locator("input[type=radio]").count() == 0  # no question this time
    assert "后刹车片" in body, body
    await page.screenshot(path=str(tmp_path / "console-learnt.png"), full_page=True)
    keep(tmp_path / "console-learnt.png")
    lines = await OrderLine.all().order_by("id").values_list("product__sku", "qty")
    assert lines[-1] == ("BRK00002", 2), lines
