"""Spreadsheet orders in chat (handlers/chat/sheets.py, bot/sheet_orders.py) through the
dispatcher WeCom and the console feed: one card per customer, unmatched rows by number."""

import io

import pytest
from openpyxl import Workbook

from bot import sheet_orders
from bot.catalog import Catalog
from bot.dispatch import CardReply, Incoming, TextReply
from bot.ordering import OrderService
from bot.parsing import ParserService
from handlers.chat.setup import build_dispatcher
from storage.chat_models import ChatCard
from storage.models import Order, OrderLine, OrderStatus


@pytest.fixture
def dispatcher(world, settings):
    catalog = Catalog(settings)
    return build_dispatcher(OrderService(settings, catalog), ParserService(catalog))


def xlsx(rows):
    wb = Workbook()
    for row in rows:
        wb.active.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def sheet(name, data, user="zhangwei", msg_id="f1"):
    return Incoming(kind="file", user_id=user, file_name=name, file_data=data,
                    msg_id=msg_id, transport="test")


BATCH = [
    ("客户", "货号", "商品名称", "数量（个）", "单价", "备注"),
    ("C0001", "oil00001", "", 3, 250, "老客户"),
    ("", "", "曼牌 空气滤清器 丰田卡罗拉", 10, None, ""),  # blank customer: the one above
    ("南京鼓楼快修店", "BRK00001", "", "2", "", ""),
    ("C0001", "XYZ99999", "", 1, "", ""),  # unknown code
    ("C0002", "TYR00001", "", "两个", "", ""),  # quantity not a number
    ("C0099", "TYR00001", "", 1, "", ""),  # unknown customer
    ("C0002", "", "火星牌 反重力靴", 1, "", ""),  # no such product
]


async def test_a_batch_sheet_becomes_one_draft_card_per_customer(dispatcher):
    replies = await dispatcher.feed(sheet("批量订单.xlsx", xlsx(BATCH)))
    summary, *cards = replies
    assert isinstance(summary, TextReply) and all(isinstance(c, CardReply) for c in cards)
    assert len(cards) == 2
    text = summary.text
    assert "共 7 行" in text and "3 行已识别" in text and "生成 2 张订单" in text
    assert "第5行：商品编码“XYZ99999”不存在" in text
    assert "第6行：数量“两个”不对" in text
    assert "第7行：客户“C0099”不存在" in text
    assert "第8行：找不到商品“火星牌 反重力靴”" in text
    orders = {o.customer.code: o for o in await Order.all().prefetch_related("customer")}
    assert set(orders) == {"C0001", "C0002"}
    assert all(o.status == OrderStatus.draft for o in orders.values())
    lines = {(ln.product.sku, ln.qty) for ln in
             await OrderLine.filter(order=orders["C0001"]).prefetch_related("product")}
    assert lines == {("OIL00001", 3), ("FLT00001", 10)}
    c1 = await OrderLine.get(order=orders["C0001"], product__sku="OIL00001")
    assert c1.unit_price == 250
    assert await ChatCard.filter(kind="order").count() == 2


async def test_a_retried_file_message_places_nothing_twice(dispatcher):
    data = xlsx(BATCH[:3])
    await dispatcher.feed(sheet("a.xlsx", data, msg_id="same"))
    await dispatcher.feed(sheet("a.xlsx", data, msg_id="same"))
    assert await Order.all().count() == 1


async def test_a_gbk_csv_quote_sheet_with_names_only(dispatcher):
    csv = "客户编码,商品名称,数量\nC0001,美孚 速霸2000 5W-30 4L,2\nC0001,博世 前刹车片 朗逸,4\n"
    replies = await dispatcher.feed(sheet("报价单.csv", csv.encode("gb18030")))
    assert [type(r) for r in replies] == [TextReply, CardReply]
    assert "没有识别" not in replies[0].text
    skus = set(await OrderLine.all().values_list("product__sku", flat=True))
    assert skus == {"OIL00001", "BRK00001"}


@pytest.mark.parametrize(("name", "data", "said"), [
    ("照片.jpg", b"\xff\xd8\xff\xe0JFIF", "不是表格文件"),
    ("合同.pdf", b"%PDF-1.7", "不是表格文件"),
    ("坏的.xlsx", b"PK\x03\x04 not really", "不是有效的 XLSX 文件"),
    ("空.csv", b"", "是空的"),
    ("表头.csv", "客户,商品编码,数量\n".encode(), "没有数据行"),
    ("缺列.csv", "客户,数量\nC0001,2\n".encode(), "缺少列：商品编码或商品名称"),
])
async def test_files_that_are_not_order_sheets_get_a_clear_reply(dispatcher, name, data, said):
    [reply] = await dispatcher.feed(sheet(name, data))
    assert isinstance(reply, TextReply) and said in reply.text, reply.text
    assert await Order.all().count() == 0


async def test_size_and_row_limits_are_said_in_chinese(dispatcher):
    big = b"x" * (sheet_orders.MAX_BYTES + 1)
    [reply] = await dispatcher.feed(sheet("大.csv", big))
    assert "太大" in reply.text and "最大 2 MB" in reply.text
    rows = "客户,商品编码,数量\n" + "C0001,OIL00001,1\n" * (sheet_orders.MAX_ROWS + 1)
    [reply] = await dispatcher.feed(sheet("多.csv", rows.encode()))
    assert f"超过 {sheet_orders.MAX_ROWS} 行" in reply.text
    assert await Order.all().count() == 0


async def test_someone_not_on_the_staff_list_cannot_order_by_sheet(dispatcher):
    [reply] = await dispatcher.feed(sheet("a.xlsx", xlsx(BATCH), user="stranger"))
    assert "不是系统里的员工" in reply.text
    assert await Order.all().count() == 0


@pytest.mark.parametrize("name", ["C0001报价单.xlsx", "杭州西湖恒通汽修厂 报价单.xlsx"])
async def test_a_quote_sheet_without_a_customer_column_names_it_in_the_file_name(dispatcher,
                                                                                 name):
    rows = [("编码", "名称", "数量", "含税单价"), ("OIL00001", "", 2, 268),
            ("", "博世 前刹车片 朗逸", 4, "")]
    replies = await dispatcher.feed(sheet(name, xlsx(rows)))
    assert [type(r) for r in replies] == [TextReply, CardReply], replies[0]
    order = await Order.get().prefetch_related("customer")
    assert order.customer.code == "C0001"
    assert await OrderLine.filter(order=order).count() == 2


async def test_a_sheet_without_any_customer_asks_for_the_column(dispatcher):
    rows = [("编码", "数量"), ("OIL00001", 2)]
    [reply] = await dispatcher.feed(sheet("报价单.xlsx", xlsx(rows)))
    assert "表格缺少列：客户" in reply.text and "文件名" in reply.text
    assert await Order.all().count() == 0


async def test_an_exact_catalogue_name_wins_and_an_unsure_one_lists_candidates(dispatcher):
    from decimal import Decimal

    from storage.models import Product

    for sku, number in (("LMP00001", "04022"), ("LMP00002", "00860")):
        await Product.create(sku=sku, name=f"法雷奥 右尾灯总成 丰田卡罗拉 {number}",
                             category="LMP", price=Decimal(300))
    rows = [("客户", "商品名称", "数量"), ("C0001", "法雷奥 右尾灯总成  丰田卡罗拉 04022", 1),
            ("C0001", "法雷奥 右尾灯总成 丰田卡罗拉", 1)]
    summary, card = await dispatcher.feed(sheet("灯.xlsx", xlsx(rows)))
    assert isinstance(card, CardReply)
    assert await OrderLine.all().values_list("product__sku", flat=True) == ["LMP00001"]
    assert "第3行：商品“法雷奥 右尾灯总成 丰田卡罗拉”不确定是哪一个" in summary.text
    assert "LMP00001" in summary.text and "LMP00002" in summary.text


async def test_many_unmatched_rows_fit_in_one_wecom_text(dispatcher):
    rows = [("客户", "商品编码", "数量"), ("C0001", "OIL00001", 1)]
    rows += [("C0001", f"NOPE{i:04d}", 1) for i in range(200)]
    summary, _card = await dispatcher.feed(sheet("多.xlsx", xlsx(rows)))
    assert len(summary.text.encode("utf-8")) <= 2048
    assert "以下 200 行没有识别" in summary.text
    assert "第3行：商品编码“NOPE0000”不存在" in summary.text
    listed = summary.text.count("不存在")
    assert f"……另有 {200 - listed} 行未列出" in summary.text


async def test_an_xlsx_that_unpacks_to_too_much_is_refused_unread(dispatcher):
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", b"<sst>" + b"A" * (sheet_orders.MAX_UNPACKED + 1))
    assert len(out.getvalue()) < 200_000  # small on the wire
    [reply] = await dispatcher.feed(sheet("炸弹.xlsx", out.getvalue()))
    assert "解压后太大" in reply.text
