"""Unit tests of the order-text parser (bot.domain.parser) over a small hand-made catalogue,
plus a few over the 18,000-SKU demo catalogue."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot import config
from bot.catalog import ProductInfo
from bot.demo import build_demo
from bot.domain.parser import CustomerRef, ParserIndex, parse
from bot.domain.parser_text import cn_to_int, normalize
from integrations import geocode
from integrations.geocode import Place

_ROWS = (
    ("BRK00001", "博世 前刹车片 大众朗逸 0986494001", "BRK", "博世", "套", "260", "大众朗逸"),
    ("BRK00002", "博世 后刹车片 大众朗逸 0986494002", "BRK", "博世", "套", "220", "大众朗逸"),
    ("BRK00003", "博世 前刹车片 丰田卡罗拉/雷凌 0986494003", "BRK", "博世", "套", "250",
     "丰田卡罗拉/雷凌"),
    ("BRK00004", "菲罗多 前刹车片 丰田卡罗拉 FDB1234", "BRK", "菲罗多", "套", "240", "丰田卡罗拉"),
    ("BRK00005", "菲罗多 前刹车片 丰田卡罗拉 FDB5678", "BRK", "菲罗多", "套", "245", "丰田卡罗拉"),
    ("BRK00006", "博世 后刹车片 本田思域 0986494006", "BRK", "博世", "套", "230", "本田思域"),
    ("BRK00007", "博世 前刹车片报警线 大众朗逸 1987474007", "BRK", "博世", "根", "30", "大众朗逸"),
    ("FLT00001", "曼牌 机油滤清器 大众朗逸 W712/52", "FLT", "曼牌", "个", "45", "大众朗逸"),
    ("FLT00002", "曼牌 空气滤清器 大众朗逸 C2029", "FLT", "曼牌", "个", "60", "大众朗逸"),
    ("FLT00003", "曼牌 空调滤清器 大众朗逸 CUK2939", "FLT", "曼牌", "个", "70", "大众朗逸"),
    ("OIL00001", "美孚1号 全合成机油 5W-30 4L", "OIL", "美孚", "桶", "480", "通用"),
    ("OIL00002", "美孚1号 全合成机油 5W-30 1L", "OIL", "美孚", "瓶", "140", "通用"),
    ("OIL00003", "美孚1号 全合成机油 0W-20 4L", "OIL", "美孚", "桶", "490", "通用"),
    ("TYR00001", "米其林 浩悦4 205/55R16 91V", "TYR", "米其林", "条", "600",
     "大众朗逸/丰田卡罗拉"),
    ("TYR00002", "米其林 竞驰PS4 205/55R16 91V", "TYR", "米其林", "条", "650", "大众朗逸"),
    ("BAT00001", "瓦尔塔 免维护蓄电池 6-QW-60 60Ah", "BAT", "瓦尔塔", "只", "530", "大众朗逸"),
    ("BAT00002", "瓦尔塔 EFB启停蓄电池 L2-60 60Ah", "BAT", "瓦尔塔", "只", "770", "大众朗逸"),
    ("WIP00001", "博世 无骨雨刮片 大众朗逸 22寸", "WIP", "博世", "支", "90", "大众朗逸"),
    ("WIP00002", "博世 后雨刮片 大众朗逸 14寸", "WIP", "博世", "支", "50", "大众朗逸"),
    ("SPK00001", "NGK 铱金火花塞 本田思域 ILKAR7B11", "SPK", "NGK", "支", "80", "本田思域"),
    ("SPK00002", "NGK 双铱金火花塞 本田思域 DILKAR7G11G", "SPK", "NGK", "支", "120", "本田思域"),
    ("LMP00001", "海拉 左大灯总成 大众朗逸 1EG123456-01", "LMP", "海拉", "只", "1200", "大众朗逸"),
    ("LMP00002", "海拉 右大灯总成 大众朗逸 1EG123456-02", "LMP", "海拉", "只", "1200", "大众朗逸"),
    ("SUS00001", "萨克斯 后减震器 大众朗逸 300001", "SUS", "萨克斯", "只", "400", "大众朗逸"),
)
_CUSTOMERS = (
    CustomerRef("C0001", "杭州西湖精诚汽车维修有限公司", ("精诚汽修", "西湖精诚")),
    CustomerRef("C0002", "上海精诚汽修厂", ("精诚汽修",)),
    CustomerRef("C0003", "南京恒通汽车快修店", ("恒通快修",)),
    CustomerRef("C0004", "苏州停业汽修厂", ("停业汽修",), active=False),
)


class FakeGeocoder:
    """Records what it was asked; places only what it knows."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, raw: str) -> Place | None:
        self.asked.append(raw)
        if raw.startswith(("杭州", "浙江省杭州")):
            return Place(raw, "浙江省", "杭州市", "西湖区", "330106", None, None)
        return None


@pytest.fixture(scope="module")
def geocoder() -> FakeGeocoder:
    return FakeGeocoder()


@pytest.fixture(scope="module")
def index(geocoder: FakeGeocoder) -> ParserIndex:
    products = [ProductInfo(i, sku, name, cat, brand, unit, Decimal(price), models, True)
                for i, (sku, name, cat, brand, unit, price, models) in enumerate(_ROWS, 1)]
    products.append(ProductInfo(99, "BRK00099", "博世 前刹车片 停产款 0986494099", "BRK", "博世",
                                "套", Decimal(1), "大众朗逸", False))
    return ParserIndex.build(products, _CUSTOMERS, geocoder=geocoder)


def run(text: str, index: ParserIndex, customer: str | None = None) -> dict[str, Any]:
    return parse(text, index, customer).to_json()


def one_line(text: str, index: ParserIndex) -> dict[str, Any]:
    out = run("C0003 " + text, index)
    assert len(out["lines"]) == 1, out
    line: dict[str, Any] = out["lines"][0]
    return line


# --- text primitives ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("一", 1), ("两", 2), ("俩", 2), ("十", 10), ("十二", 12), ("二十", 20), ("二十五", 25),
    ("四十", 40), ("一百", 100), ("一百二", 120), ("一百零五", 105), ("两千五", 2500),
    ("三百六十", 360), ("abc", None), ("", None),
])
def test_chinese_numerals(text: str, value: int | None) -> None:
    assert cn_to_int(text) == value


def test_normal_form_makes_fullwidth_ascii_and_upper_case() -> None:
    assert normalize("ｂｒｋ００００１　×２０，单价：８５") == "BRK00001 ×20、单价:85"
    assert normalize("空调滤芯 刹车皮 雨刷") == "空调滤清器 刹车片 雨刮"


# --- quantities -------------------------------------------------------------------------------


@pytest.mark.parametrize(("qty_text", "qty"), [
    ("x20", 20), ("X20", 20), ("×20", 20), ("*20", 20), ("＊２０", 20), ("20套", 20),
    ("２０套", 20), ("数量:20", 20), ("数量：20", 20), ("数量 20", 20), ("二十", 20),
    ("二十套", 20), ("四十套", 40), ("两套", 2), ("俩", 2), ("一百套", 100), ("二十五套", 25),
    ("十套", 10), ("要3套", 3), ("20", 20), ("x 20", 20), ("20pcs", 20),
])
def test_quantity_forms(qty_text: str, qty: int, index: ParserIndex) -> None:
    line = one_line(f"博世 前刹车片 朗逸 {qty_text}", index)
    assert (line["sku"], line["qty"]) == ("BRK00001", qty)


def test_quantity_before_the_product(index: ParserIndex) -> None:
    assert one_line("2套 博世前刹车片朗逸", index)["qty"] == 2


def test_missing_quantity_is_one_and_asked(index: ParserIndex) -> None:
    out = run("C0003 博世 前刹车片 朗逸", index)
    assert out["lines"][0]["qty"] == 1
    assert any("没有写数量" in q for q in out["questions"])


def test_pair_of_single_pieces_is_two(index: ParserIndex) -> None:
    line = one_line("博世 无骨雨刷 朗逸 22寸 一对", index)
    assert (line["sku"], line["qty"]) == ("WIP00001", 2)


def test_box_of_unknown_size_is_asked(index: ParserIndex) -> None:
    out = run("C0003 美孚1号 5W-30 1L 两箱", index)
    assert out["lines"][0]["qty"] == 2
    assert any("每箱数量不确定" in q for q in out["questions"])


# --- prices -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("price_text", "price"), [
    ("@85", 85), ("@ 85.5", 85.5), ("单价85", 85), ("单价:85元", 85), ("85元", 85),
    ("85块", 85), ("¥85", 85), ("￥85", 85), ("85/套", 85), ("85元/套", 85), ("每套85", 85),
    ("价格 85", 85), ("单价１，２００", 1200),
])
def test_unit_price_forms(price_text: str, price: float, index: ParserIndex) -> None:
    line = one_line(f"博世 前刹车片 朗逸 x2 {price_text}", index)
    assert (line["qty"], line["unit_price"]) == (2, price)


@pytest.mark.parametrize("text", ["x2 合计170元", "x2 金额:170", "×2 = 170"])
def test_totals_are_not_unit_prices(text: str, index: ParserIndex) -> None:
    line = one_line(f"博世 前刹车片 朗逸 {text}", index)
    assert (line["qty"], line["unit_price"]) == (2, None)


def test_quantity_times_price_equals_amount(index: ParserIndex) -> None:
    line = one_line("BRK00001 4套×260=1040", index)
    assert (line["qty"], line["unit_price"]) == (4, 260)


# --- products ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["BRK00002", "brk00002", "ＢＲＫ００００２", "BRK2", "Brk0002"])
def test_sku_code_is_exact(code: str, index: ParserIndex) -> None:
    line = one_line(f"{code} x3", index)
    assert (line["sku"], line["confidence"], line["candidates"]) == ("BRK00002", 1.0, [])


def test_unknown_and_inactive_skus_are_asked(index: ParserIndex) -> None:
    out = run("C0003\nBRK99999 x1\nBRK00099 x1", index)
    assert [line["sku"] for line in out["lines"]] == [None, None]
    assert any("BRK99999" in q and "不存在" in q for q in out["questions"])
    assert any("已停用" in q for q in out["questions"])


def test_part_number_is_a_strong_signal(index: ParserIndex) -> None:
    assert one_line("曼牌 W712/52 x10", index)["sku"] == "FLT00001"
    assert one_line("W71252 x10", index)["sku"] == "FLT00001"
    assert one_line("菲罗多 FDB5678 x2", index)["sku"] == "BRK00005"


@pytest.mark.parametrize(("words", "sku"), [
    ("机滤 朗逸 曼牌", "FLT00001"), ("机油滤芯 朗逸", "FLT00001"), ("机油格 朗逸", "FLT00001"),
    ("空滤 朗逸", "FLT00002"), ("空气滤清器 朗逸", "FLT00002"), ("空气滤芯 朗逸", "FLT00002"),
    ("空调滤芯 朗逸", "FLT00003"), ("空调格 朗逸", "FLT00003"),
    ("刹车皮 思域 博世 后", "BRK00006"), ("后避震 朗逸", "SUS00001"),
    ("电瓶 6-QW-60", "BAT00001"), ("电瓶 6QW60", "BAT00001"),
    ("火嘴 铱金 思域", "SPK00001"), ("NGK 铱金火花塞 思域", "SPK00001"),
    ("双铱金 火嘴 思域", "SPK00002"), ("雨刷 朗逸 22寸", "WIP00001"),
    ("后雨刮 朗逸", "WIP00002"), ("BOSCH 后刹车片 CIVIC 思域", "BRK00006"),
])
def test_synonyms_and_abbreviations(words: str, sku: str, index: ParserIndex) -> None:
    line = one_line(f"{words} x2", index)
    assert line["sku"] == sku, line


@pytest.mark.parametrize(("words", "sku"), [
    ("美孚1号 5W-30 4L", "OIL00001"), ("美孚1号 5w30 4升", "OIL00001"),
    ("美孚1号 5W/30 1L", "OIL00002"), ("美孚 0W-20 4L", "OIL00003"),
    ("米其林 浩悦4 205/55R16", "TYR00001"), ("米其林浩悦 205 55 R16", "TYR00001"),
    ("竞驰PS4 205/55/16", "TYR00002"), ("瓦尔塔 L2-60", "BAT00002"),
])
def test_specs_are_strong_signals(words: str, sku: str, index: ParserIndex) -> None:
    assert one_line(f"{words} x2", index)["sku"] == sku


def test_rear_is_never_front(index: ParserIndex) -> None:
    # only a rear pad exists for 思域: a front request must not get it
    out = run("C0003 博世 前刹车片 思域 x2", index)
    line = out["lines"][0]
    assert line["sku"] is None
    assert all("前" in c["name"] for c in line["candidates"])
    assert out["questions"]
    assert one_line("博世 后刹车片 朗逸 x2", index)["sku"] == "BRK00002"
    assert one_line("博世 前刹车片 朗逸 x2", index)["sku"] == "BRK00001"


def test_a_side_nobody_asked_for_is_confirmed(index: ParserIndex) -> None:
    out = run("C0003 博世 刹车片 思域 x2", index)
    assert out["lines"][0]["sku"] is None
    assert [c["sku"] for c in out["lines"][0]["candidates"]] == ["BRK00006"]
    assert out["questions"]


def test_front_and_rear_make_two_lines(index: ParserIndex) -> None:
    out = run("C0003 博世 朗逸 前后刹车片各2套", index)
    assert [(line["sku"], line["qty"]) for line in out["lines"]] == [
        ("BRK00001", 2), ("BRK00002", 2)]


def test_left_and_right_make_two_lines(index: ParserIndex) -> None:
    out = run("C0003 海拉 大灯 朗逸 左右各一只", index)
    assert [(line["sku"], line["qty"]) for line in out["lines"]] == [
        ("LMP00001", 1), ("LMP00002", 1)]


def test_about_twenty_is_not_left_and_right(index: ParserIndex) -> None:
    out = run("C0003 机滤 朗逸 20个左右", index)
    assert [(line["sku"], line["qty"]) for line in out["lines"]] == [("FLT00001", 20)]


# --- ambiguity ----------------------------------------------------------------------------------


def test_close_candidates_become_a_question(index: ParserIndex) -> None:
    out = run("C0003 菲罗多 前刹车片 卡罗拉 x4", index)
    line = out["lines"][0]
    assert line["sku"] is None
    assert line["qty"] == 4
    assert {c["sku"] for c in line["candidates"]} == {"BRK00004", "BRK00005"}
    assert line["confidence"] <= 0.5
    question = out["questions"][0]
    assert question.startswith("第1行")
    assert "BRK00004" in question
    assert "BRK00005" in question


def test_series_words_narrow_and_shared_words_do_not(index: ParserIndex) -> None:
    assert one_line("米其林 浩悦 205/55R16 x4", index)["sku"] == "TYR00001"
    line = one_line("米其林 205/55R16 x4", index)
    assert line["sku"] is None
    assert {c["sku"] for c in line["candidates"]} == {"TYR00001", "TYR00002"}


def test_a_product_word_the_match_lacks_is_asked(index: ParserIndex) -> None:
    # the only 14寸 wiper is a rear one; 无骨 is a catalogue word it lacks: ask
    out = run("C0003 博世 无骨雨刮 朗逸 14寸 x2", index)
    assert out["lines"][0]["sku"] is None
    assert [c["sku"] for c in out["lines"][0]["candidates"]] == ["WIP00002"]
    assert out["questions"]


def test_chat_words_cost_a_little_confidence(index: ParserIndex) -> None:
    line = one_line("博世 前刹车片 朗逸 麻利点 x2", index)
    assert line["sku"] == "BRK00001"
    assert 0.6 <= line["confidence"] < 0.97


def test_unknown_words_fall_back_to_fuzzy_candidates(index: ParserIndex) -> None:
    out = run("C0003 前刹车片报警 朗逸 x1", index)
    assert out["lines"][0]["sku"] in (None, "BRK00007")
    out = run("C0003 那个啥 x1", index)
    assert out["lines"] == [] or out["lines"][0]["sku"] is None
    assert out["questions"]


# --- customers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "code"), [
    ("C0003 BRK00001 x1", "C0003"), ("c0003 BRK00001 x1", "C0003"),
    ("南京恒通汽车快修店 BRK00001 x1", "C0003"), ("恒通快修 BRK00001 x1", "C0003"),
    ("西湖精诚 BRK00001 x1", "C0001"), ("客户：杭州精诚汽修\nBRK00001 x1", "C0001"),
    ("客户: 南京恒通快修店 BRK00001 x1", "C0003"), ("上海精诚汽修 BRK00001 x1", "C0002"),
])
def test_customer_by_code_name_alias_or_fuzzy(text: str, code: str, index: ParserIndex) -> None:
    out = run(text, index)
    assert out["customer"]["code"] == code, out["questions"]
    assert 0 < out["customer"]["confidence"] <= 1


def test_shared_alias_is_asked(index: ParserIndex) -> None:
    out = run("精诚汽修 BRK00001 x1", index)
    assert out["customer"] is None
    assert {c["code"] for c in out["customer_candidates"]} == {"C0001", "C0002"}
    assert any("精诚汽修" in q for q in out["questions"])


def test_customer_option_overrides_the_text(index: ParserIndex) -> None:
    out = run("恒通快修 BRK00001 x1", index, customer="C0001")
    assert out["customer"] == {"code": "C0001", "name": "杭州西湖精诚汽车维修有限公司",
                               "confidence": 1.0}
    out = run("BRK00001 x1", index, customer="C9999")
    assert out["customer"] is None
    assert any("C9999" in q for q in out["questions"])


def test_missing_customer_is_asked(index: ParserIndex) -> None:
    out = run("BRK00001 x1", index)
    assert out["customer"] is None
    assert any("客户" in q for q in out["questions"])


def test_part_number_shaped_like_a_customer_code(index: ParserIndex) -> None:
    # 曼牌 C2029 is an air filter; with 空滤 in the line it is the part, not a customer
    out = run("C0003 空滤 曼牌 C2029 x2", index)
    assert out["customer"]["code"] == "C0003"
    assert out["lines"][0]["sku"] == "FLT00002"


# --- quote cards and tables ------------------------------------------------------------------


def test_numbered_quote_card(index: ParserIndex) -> None:
    out = run("【报价单】\n客户：C0003\n日期：2026-03-02\n"
              "1. BRK00001 博世前刹车片 ×4 @260 = 1040\n2、FLT00001 曼牌机滤 10个 45元\n"
              "③ 美孚1号 5W-30 4L 6桶 单价480\n合计：2600元", index)
    assert out["customer"]["code"] == "C0003"
    assert [(x["sku"], x["qty"], x["unit_price"]) for x in out["lines"]] == [
        ("BRK00001", 4, 260), ("FLT00001", 10, 45), ("OIL00001", 6, 480)]
    assert out["questions"] == []


def test_pipe_table(index: ParserIndex) -> None:
    out = run("| 商品编码 | 商品名称 | 数量 | 单价 | 金额 |\n|---|---|---|---|---|\n"
              "| BRK00002 | 博世 后刹车片 | 2 | 220.00 | 440.00 |\n"
              "|  | 米其林 浩悦4 205/55R16 | 4 | 600 | 2400 |\n| 合计 | | | | 2840 |",
              index, "C0003")
    assert [(x["sku"], x["qty"], x["unit_price"]) for x in out["lines"]] == [
        ("BRK00002", 2, 220), ("TYR00001", 4, 600)]


def test_tab_separated_rows_from_a_spreadsheet(index: ParserIndex) -> None:
    out = run("编码\t数量\t单价\nOIL00002\t12\t140\nBAT00001\t2\t530", index, "C0003")
    assert [(x["sku"], x["qty"], x["unit_price"]) for x in out["lines"]] == [
        ("OIL00002", 12, 140), ("BAT00001", 2, 530)]


def test_card_with_a_column_header_and_no_pipes(index: ParserIndex) -> None:
    out = run("序号 商品名称 数量 单位 单价 金额\n1 瓦尔塔 EFB启停蓄电池 L2-60 2 只 770 1540\n"
              "2 曼牌 空调滤清器 朗逸 5 个 70 350\n收货地址：杭州市西湖区文三路701号",
              index, "C0003")
    assert [(x["sku"], x["qty"], x["unit_price"]) for x in out["lines"]] == [
        ("BAT00002", 2, 770), ("FLT00003", 5, 70)]
    assert out["address"]["adcode"] == "330106"


# --- address and invoice ----------------------------------------------------------------------


def test_address_is_picked_out_and_placed(index: ParserIndex, geocoder: FakeGeocoder) -> None:
    out = run("C0003 BRK00001 x1\n地址：杭州市西湖区文三路701号 王师傅 13812345678", index)
    assert out["address"] == {"raw": "杭州市西湖区文三路701号", "province": "浙江省",
                              "city": "杭州市", "district": "西湖区", "adcode": "330106"}
    assert geocoder.asked[-1] == "杭州市西湖区文三路701号"
    out = run("C0003 BRK00001 x1 送到杭州市西湖区文三路701号", index)
    assert out["lines"][0]["qty"] == 1
    assert out["address"]["adcode"] == "330106"


def test_address_that_cannot_be_placed_is_asked(index: ParserIndex) -> None:
    out = run("C0003 BRK00001 x1 送到文三路701号", index)
    assert out["address"]["raw"] == "文三路701号"
    assert out["address"]["adcode"] is None
    assert any("收货地址" in q for q in out["questions"])


@pytest.mark.parametrize(("words", "kind"), [
    ("开专票", "专票"), ("增值税专用发票", "专票"), ("要普票", "普票"), ("普通发票", "普票"),
    ("不开票", "无需"), ("不要发票", "无需"), ("", None),
])
def test_invoice_type(words: str, kind: str | None, index: ParserIndex) -> None:
    assert run(f"C0003 BRK00001 x1 {words}", index)["invoice"]["type"] == kind


def test_tax_id_bank_and_account(index: ParserIndex) -> None:
    out = run("C0003 BRK00001 x1\n专票 税号：9133010606771952XT\n"
              "开户行：中国建设银行杭州西湖支行\n"
              "账号：3441 7653 8468 705725", index)
    assert out["invoice"] == {"type": "专票", "tax_id": "9133010606771952XT",
                              "bank": "中国建设银行杭州西湖支行", "account": "344176538468705725"}
    assert out["questions"] == []


def test_invalid_tax_id_is_asked(index: ParserIndex) -> None:
    out = run("C0003 BRK00001 x1 专票 税号9133010606771952XA", index)
    assert out["invoice"]["tax_id"] == "9133010606771952XA"
    assert any("校验位" in q for q in out["questions"])
    out = run("C0003 BRK00001 x1 专票 税号12345", index)
    assert any("长度" in q for q in out["questions"])


# --- the JSON contract --------------------------------------------------------------------------


def test_json_shape(index: ParserIndex) -> None:
    out = run("精诚汽修 菲罗多前刹车片卡罗拉 x4 @240\nBRK00001 x2 单价259.5\n"
              "杭州市西湖区文三路1号 专票", index)
    assert set(out) == {"customer", "customer_candidates", "lines", "address", "invoice",
                        "questions"}
    assert out["customer"] is None
    for c in out["customer_candidates"]:
        assert set(c) == {"code", "name", "score"}
        assert 0 <= c["score"] <= 1
    for line in out["lines"]:
        assert set(line) == {"sku", "name", "qty", "unit_price", "confidence", "candidates"}
        assert isinstance(line["qty"], int)
        assert 0 <= line["confidence"] <= 1
        assert line["confidence"] == round(line["confidence"], 2)
        for c in line["candidates"]:
            assert set(c) == {"sku", "name", "score"}
            assert c["score"] == round(c["score"], 2)
    assert out["lines"][0]["unit_price"] == 240
    assert out["lines"][1]["unit_price"] == 259.5
    assert set(out["address"]) == {"raw", "province", "city", "district", "adcode"}
    assert set(out["invoice"]) == {"type", "tax_id", "bank", "account"}
    assert all(isinstance(q, str) for q in out["questions"])


def test_empty_message(index: ParserIndex) -> None:
    out = run("", index)
    assert out["lines"] == []
    assert out["address"] is None
    assert len(out["questions"]) == 2


# --- the demo catalogue ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_index() -> ParserIndex:
    data = build_demo(config.defaults())
    products = [ProductInfo(i + 1, p["sku"], p["name"], p["category"], p["brand"], p["unit"],
                            p["price"], p["models"], True) for i, p in enumerate(data.products)]
    customers = [CustomerRef(c["code"], c["name"], tuple(c["aliases"]), c["active"])
                 for c in data.customers]
    return ParserIndex.build(products, customers, geocode.parse)


def test_index_over_18000_products_finds_the_last_and_first_product() -> None:
    """The whole demo catalogue is indexed (build time: bench/parser.py, bench/parser_eval.py)."""
    data = build_demo(config.defaults())
    products = [ProductInfo(i + 1, p["sku"], p["name"], p["category"], p["brand"], p["unit"],
                            p["price"], p["models"], True) for i, p in enumerate(data.products)]
    assert len(products) >= 18_000
    index = ParserIndex.build(products, [CustomerRef("C0001", "杭州精诚汽修厂")], geocode.parse)
    for p in (products[0], products[-1]):
        line = parse(f"C0001 {p.sku} 2{p.unit}", index).to_json()["lines"][0]
        assert (line["sku"], line["qty"]) == (p.sku, 2)


def test_demo_catalogue_brief_example(demo_index: ParserIndex) -> None:
    out = parse("精诚汽修 朗逸前刹车片 博世 x4", demo_index).to_json()
    line = out["lines"][0]
    assert line["sku"] is None
    assert len(line["candidates"]) == 5
    assert all(c["sku"].startswith("BRK") and "前刹车片" in c["name"] and "朗逸" in c["name"]
               for c in line["candidates"])
    assert out["questions"][1].startswith("第1行“朗逸前刹车片 博世”匹配到多个商品")


def test_demo_catalogue_rear_never_front(demo_index: ParserIndex) -> None:
    out = parse("C0005 菲罗多 前刹车片 途胜 2套", demo_index).to_json()  # only a rear one exists
    assert out["lines"][0]["sku"] is None
    assert all("前刹车片" in c["name"] for c in out["lines"][0]["candidates"])
