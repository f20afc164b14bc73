"""Split and allocation rules (pure): nearest, safety stock, fewest splits, fixed, campaigns."""

from datetime import time

import pytest

from bot import config
from bot.domain.allocation import (
    Destination,
    LineNeed,
    StockLevel,
    WarehouseInfo,
    allocate,
    match_rule,
)

WH = {
    "HZ01": WarehouseInfo("HZ01", "杭州仓", "physical", "浙江", "杭州", 30.27, 120.16, time(16)),
    "NB01": WarehouseInfo("NB01", "宁波仓", "physical", "浙江", "宁波", 29.87, 121.54, time(16)),
    "SH01": WarehouseInfo("SH01", "上海仓", "physical", "上海", "上海", 31.23, 121.47, time(17)),
    "NJ01": WarehouseInfo("NJ01", "南京仓", "physical", "江苏", "南京", 32.06, 118.80, time(16)),
    "SK-2026": WarehouseInfo("SK-2026", "秒杀专仓", "virtual", "浙江", "杭州", 30.27, 120.16,
                             time(18)),
}
HANGZHOU = Destination("浙江", "杭州", 30.26, 120.13)
BEIJING = Destination("北京", "北京", 39.92, 116.44)


def levels(**rows: dict[str, int]) -> dict[str, list[StockLevel]]:
    return {sku: [StockLevel(wh, n) for wh, n in per.items()] for sku, per in rows.items()}


def settings_with(extra: str = "") -> config.Settings:
    import tomllib

    data = tomllib.loads(config.DEFAULTS_PATH.read_text(encoding="utf-8"))
    if extra:
        data = config._merge(data, tomllib.loads(extra))
    return config.from_mapping(data)


def test_seed_rule_brk_to_yangtze_delta_takes_nearest_warehouse_with_enough_stock():
    s = settings_with()
    stock = levels(BRK1={"HZ01": 120, "SH01": 300, "NJ01": 300})
    a = allocate([LineNeed(0, "BRK1", "BRK", 20)], HANGZHOU, stock, WH, s)
    assert a.ok and [(p.warehouse, p.qty, p.floor) for p in a.picks] == [("HZ01", 20, 50)]


def test_seed_rule_skips_a_warehouse_whose_brk_stock_would_drop_under_50_even_if_farther():
    s = settings_with()
    # HZ01 has 60: serving 20 would leave 40 < 50, so the farther SH01 serves.
    stock = levels(BRK1={"HZ01": 60, "SH01": 300, "NJ01": 300})
    a = allocate([LineNeed(0, "BRK1", "BRK", 20)], HANGZHOU, stock, WH, s)
    assert [p.warehouse for p in a.picks] == ["SH01"]
    assert a.rules[0].name == "刹车片长三角就近"


def test_safety_stock_applies_only_to_brk_in_the_delta():
    s = settings_with()
    stock = levels(BRK1={"HZ01": 60, "SH01": 300}, OIL1={"HZ01": 60, "SH01": 300})
    # Oil is not covered by the BRK rule: HZ01 may go down to zero.
    a = allocate([LineNeed(0, "OIL1", "OIL", 60)], HANGZHOU, stock, WH, s)
    assert [p.warehouse for p in a.picks] == ["HZ01"]
    # BRK outside the delta (Beijing) falls to the default rule: no 50 floor.
    b = allocate([LineNeed(0, "BRK1", "BRK", 20)], BEIJING, stock, WH, s)
    assert b.rules[0].name == "默认"
    assert all(p.floor == 0 for p in b.picks)


def test_nearest_orders_by_distance():
    s = settings_with()
    stock = levels(OIL1={"HZ01": 0, "NB01": 10, "SH01": 10, "NJ01": 10})
    a = allocate([LineNeed(0, "OIL1", "OIL", 5)], HANGZHOU, stock, WH, s)
    assert [p.warehouse for p in a.picks] == ["NB01"]  # Ningbo is closer to Hangzhou than SH


def test_line_split_over_warehouses_only_when_no_single_one_can_serve():
    s = settings_with()
    stock = levels(OIL1={"HZ01": 30, "SH01": 30, "NJ01": 100})
    whole = allocate([LineNeed(0, "OIL1", "OIL", 50)], HANGZHOU, stock, WH, s)
    assert [(p.warehouse, p.qty) for p in whole.picks] == [("NJ01", 50)]
    split = allocate([LineNeed(0, "OIL1", "OIL", 150)], HANGZHOU, stock, WH, s)
    assert sorted((p.warehouse, p.qty) for p in split.picks) == [
        ("HZ01", 30), ("NJ01", 90), ("SH01", 30)]


def test_no_split_when_rule_forbids_it_reports_shortage():
    s = settings_with("""
[allocation.default]
name = "整单"
strategy = "nearest"
split_lines = false
carriers = ["sf"]
""")
    stock = levels(OIL1={"HZ01": 30, "SH01": 30})
    a = allocate([LineNeed(0, "OIL1", "OIL", 50)], HANGZHOU, stock, WH, s)
    assert not a.ok
    assert a.shortages[0].wanted == 50 and a.shortages[0].servable == 60


def test_shortage_reports_what_is_servable_after_safety_stock():
    s = settings_with()
    stock = levels(BRK1={"HZ01": 60, "SH01": 70})
    a = allocate([LineNeed(0, "BRK1", "BRK", 40)], HANGZHOU, stock, WH, s)
    assert not a.ok
    assert a.shortages[0].servable == 10 + 20  # (60-50) + (70-50)


def test_row_safety_stock_is_respected_too():
    s = settings_with()
    stock = {"OIL1": [StockLevel("HZ01", 10, safety_stock=8), StockLevel("SH01", 10)]}
    a = allocate([LineNeed(0, "OIL1", "OIL", 5)], HANGZHOU, stock, WH, s)
    assert [(p.warehouse, p.floor) for p in a.picks] == [("SH01", 0)]
    b = allocate([LineNeed(0, "OIL1", "OIL", 2)], HANGZHOU, stock, WH, s)
    assert [(p.warehouse, p.floor) for p in b.picks] == [("HZ01", 8)]


def test_fewest_splits_prefers_one_warehouse_that_has_everything():
    s = settings_with()
    # Tyres: HZ01 (nearest) has only the first; NJ01 has all three.
    stock = levels(T1={"HZ01": 10, "NJ01": 10}, T2={"NJ01": 10, "SH01": 10}, T3={"NJ01": 10})
    lines = [LineNeed(0, "T1", "TYR", 4), LineNeed(1, "T2", "TYR", 4), LineNeed(2, "T3", "TYR", 4)]
    a = allocate(lines, HANGZHOU, stock, WH, s)
    assert {p.warehouse for p in a.picks} == {"NJ01"}


def test_nearest_splits_by_line_where_fewest_splits_does_not():
    s = settings_with()
    stock = levels(O1={"HZ01": 10, "NJ01": 10}, O2={"NJ01": 10})
    lines = [LineNeed(0, "O1", "OIL", 4), LineNeed(1, "O2", "OIL", 4)]
    a = allocate(lines, HANGZHOU, stock, WH, s)
    assert [(p.sku, p.warehouse) for p in a.picks] == [("O1", "HZ01"), ("O2", "NJ01")]
    assert len(a.by_warehouse(list(WH))) == 2


def test_fixed_strategy_uses_named_warehouses_in_their_order():
    s = settings_with("""
[[allocation.rules]]
name = "机油固定南京"
categories = ["OIL"]
strategy = "fixed"
warehouses = ["NJ01", "SH01"]
""")
    # defaults' rules come first; add a fixed rule for OIL (no earlier rule matches OIL)
    stock = levels(OIL1={"HZ01": 100, "NJ01": 3, "SH01": 100})
    a = allocate([LineNeed(0, "OIL1", "OIL", 5)], HANGZHOU, stock, WH, s)
    assert [p.warehouse for p in a.picks] == ["SH01"]  # NJ01 short; never HZ01


def test_first_matching_rule_wins():
    s = settings_with()
    assert match_rule("BRK", HANGZHOU, s).name == "刹车片长三角就近"
    assert match_rule("brk", HANGZHOU, s).name == "刹车片长三角就近"
    assert match_rule("TYR", HANGZHOU, s).name == "轮胎少拆单"
    assert match_rule("OIL", HANGZHOU, s).name == "默认"


def test_ordinary_orders_never_draw_from_the_flash_sale_warehouse():
    s = settings_with()
    stock = levels(OIL1={"HZ01": 5, "SK-2026": 300})
    a = allocate([LineNeed(0, "OIL1", "OIL", 20)], HANGZHOU, stock, WH, s)
    assert not a.ok and a.shortages[0].servable == 5
    assert "SK-2026" not in a.shortages[0].warehouses


def test_campaign_orders_draw_only_from_their_virtual_warehouse_and_never_fall_back():
    s = settings_with()
    stock = levels(OIL1={"HZ01": 500, "SK-2026": 10})
    ok = allocate([LineNeed(0, "OIL1", "OIL", 10)], HANGZHOU, stock, WH, s, campaign="SK-2026")
    assert [p.warehouse for p in ok.picks] == ["SK-2026"]
    short = allocate([LineNeed(0, "OIL1", "OIL", 11)], HANGZHOU, stock, WH, s,
                     campaign="SK-2026")
    assert not short.ok and short.shortages[0].warehouses == ("SK-2026",)


def test_rule_safety_stock_does_not_apply_to_flash_sale_stock():
    s = settings_with()
    stock = levels(BRK1={"SK-2026": 30})
    a = allocate([LineNeed(0, "BRK1", "BRK", 30)], HANGZHOU, stock, WH, s, campaign="SK-2026")
    assert a.ok and a.picks[0].floor == 0


def test_unknown_campaign_serves_nothing():
    s = settings_with()
    stock = levels(OIL1={"HZ01": 500})
    a = allocate([LineNeed(0, "OIL1", "OIL", 1)], HANGZHOU, stock, WH, s, campaign="NOPE")
    assert not a.ok and a.shortages[0].warehouses == ()


def test_two_lines_of_one_sku_share_the_stock():
    s = settings_with()
    stock = levels(OIL1={"HZ01": 10, "SH01": 10})
    a = allocate([LineNeed(0, "OIL1", "OIL", 8), LineNeed(1, "OIL1", "OIL", 8)], HANGZHOU, stock,
                 WH, s)
    assert a.ok
    assert sum(p.qty for p in a.picks if p.warehouse == "HZ01") <= 10


@pytest.mark.parametrize("preferred", ["NJ01", "SH01"])
def test_preferred_warehouse_goes_first_when_it_can_serve(preferred):
    s = settings_with()
    stock = levels(OIL1={"HZ01": 10, "SH01": 10, "NJ01": 10})
    a = allocate([LineNeed(0, "OIL1", "OIL", 5)], HANGZHOU, stock, WH, s, preferred=preferred)
    assert [p.warehouse for p in a.picks] == [preferred]
