"""The parser on a catalogue it was not developed on (tests/data/heldout): SKU codes of
other shapes, customer codes with separators, and the accuracy floors of the held-out
messages (figures: bench/parser_eval.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.parser_eval import heldout_cases, heldout_index, score
from bot.domain.parser import ParserIndex, parse


@pytest.fixture(scope="module")
def index() -> ParserIndex:
    return heldout_index()


@pytest.mark.parametrize(("written", "sku"), [
    ("flt-oc-3302", "FLT-OC-3302"), ("FLTOC3302", "FLT-OC-3302"), ("flt oc 3302", "FLT-OC-3302"),
    ("0986ab1234", "0986.AB.1234"), ("0986 AB 1234", "0986.AB.1234"),
    ("BOSCH-P85020", "bosch-p85020"), ("bat-70l", "BAT 70-L"), ("BAT70-L", "BAT 70-L"),
    ("ty205-55r16ep", "ty 205-55r16 ep"), ("NGK-BKR6E", "ngk.bkr6e"),
])
def test_sku_codes_match_whatever_case_separators_and_spaces(index: ParserIndex, written: str,
                                                              sku: str) -> None:
    out = parse(f"顺达 {written} 3个", index).to_json()
    assert [(line["sku"], line["qty"]) for line in out["lines"]] == [(sku, 3)]


def test_an_unknown_code_of_a_known_shape_is_a_question(index: ParserIndex) -> None:
    out = parse("顺达 FLT-OC-9999 2个", index).to_json()
    assert out["lines"][0]["sku"] is None and out["questions"]


@pytest.mark.parametrize("written", ["KH-003", "kh-003", "KH003", "KH 003"])
def test_customer_codes_with_separators(index: ParserIndex, written: str) -> None:
    out = parse(f"{written}\nHL-LED-H7 2个", index).to_json()
    assert out["customer"]["code"] == "KH-003"
    assert out["lines"][0]["sku"] == "HL-LED-H7"


def test_heldout_messages_accuracy_and_never_confident_and_wrong() -> None:
    totals, misses, wrong = score(heldout_cases("all"), heldout_index())
    assert not wrong, wrong
    for field, values in totals.items():
        assert sum(values) / len(values) >= 0.93, (field, misses)  # see bench/README.md


@pytest.mark.parametrize(("text", "sku", "qty"), [
    ("顺达 玻璃水 二十桶", "GY-W25", 20),  # 固特异玻璃水 -25度 2L: the category word alone
    ("顺达 雨刮水 10桶", "GY-W25", 10),
    ("顺达 弗列加朗逸机滤20个", "FLT-OC-3302", 20),  # brand glued to the part word
    ("顺达 骆驼电瓶 70ah 2个", "BAT 70-L", 2),
    ("顺达 途虎雨刷18寸 4支", "TH-WB-18", 4),  # 无骨雨刮 in the catalogue
])
def test_catalogue_words_and_synonyms(index: ParserIndex, text: str, sku: str, qty: int) -> None:
    line = parse(text, index).to_json()["lines"]
    assert [(x["sku"], x["qty"]) for x in line] == [(sku, qty)]


def test_a_brand_the_catalogue_does_not_carry_is_a_question(index: ParserIndex) -> None:
    out = parse("顺达 米其林轮胎 205/55R16 4条", index).to_json()
    assert out["lines"][0]["sku"] is None and out["questions"]


def test_a_table_with_a_customer_column(index: ParserIndex) -> None:
    out = parse("客户 | 商品编码 | 数量\n老李 | GT-6PK1200 | 3\n老李 | GT-TK-015 | 1",
                index).to_json()
    assert out["customer"]["code"] == "KH-002"
    assert [(x["sku"], x["qty"]) for x in out["lines"]] == [("GT-6PK1200", 3), ("GT-TK-015", 1)]
    assert out["questions"] == []


@pytest.mark.parametrize(("text", "want"), [
    ("顺达 骆驼70AH 2个 瓦尔塔45AH 1个", [("BAT 70-L", 2), ("VT-45AH", 1)]),
    ("顺达 H7 LED 2个 H4 10个", [("HL-LED-H7", 2), ("HL-H4-12V", 10)]),
    ("顺达 H4 5个 玻璃水 5桶", [("HL-H4-12V", 5), ("GY-W25", 5)]),
])
def test_several_items_on_one_line(index: ParserIndex, text: str,
                                   want: list[tuple[str, int]]) -> None:
    out = parse(text, index).to_json()
    assert [(x["sku"], x["qty"]) for x in out["lines"]] == want


def test_the_lexicon_is_a_data_file_extended_from_config(tmp_path: Path) -> None:
    from bot import config
    from bot.domain import parser_data

    assert parser_data.TERM_ALIASES["空气格"] == "空气滤清器"  # from parser_lexicon.toml
    cfg = tmp_path / "config.toml"
    cfg.write_text('[parser.lexicon.terms]\n"风格" = "空气滤清器"\n'
                   '[parser.lexicon.brands]\n"FLEETGUARD" = ["弗列加"]\n', encoding="utf-8")
    before = dict(parser_data.TERM_ALIASES), dict(parser_data.BRAND_ALIASES)
    try:
        config.load(cfg, environ={})
        index = heldout_index()
        out = parse("顺达 fleetguard 卡罗拉风格 4个", index).to_json()
        assert [(x["sku"], x["qty"]) for x in out["lines"]] == [("FLT-AF-1202", 4)]
    finally:
        parser_data.TERM_ALIASES.clear()
        parser_data.TERM_ALIASES.update(before[0])
        parser_data.BRAND_ALIASES.clear()
        parser_data.BRAND_ALIASES.update(before[1])
        parser_data.GENERATION[0] += 1


def test_a_bad_lexicon_entry_in_config_is_a_clear_error(tmp_path: Path) -> None:
    from bot import config

    cfg = tmp_path / "config.toml"
    cfg.write_text('[parser.lexicon.terms]\n"风格" = 3\n', encoding="utf-8")
    with pytest.raises(config.ConfigError, match=r"parser\.lexicon\.terms"):
        config.load(cfg, environ={})
