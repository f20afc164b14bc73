"""The salesperson's everyday path in chat (issue 9): what the card says must agree with the
gates, a held card offers what can move it on, and every message gets a useful answer."""

from typing import Any

import pytest

from bot.app import build
from bot.catalog import Catalog
from bot.dispatch import CardReply, Incoming, TextReply, UpdateCard
from bot.ordering import OrderService
from bot.parsing import ParserService
from handlers.chat.setup import build_dispatcher
from storage.models import Customer, Order, OrderStatus
from tests.conftest import bearer, issue_key

ADDRESS = "送浙江省杭州市西湖区文三路100号"


@pytest.fixture
def dispatcher(world, settings):
    catalog = Catalog(settings)
    return build_dispatcher(OrderService(settings, catalog), ParserService(catalog))


def text(user, body, chat_type="single", msg_id=""):
    return Incoming(kind="text", user_id=user, text=body, chat_type=chat_type,
                    chat_id="g1" if chat_type == "group" else None, msg_id=msg_id or body,
                    transport="test")


def click(user, key, task_id, selected=None):
    return Incoming(kind="card_event", user_id=user, event_key=key, task_id=task_id,
                    selected=selected or {}, transport="test")


def only_text(replies):
    assert len(replies) == 1 and isinstance(replies[0], TextReply), replies
    return replies[0].text


async def place_card(dispatcher, body, user="zhangwei"):
    replies = await dispatcher.feed(text(user, body))
    assert len(replies) == 1 and isinstance(replies[0], CardReply), replies
    return replies[0].card


def items(card: dict[str, Any]) -> dict[str, str]:
    return {i["keyname"]: i["value"] for i in card["horizontal_content_list"]}


def order_no(card: dict[str, Any]) -> str:
    return card["main_title"]["title"].split()[-1]


def buttons(card: dict[str, Any]) -> list[str]:
    return [b["text"] for b in card["button_list"]]


def key_of(card: dict[str, Any], label: str) -> str:
    return next(b["key"] for b in card["button_list"] if b["text"] == label)


# ---- 专票 from the customer master -----------------------------------------------------

async def test_an_order_naming_zhuanpiao_uses_the_tax_id_bank_and_account_on_file(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS} 专票")
    assert "quote_area" not in card, card.get("quote_area")
    order = await Order.get(no=order_no(card))
    shop = await Customer.get(code="C0001")
    assert (order.invoice_type, order.tax_id, order.bank, order.account) == (
        "专票", shop.tax_id, shop.bank, shop.account)
    done = await dispatcher.feed(click("zhangwei", key_of(card, "确认下单"), card["task_id"]))
    assert isinstance(done[0], UpdateCard)
    assert (await Order.get(no=order.no)).status == OrderStatus.allocated


async def test_a_zhuanpiao_for_a_customer_without_tax_data_still_fails(dispatcher):
    card = await place_card(dispatcher, f"C0002 FLT00001 x2 {ADDRESS} 专票")
    assert "缺少税号" in card["quote_area"]["quote_text"]


# ---- the stock level agrees with the stock gate (the rule's safety stock) ----------------

async def test_card_stock_level_keeps_the_rules_safety_stock_back(dispatcher):
    # BRK00001: HZ01 40, SH01 200, NJ01 300; brake pads to 长三角 keep 50 in each warehouse.
    card = await place_card(dispatcher, f"C0001 BRK00001 x5 {ADDRESS}")
    assert "充足(400)" in items(card)["第1行"]  # 0 + 150 + 250, not 540
    reply = only_text(await dispatcher.feed(text("zhangwei", "查库存 BRK00001")))
    assert "杭州仓：可用0（在库40，锁定0，安全库存50）" in reply
    assert "上海仓：可用150" in reply


async def test_card_says_short_when_the_gate_says_short(dispatcher):
    card = await place_card(dispatcher, f"C0001 BRK00001 x450 {ADDRESS}")
    assert "不足(400)" in items(card)["第1行"]
    assert "可用400" in card["quote_area"]["quote_text"]


async def test_stock_api_applies_the_rules_safety_stock(world, settings, aiohttp_client):
    client = await aiohttp_client(build(settings, manage_db=False),
                                  headers=bearer(await issue_key("lina", "manager")))
    resp = await client.get("/api/stock/BRK00001")
    body = await resp.json()
    rows = {r["warehouse"]: r for r in body["warehouses"]}
    assert rows["HZ01"]["available"] == 40
    assert rows["HZ01"]["safety_stock"] == 50 and rows["HZ01"]["servable"] == 0
    assert rows["SH01"]["servable"] == 150
    assert body["servable"] == 400
    oil = {r["warehouse"]: r for r in (await (await client.get("/api/stock/OIL00001")).json())[
        "warehouses"]}
    assert oil["HZ01"]["safety_stock"] == 0 and oil["HZ01"]["servable"] == 500
