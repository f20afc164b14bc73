"""Chat handlers through the dispatcher (the same one WeCom and the console feed)."""

import asyncio

import pytest

from bot.catalog import Catalog
from bot.dispatch import CardReply, Incoming, TextReply, UpdateCard
from bot.ordering import LineInput, OrderService, PlaceOrder
from bot.parsing import ParserService
from handlers.chat.setup import build_dispatcher
from storage.chat_models import ChatCard, ChatQuestion
from storage.models import Customer, Order, OrderLog, OrderStatus, Shipment, Stock
from tests.ship import ship_sandbox

ADDRESS = "送浙江省杭州市西湖区文三路100号"


@pytest.fixture
def dispatcher(world, settings):
    catalog = Catalog(settings)
    return build_dispatcher(OrderService(settings, catalog), ParserService(catalog))


def text(user, body, chat_type="single", msg_id=""):
    return Incoming(kind="text", user_id=user, text=body, chat_type=chat_type,
                    chat_id="g1" if chat_type == "group" else None, msg_id=msg_id,
                    transport="test")


def click(user, key, task_id, selected=None):
    return Incoming(kind="card_event", user_id=user, event_key=key, task_id=task_id,
                    selected=selected or {}, transport="test")


def only_text(replies):
    assert len(replies) == 1 and isinstance(replies[0], TextReply), replies
    return replies[0].text


async def place_card(dispatcher, body, msg_id="m1"):
    replies = await dispatcher.feed(text("zhangwei", body, msg_id=msg_id))
    assert len(replies) == 1 and isinstance(replies[0], CardReply), replies
    return replies[0].card


async def test_help_differs_by_role(dispatcher):
    assert "加急" not in only_text(await dispatcher.feed(text("zhangwei", "帮助")))
    assert "加急" in only_text(await dispatcher.feed(text("lina", "帮助")))


async def test_order_text_becomes_a_draft_card_with_stock_credit_and_promise(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}")
    assert card["card_type"] == "button_interaction"
    assert card["main_title"]["title"].startswith("订单待确认")
    items = {i["keyname"]: i["value"] for i in card["horizontal_content_list"]}
    assert "OIL00001" in items["第1行"] and "充足(600)" in items["第1行"]
    assert items["合计"] == "¥804.00" and items["剩余额度"] == "¥49,196.00"  # 50,000 - 804
    assert "前送达" in card["sub_title_text"] and "还剩" in card["sub_title_text"]
    assert [b["text"] for b in card["button_list"]] == ["确认下单", "修改", "取消"]
    no = card["button_list"][0]["key"].split(":")[2]
    order = await Order.get(no=no)
    assert order.channel == "wecom" and order.salesperson == "zhangwei"
    assert (await ChatCard.get(task_id=card["task_id"])).state == "open"


async def test_the_same_message_twice_makes_one_order(dispatcher):
    await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}", msg_id="dup")
    await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}", msg_id="dup")
    assert await Order.all().count() == 1


async def test_failing_gates_show_on_the_card_and_the_draft_is_kept(dispatcher):
    card = await place_card(dispatcher, f"C0002 TYR00001 x5 {ADDRESS}")  # 2600 > 1000
    assert card["main_title"]["title"].startswith("订单未通过校验")
    assert "确认下单" not in [b["text"] for b in card["button_list"]]
    assert "信用额度不足" in card["quote_area"]["quote_text"]
    assert await Order.all().count() == 1


async def test_confirm_click_updates_the_card_and_a_second_click_changes_nothing(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}")
    no = card["button_list"][0]["key"].split(":")[2]
    replies = await dispatcher.feed(click("zhangwei", f"ord:confirm:{no}", card["task_id"]))
    assert isinstance(replies[0], UpdateCard) and replies[0].task_id == card["task_id"]
    assert replies[0].card["main_title"]["title"].startswith("订单已确认")
    assert (await Order.get(no=no)).status == OrderStatus.allocated
    assert await dispatcher.feed(click("zhangwei", f"ord:confirm:{no}", card["task_id"])) == []
    assert await dispatcher.feed(click("zhangwei", f"ord:cancel:{no}", card["task_id"])) == []
    assert (await Order.get(no=no)).status == OrderStatus.allocated
    stock = await Stock.get(product__sku="OIL00001", warehouse__code="HZ01")
    assert stock.reserved == 3


async def test_double_click_race_confirms_once(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}")
    no = card["button_list"][0]["key"].split(":")[2]
    both = await asyncio.gather(*(dispatcher.feed(click("zhangwei", f"ord:confirm:{no}",
                                                        card["task_id"])) for _ in range(2)))
    assert sorted(len(r) for r in both) == [0, 1]
    assert (await OrderLog.filter(action="confirm").count()) == 1


async def test_cancel_click(dispatcher):
    card = await place_card(dispatcher, f"C0001 OIL00001 x3 {ADDRESS}")
    no = card["button_list"][2]["key"].split(":")[2]
    replies = await dispatcher.feed(click("zhangwei", f"ord:cancel:{no}", card["task_id"]))
    assert replies[0].card["main_title"]["title"].startswith("订单已取消")
    assert (await Order.get(no=no)).status == OrderStatus.cancelled


async def test_queries_are_answered_and_logistics_questions_counted(dispatcher, service):
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 2)]))
    await service.confirm(out.order.no)
    reply = only_text(await dispatcher.feed(text("zhangwei", f"查单 {out.order.no}")))
    assert out.order.no in reply and "已分仓" in reply
    reply = only_text(await dispatcher.feed(text("zhangwei", f"查物流 {out.order.no}")))
    assert "杭州仓发出" in reply and "尚未出库" in reply
    assert "不存在" in only_text(await dispatcher.feed(text("zhangwei", "查物流 LY000")))
    reply = only_text(await dispatcher.feed(text("zhangwei", "查库存 OIL00001")))
    assert "杭州仓：可用498" in reply and "秒杀仓" in reply
    assert await ChatQuestion.filter(kind="logistics").count() == 2
    assert await ChatQuestion.filter(kind="order").count() == 1


async def test_manager_commands_need_a_manager_in_a_group(dispatcher, service):
    out = await service.place(PlaceOrder("C0002", [LineInput("FLT00001", 20)]))
    await Customer.filter(code="C0002").update(exposure=500)
    held = await service.confirm(out.order.no)
    assert held.order.status == OrderStatus.on_hold
    no = out.order.no
    assert "只有经理" in only_text(await dispatcher.feed(text("zhangwei", f"放行 {no} 老客户",
                                                             "group")))
    assert "群聊" in only_text(await dispatcher.feed(text("lina", f"放行 {no} 老客户")))
    assert "用法" in only_text(await dispatcher.feed(text("lina", f"放行 {no}", "group")))
    reply = only_text(await dispatcher.feed(text("lina", f"放行 {no} 老客户月底回款", "group")))
    assert "已放行" in reply
    assert (await Order.get(no=no)).status == OrderStatus.allocated
    entry = await OrderLog.get(order__no=no, action="release_credit")
    assert entry.detail["by"] == "lina" and entry.detail["reason"] == "老客户月底回款"
    board = only_text(await dispatcher.feed(text("lina", "看板", "group")))
    assert "今日看板" in board and "下单：1" in board


async def test_a_crashing_handler_gets_a_polite_reply_not_a_trace(dispatcher, monkeypatch):
    from handlers.chat import queries

    async def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(queries.Order, "get_or_none", boom)
    assert only_text(await dispatcher.feed(text("zhangwei", "查单 LY1"))) == "系统繁忙，请稍后再试"


async def test_logistics_answer_carries_the_latest_event_and_a_link_to_forward(world, settings):
    from datetime import UTC, datetime

    from bot.tracking import TrackingService
    from handlers.chat.views import ChatLinks
    from integrations.carriers.base import CommonStatus, TrackingEvent

    catalog = Catalog(settings)
    service = OrderService(settings, catalog)
    links = ChatLinks(tracking=lambda no: f"https://ly.example/t/{no}-signed",
                      dashboard=lambda: "https://ly.example/dashboard?k=abc")
    dispatcher = build_dispatcher(service, ParserService(catalog), links)
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 2)]))
    reply = only_text(await dispatcher.feed(text("zhangwei", f"查物流 {out.order.no}")))
    assert "ly.example" not in reply  # a draft has nothing to track yet
    await service.confirm(out.order.no)
    await ship_sandbox(service, out.order.no)
    ship = await Shipment.get(order__no=out.order.no)
    at = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)  # 14:30 in China
    event = TrackingEvent(ship.waybill_no, "sandbox", CommonStatus.IN_TRANSIT, at,
                          "杭州转运中心", "已发往杭州西湖")
    await TrackingService(settings, {}).apply([event])
    reply = only_text(await dispatcher.feed(text("zhangwei", f"查物流 {out.order.no}")))
    assert "最新：11月25日 14:30 杭州转运中心 已发往杭州西湖" in reply
    assert f"https://ly.example/t/{out.order.no}-signed" in reply
    board = only_text(await dispatcher.feed(text("lina", "看板", "group")))
    assert "https://ly.example/dashboard?k=abc" in board


async def test_managers_list_and_delete_learnt_aliases(dispatcher):
    from bot import learning

    row = await learning.learn("", "卡罗拉风格", "FLT00001", "zhangwei")
    assert "只有经理" in only_text(await dispatcher.feed(text("zhangwei", "别名")))
    listing = only_text(await dispatcher.feed(text("lina", "别名")))
    assert f"#{row.id} 商品 卡罗拉风格 → FLT00001" in listing
    assert "用法" in only_text(await dispatcher.feed(text("lina", "别名 删除 x")))
    assert "已删除" in only_text(await dispatcher.feed(text("lina", f"别名 删除 {row.id}")))
    assert await learning.listing() == []
    assert "不存在" in only_text(await dispatcher.feed(text("lina", f"别名 删除 {row.id}")))


async def test_a_picked_candidate_is_learnt_and_used_on_the_next_message(dispatcher):
    from decimal import Decimal

    from bot import learning
    from storage.models import OrderLine, Product

    await Product.create(sku="BRK00002", name="博世 后刹车片 大众朗逸 0986AB1235",
                         category="BRK", price=Decimal("100.00"))
    ask = await place_card(dispatcher, f"C0001 博世朗逸刹车片 x4 {ADDRESS}")
    assert ask["task_id"].startswith("ASK")  # front or rear: a choice card
    replies = await dispatcher.feed(click("zhangwei", f"pick:choose:{ask['task_id']}",
                                          ask["task_id"], {"pick": "BRK00002"}))
    assert isinstance(replies[0], CardReply) and not replies[0].card["task_id"].startswith("ASK")
    [alias] = await learning.listing()
    assert (alias.target, alias.learnt_by) == ("BRK00002", "zhangwei")

    card = await place_card(dispatcher, f"C0001 博世朗逸刹车片 x2 {ADDRESS}", msg_id="m2")
    assert not card["task_id"].startswith("ASK")  # no question this time
    lines = await OrderLine.filter(order__channel="wecom").order_by("id").values_list(
        "product__sku", "qty")
    assert lines[-1] == ("BRK00002", 2), lines


async def test_a_picked_customer_is_learnt_for_the_team_and_a_code_still_wins(dispatcher):
    """Two shops answer to 恒通: the salesperson picks one on the choice card; the next order
    that starts with 恒通 goes to that shop without a question, while a message naming a
    customer code is never redirected by what was learnt."""
    from decimal import Decimal

    from bot import learning
    from storage.models import Customer, Order

    await Customer.create(code="C0003", name="上海恒通汽车服务站", aliases=["恒通汽修"],
                          credit_limit=Decimal(50000), address=ADDRESS, invoice_type="普票")
    ask = await place_card(dispatcher, f"恒通汽修 FLT00001 x2 {ADDRESS}")
    assert ask["task_id"].startswith("ASK")  # which 恒通: a choice card
    replies = await dispatcher.feed(click("zhangwei", f"pick:choose:{ask['task_id']}",
                                          ask["task_id"], {"pick": "C0003"}))
    assert isinstance(replies[0], CardReply) and not replies[0].card["task_id"].startswith("ASK")
    [alias] = await learning.listing()
    assert (alias.kind, alias.label, alias.target) == ("customer", "恒通汽修", "C0003")
    assert f"#{alias.id} 客户 恒通汽修 → C0003" in only_text(
        await dispatcher.feed(text("lina", "别名")))

    card = await place_card(dispatcher, f"恒通汽修 FLT00001 x3 {ADDRESS}", msg_id="m2")
    assert not card["task_id"].startswith("ASK")  # no question this time
    latest = await Order.filter(channel="wecom").order_by("-id").first()
    assert (await Customer.get(id=latest.customer_id)).code == "C0003"

    await place_card(dispatcher, f"C0001 FLT00001 x1 {ADDRESS}", msg_id="m3")
    latest = await Order.filter(channel="wecom").order_by("-id").first()
    assert (await Customer.get(id=latest.customer_id)).code == "C0001"  # the code wins
