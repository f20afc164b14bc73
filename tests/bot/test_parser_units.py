"""Counting units come from the catalogue too: a distributor that sells batteries by the 块
and tape by the 卷 gets `2块` and `3卷` read as quantities, while 块 stays money where the
catalogue does not count in it, and where it is written as a price (85块/个, 85块钱)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.catalog import ProductInfo
from bot.domain.parser import CustomerRef, ParserIndex, parse
from integrations import geocode

ROWS = [
    ("VAR-H6-70", "瓦尔塔 蓄电池 H6-70 70Ah 蓝标", "蓄电池", "瓦尔塔", "块", "通用"),
    ("VAR-H5-60", "瓦尔塔 蓄电池 H5-60 60Ah 蓝标", "蓄电池", "瓦尔塔", "块", "通用"),
    ("3M-TAPE-19", "3M 电工胶带 19mm 黑色", "辅料", "3M", "卷", "通用"),
    ("MIC-2055516-P4", "米其林 浩悦4 205/55R16 91V", "轮胎", "米其林", "条", "通用"),
    ("CAS-EDGE-530-4L", "嘉实多 极护 全合成机油 5W-30 4L", "机油", "嘉实多", "桶", "通用"),
    ("GY-WASH-25", "固特异 玻璃清洗液 -25度 2L", "养护", "固特异", "桶", "通用"),
    ("GY-WASH-40", "固特异 玻璃清洗液 -40度 2L", "养护", "固特异", "桶", "通用"),
]
CUSTOMERS = [CustomerRef("SZ-018", "苏州园区路安汽修", ("路安",), True)]


def _index(unit_of_batteries: str = "块") -> ParserIndex:
    products = [ProductInfo(i, sku, name, cat, brand,
                            unit_of_batteries if cat == "蓄电池" else unit,
                            Decimal("100"), models, True)
                for i, (sku, name, cat, brand, unit, models) in enumerate(ROWS, start=1)]
    return ParserIndex.build(products, CUSTOMERS, geocode.parse)


def _lines(text: str, index: ParserIndex) -> list[tuple[str | None, int, float | None]]:
    draft = parse(text, index).to_json()
    return [(line["sku"], line["qty"], line["unit_price"]) for line in draft["lines"]]


@pytest.fixture(scope="module")
def index() -> ParserIndex:
    return _index()


@pytest.mark.parametrize(("text", "expected"), [
    ("路安 电瓶60AH 两块", [("VAR-H5-60", 2, None)]),
    ("路安 嘉实多 5w-30 2桶 瓦尔塔70ah 1块", [("CAS-EDGE-530-4L", 2, None),
                                              ("VAR-H6-70", 1, None)]),
    ("路安 电工胶带 3卷", [("3M-TAPE-19", 3, None)]),
    ("路安 瓦尔塔 70AH 2块 850块/块", [("VAR-H6-70", 2, 850)]),
    ("路安 瓦尔塔 60AH 2块 单价820块", [("VAR-H5-60", 2, 820)]),
    ("路安 瓦尔塔 60AH 2块 820块钱一块", [("VAR-H5-60", 2, 820)]),
])
def test_the_catalogues_own_units_count(index: ParserIndex, text: str,
                                         expected: list[tuple[str, int, int | None]]) -> None:
    assert _lines(text, index) == expected


def test_kuai_is_money_where_the_catalogue_does_not_count_in_it() -> None:
    index = _index(unit_of_batteries="个")
    assert _lines("路安 瓦尔塔 70AH 2个 850块", index) == [("VAR-H6-70", 2, 850)]


def test_a_tyre_size_written_with_spaces(index: ParserIndex) -> None:
    assert _lines("路安 米其林 205 55 16 四条", index) == [("MIC-2055516-P4", 4, None)]
    # three numbers without a tyre's shape are not a tyre size: they stay numbers, and the
    # draft asks which one is the quantity
    draft = parse("路安 米其林 200 50 16", index)
    assert draft.lines[0].qty == 200
    assert any("数量不一致（200、50、16）" in q for q in draft.questions), draft.questions


def test_an_open_line_is_quoted_in_the_words_the_salesperson_typed(index: ParserIndex) -> None:
    draft = parse("路安 玻璃水 二十桶", index)
    [line] = draft.lines
    assert line.sku is None and line.qty == 20
    assert line.name == "玻璃水"  # not the lexicon's 玻璃清洗液
    asked = [q for q in draft.questions if q.startswith("第1行“玻璃水”匹配到多个商品")]
    assert asked, draft.questions
    assert line.phrase == "玻璃清洗液"  # what a pick teaches is keyed in normal form
