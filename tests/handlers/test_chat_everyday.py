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
    card = await place_card(dispatcher, f"C0001 BRK00001 x410 {ADDRESS}")
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


# ---- a held card: 申请放行 for credit, 修改 for the rest, never 确认下单 ---------------------

@pytest.fixture
async def app_client(world, settings, aiohttp_client):
    """The whole application (its dispatcher writes notifications to the outbox)."""
    return await aiohttp_client(build(settings, manage_db=False))


def feed(client, msg):
    from handlers.keys import DISPATCHER
    return client.app[DISPATCHER].feed(msg)


def rendered(client, row):
    from handlers.keys import OUTBOX
    return client.app[OUTBOX].renderer.render(row.template, row.context).text


async def test_a_credit_hold_offers_release_which_tells_the_managers_once(app_client):
    from storage.models import OrderLog
    from storage.outbox_models import OutboxNotification

    replies = await feed(app_client, text("zhangwei", f"C0002 TYR00001 x5 {ADDRESS}"))
    card = replies[0].card  # 2,600 against a limit of 1,000
    assert buttons(card) == ["申请放行", "修改", "取消"]
    no = order_no(card)
    asked = await feed(app_client, click("zhangwei", key_of(card, "申请放行"), card["task_id"]))
    assert isinstance(asked[0], UpdateCard) and asked[0].task_id == card["task_id"]
    assert "确认下单" not in buttons(asked[0].card)
    assert "申请放行" not in buttons(asked[0].card)
    assert "已申请放行" in asked[0].card["sub_title_text"]
    assert (await Order.get(no=no)).status == OrderStatus.on_hold
    [row] = await OutboxNotification.filter(event="release_requested")
    assert row.recipient == "lina"
    message = rendered(app_client, row)
    assert "张伟申请放行订单" + no in message and "¥2,600.00" in message
    assert "未通过：信用额度不足" in message and "通过：库存充足" in message.replace("可", "")
    # pressing again, or an old 确认下单 key, holds nothing again and tells nobody again
    again = await feed(app_client, click("zhangwei", key_of(card, "申请放行"), card["task_id"]))
    assert "已经申请过放行" in only_text(again)
    stale = await feed(app_client, click("zhangwei", f"ord:confirm:{no}", card["task_id"]))
    assert "信用额度不足" in only_text(stale)
    assert await OutboxNotification.filter(event="release_requested").count() == 1
    assert await OutboxNotification.filter(event="gate_failed").count() == 0
    assert await OrderLog.filter(order__no=no, action="hold").count() == 1


async def test_a_non_credit_problem_offers_only_edit(dispatcher):
    card = await place_card(dispatcher, f"C0001 BRK00001 x410 {ADDRESS}")
    assert buttons(card) == ["修改", "取消"]
    replies = await dispatcher.feed(click("zhangwei", f"ord:ask:{order_no(card)}",
                                          card["task_id"]))
    assert "只有信用额度不足可以申请放行" in only_text(replies)


async def test_after_release_an_invoice_problem_tells_the_salesperson_to_edit(app_client):
    from storage.outbox_models import OutboxNotification

    card = (await feed(app_client, text("zhangwei", f"C0002 TYR00001 x5 {ADDRESS} 专票")))[0].card
    no = order_no(card)
    await feed(app_client, click("zhangwei", key_of(card, "申请放行"), card["task_id"]))
    reply = only_text(await feed(app_client, text("lina", f"放行 {no} 老客户", "group")))
    assert "仍未通过" in reply and "税号" in reply
    [row] = await OutboxNotification.filter(event="gate_failed")
    assert row.recipient == "zhangwei"
    message = rendered(app_client, row)
    assert "缺少税号" in message and "修改" in message and "请经理放行" not in message


# ---- every message gets a useful answer ------------------------------------------------

@pytest.mark.parametrize("qty", ["x0", "x-5", "×0", "X -3"])
async def test_a_zero_or_negative_quantity_is_refused_not_read_as_one(dispatcher, qty):
    reply = only_text(await dispatcher.feed(text("zhangwei", f"C0001 OIL00001 {qty} {ADDRESS}")))
    assert "数量" in reply and "大于0" in reply
    assert await Order.all().count() == 0


async def test_an_unknown_code_is_said_not_to_exist_before_suggestions(dispatcher):
    replies = await dispatcher.feed(text("zhangwei", "C0001 XYZ99999 前刹车片 x2"))
    assert isinstance(replies[0], TextReply)
    assert replies[0].text.startswith("商品编码XYZ99999不存在")
    assert isinstance(replies[1], CardReply)
    bare = only_text(await dispatcher.feed(text("zhangwei", "C0001 XYZ99999 x2")))
    assert bare.startswith("商品编码XYZ99999不存在")
    assert await Order.all().count() == 0


async def test_none_of_these_gets_a_reply(dispatcher):
    replies = await dispatcher.feed(text("zhangwei", "C0001 XYZ99999 前刹车片 x2"))
    card = next(r.card for r in replies if isinstance(r, CardReply))
    none_key = card["button_list"][1]["key"]
    assert card["button_list"][1]["text"] == "都不是"
    reply = only_text(await dispatcher.feed(click("zhangwei", none_key, card["task_id"])))
    assert "都不是" in reply and "重新发送" in reply
    assert await dispatcher.feed(click("zhangwei", none_key, card["task_id"])) == []


async def test_an_unknown_customer_is_told_not_found_with_an_unambiguous_example(dispatcher):
    reply = only_text(await dispatcher.feed(text("zhangwei", f"不存在汽修 OIL00001 x2 {ADDRESS}")))
    assert reply.startswith("没有找到客户“不存在汽修”")
    assert "C0001（杭州西湖恒通汽修厂）" in reply
    assert await Order.all().count() == 0


# ---- cards people can check ------------------------------------------------------------

async def test_the_card_shows_full_names_prices_address_and_each_shipment(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 FLT00001 x2 {ADDRESS}")
    got = items(card)
    assert got["第1行"].startswith("OIL00001 美孚 速霸2000 全合成机油 5W-30 4L ×3 单价¥268.00｜")
    assert "曼牌 空气滤清器 丰田卡罗拉 C2433 ×2 单价¥45.00" in got["第2行"]
    assert got["送货地址"] == "浙江省杭州市西湖区文三路100号"
    assert "发货：杭州仓·" in card["sub_title_text"]
    carrier = card["sub_title_text"].split("杭州仓·")[1]
    assert carrier.startswith(("顺丰速运", "中通快递", "京东物流"))
    assert len(card["horizontal_content_list"]) <= 6


async def test_a_cancelled_card_stops_counting_down(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}")
    assert "还剩" in card["sub_title_text"]
    [done] = await dispatcher.feed(click("zhangwei", key_of(card, "取消"), card["task_id"]))
    assert "还剩" not in done.card["sub_title_text"]
    assert "送达" not in done.card["sub_title_text"]


# ---- 修改 in words, on the same card ----------------------------------------------------

async def test_edits_in_words_update_the_same_card(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 FLT00001 x2 {ADDRESS}")
    help_ = only_text(await dispatcher.feed(click("zhangwei", key_of(card, "修改"),
                                                  card["task_id"])))
    assert "第2行改成x20" in help_
    [up] = await dispatcher.feed(text("zhangwei", "第2行改成x20"))
    assert isinstance(up, UpdateCard) and up.task_id == card["task_id"]
    assert "×20" in items(up.card)["第2行"] and "第2行数量改为20" in up.card["sub_title_text"]
    [up] = await dispatcher.feed(text("zhangwei", "删掉第1行"))
    assert items(up.card)["第1行"].startswith("FLT00001") and "第2行" not in items(up.card)
    [up] = await dispatcher.feed(text("zhangwei", "地址改成江苏省南京市鼓楼区中山路5号"))
    assert items(up.card)["送货地址"] == "江苏省南京市鼓楼区中山路5号"
    assert "南京仓" in up.card["sub_title_text"]
    [up] = await dispatcher.feed(text("zhangwei", "发票改成专票"))
    assert "专票" in up.card["sub_title_text"] and "quote_area" not in up.card
    # one live draft, the edited one; the replaced drafts are cancelled, not left behind
    live = await Order.filter(status=OrderStatus.draft)
    assert [o.no for o in live] == [order_no(up.card)]
    assert live[0].invoice_type == "专票" and live[0].tax_id
    done = await dispatcher.feed(click("zhangwei", key_of(up.card, "确认下单"), card["task_id"]))
    assert done[0].card["main_title"]["title"].startswith("订单已确认")


async def test_a_bad_edit_is_refused_and_changes_nothing(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}")
    assert "大于0" in only_text(await dispatcher.feed(text("zhangwei", "第1行改成x0")))
    assert "没有第3行" in only_text(await dispatcher.feed(text("zhangwei", "第3行改成x2")))
    assert "不能删掉" in only_text(await dispatcher.feed(text("zhangwei", "删掉第1行")))
    assert [o.no for o in await Order.all()] == [order_no(card)]


# ---- 查单/查物流 after delivery, 加急 with its reason --------------------------------------

async def test_a_delivered_order_says_signed_with_the_time_not_a_countdown(world, settings):
    from datetime import UTC, datetime

    from bot.ordering import LineInput, PlaceOrder
    from bot.tracking import TrackingService
    from integrations.carriers.base import CommonStatus, TrackingEvent
    from storage.models import Shipment
    from tests.ship import ship_sandbox

    catalog = Catalog(settings)
    service = OrderService(settings, catalog)
    dispatcher = build_dispatcher(service, ParserService(catalog))
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 2)],
                                         address=ADDRESS[1:]))
    await service.confirm(out.order.no)
    await ship_sandbox(service, out.order.no)
    ship = await Shipment.get(order__no=out.order.no)
    at = datetime.now(UTC).replace(microsecond=0)
    await TrackingService(settings, {}).apply([TrackingEvent(
        ship.waybill_no, "sandbox", CommonStatus.DELIVERED, at, "杭州西湖", "已签收，本人签收")])
    assert (await Order.get(no=out.order.no)).status == OrderStatus.delivered
    from messages.facts import fmt_time
    for ask in ("查单", "查物流"):
        reply = only_text(await dispatcher.feed(text("zhangwei", f"{ask} {out.order.no}")))
        assert f"已签收（{fmt_time(at)}）" in reply, reply
        assert "还剩" not in reply and "预计" not in reply


@pytest.mark.parametrize("said", ["加急 {no} 客户停工待料", "加急 {no}，客户停工待料",
                                  "加急 {no}\n原因：客户停工待料", "加急 {no}客户停工待料"])
async def test_expedite_takes_the_reason_after_the_order_number(app_client, said):
    from bot.ordering import LineInput, PlaceOrder
    from handlers.keys import SERVICE
    from storage.outbox_models import OutboxNotification

    service = app_client.app[SERVICE]
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 2)],
                                         address=ADDRESS[1:]))
    await service.confirm(out.order.no)
    reply = only_text(await feed(app_client, text("lina", said.format(no=out.order.no.lower()),
                                                  "group")))
    assert reply.startswith(f"已加急订单{out.order.no}")
    [row] = await OutboxNotification.filter(event="urgent_order")
    assert row.context["原因"] == "客户停工待料"


async def test_an_order_released_meanwhile_is_not_replaced_by_an_edit(dispatcher):
    card = await place_card(dispatcher, f"C0002 TYR00001 x5 {ADDRESS}")
    no = order_no(card)
    await dispatcher.feed(click("zhangwei", key_of(card, "申请放行"), card["task_id"]))
    await dispatcher.feed(text("lina", f"放行 {no} 老客户", "group"))
    assert (await Order.get(no=no)).status == OrderStatus.allocated
    reply = only_text(await dispatcher.feed(text("zhangwei", "第1行改成x2")))
    assert "不能再修改" in reply
    assert (await Order.get(no=no)).status == OrderStatus.allocated
    assert await Order.all().count() == 1


async def test_the_board_counts_orders_not_drafts_or_replaced_drafts(dispatcher):
    await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}")
    await dispatcher.feed(text("zhangwei", "第1行改成x4"))  # the first draft is replaced
    card = await place_card(dispatcher, f"C0001 FLT00001 x2 {ADDRESS}")
    await dispatcher.feed(click("zhangwei", key_of(card, "确认下单"), card["task_id"]))
    board = only_text(await dispatcher.feed(text("lina", "看板", "group")))
    assert "下单：1" in board


async def test_the_example_in_help_works_as_written(dispatcher):
    help_ = only_text(await dispatcher.feed(text("zhangwei", "帮助")))
    example = help_.split("如“", 1)[1].split("”", 1)[0]
    assert example.startswith("C0001 BRK00001 x2 送")
    card = await place_card(dispatcher, example)
    assert "quote_area" not in card and "确认下单" in buttons(card)
    lost = only_text(await dispatcher.feed(text("zhangwei", "你好呀")))
    assert example in lost


async def test_a_makers_part_number_is_not_called_an_unknown_code(dispatcher, world):
    from decimal import Decimal

    from storage.models import Product, Stock

    pads = await Product.create(sku="BRK00002", name="菲罗多 后刹车片 丰田凯美瑞 FDB5579",
                                category="BRK", price=Decimal("150.00"))
    await Stock.create(warehouse=world["warehouses"]["SH01"], product=pads, on_hand=300)
    replies = await dispatcher.feed(text("zhangwei", f"C0001 菲罗多 FDB5579 x2 {ADDRESS}"))
    assert not any(isinstance(r, TextReply) and "不存在" in r.text for r in replies), replies
    assert isinstance(replies[0], CardReply)
    assert "BRK00002" in items(replies[0].card)["第1行"]


async def test_replacing_a_lines_product_in_words_is_learnt_for_the_team(dispatcher):
    from bot import learning

    card = await place_card(dispatcher, f"C0001 老款机油 x2 {ADDRESS}")
    assert items(card)["第1行"].startswith("OIL00001")
    [up] = await dispatcher.feed(text("zhangwei", "第1行换成 曼牌空滤"))
    assert isinstance(up, UpdateCard) and up.task_id == card["task_id"]
    assert items(up.card)["第1行"].startswith("FLT00001") and "×2" in items(up.card)["第1行"]
    assert "第1行改为FLT00001（原OIL00001）" in up.card["sub_title_text"]
    [alias] = await learning.listing()
    assert (alias.label, alias.target, alias.learnt_by) == ("老款机油", "FLT00001", "zhangwei")
    # the next message with the team's words needs no correction
    again = await place_card(dispatcher, f"C0002 老款机油 x3 {ADDRESS}")
    assert items(again)["第1行"].startswith("FLT00001")
    # a code works too; a name the parser is unsure of is asked about, nothing changes
    [up] = await dispatcher.feed(text("zhangwei", "第1行换成brk00001"))
    assert items(up.card)["第1行"].startswith("BRK00001")
    said = only_text(await dispatcher.feed(text("zhangwei", "第1行换成 火星反重力靴")))
    assert "找不到商品“火星反重力靴”" in said
    same = only_text(await dispatcher.feed(text("zhangwei", "第1行换成BRK00001")))
    assert "已经是BRK00001" in same


def test_a_quantity_in_words_is_not_read_as_a_product_to_change_to():
    from handlers.chat.edits import parse_edit

    assert parse_edit("第1行换成 曼牌空滤").text == "曼牌空滤"
    assert parse_edit("第1行的商品改为OIL00002").text == "OIL00002"
    assert parse_edit("第2行改成x20").kind == "qty"
    for said in ("第2行改成二十", "第2行改成 二十个", "第1行改成3.5"):
        assert parse_edit(said) is None, said


def test_the_invoice_type_is_changed_in_the_short_words_people_type():
    from handlers.chat.edits import parse_edit

    for said, kind in (("发票改成专票", "专票"), ("改成普票", "普票"), ("改专票", "专票"),
                       ("换成专票。", "专票"), ("修改：改为不开票", "无需"),
                       ("改成增值税专用发票", "专票"), ("发票类型改为无需开票", "无需")):
        edit = parse_edit(said)
        assert edit is not None and (edit.kind, edit.text) == ("invoice", kind), said
    for said in ("改成", "专票", "改成专票吧老板说的", "第1行改成专票"):
        edit = parse_edit(said)
        assert edit is None or edit.kind != "invoice", said


async def test_a_stale_card_after_release_shows_the_order_and_cancels_nothing(dispatcher):
    card = await place_card(dispatcher, f"C0002 TYR00001 x5 {ADDRESS}")
    no = order_no(card)
    await dispatcher.feed(click("zhangwei", key_of(card, "申请放行"), card["task_id"]))
    await dispatcher.feed(text("lina", f"放行 {no} 老客户", "group"))
    [up] = await dispatcher.feed(click("zhangwei", f"ord:cancel:{no}", card["task_id"]))
    assert isinstance(up, UpdateCard)
    assert up.card["main_title"]["title"].startswith("订单已确认")
    assert "已由李娜放行" in up.card["sub_title_text"]
    assert (await Order.get(no=no)).status == OrderStatus.allocated
