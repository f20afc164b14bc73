"""Intake gates as pure functions: each result carries code, message and what it checked."""

from decimal import Decimal

import pytest

from bot.domain.allocation import Allocation, Shortage
from bot.domain.gates import CustomerView, IntakeFacts, run_intake
from bot.domain.invoice import invoice_problems, tax_id_problem, uscc_with_check
from integrations import geocode

GOOD_USCC = uscc_with_check("91330106MA2B3C4D5")


def facts(**kw):
    base = {
        "customer": CustomerView("C1", "恒通汽修", True, Decimal(1000), Decimal(0)),
        "customer_ref": "C1", "total": Decimal(100), "allocation": Allocation((), ()),
        "place": geocode.parse("浙江省杭州市西湖区文三路100号"),
        "address_raw": "浙江省杭州市西湖区文三路100号", "invoice": {"type": "普票"},
        "names": {"BRK1": "前刹车片"}, "warehouses": {}}
    base.update(kw)
    return IntakeFacts(**base)


def by_code(results):
    return {g.code: g for g in results}


def test_all_pass(settings):
    assert all(g.ok for g in run_intake(facts(), settings))


def test_unknown_and_inactive_customer(settings):
    g = by_code(run_intake(facts(customer=None, customer_ref="C9"), settings))
    assert not g["customer"].ok and "C9" in g["customer"].message
    inactive = CustomerView("C1", "恒通汽修", False, Decimal(1000), Decimal(0))
    assert "停用" in by_code(run_intake(facts(customer=inactive), settings))["customer"].message


def test_credit_counts_open_exposure(settings):
    c = CustomerView("C1", "恒通汽修", True, Decimal(1000), Decimal(950))
    g = by_code(run_intake(facts(customer=c), settings))["credit"]
    assert not g.ok and "超出50.00元" in g.message
    assert g.checked["exposure"] == "950" and g.checked["order_total"] == "100"
    released = by_code(run_intake(facts(customer=c, credit_released_by="李娜"), settings))
    assert released["credit"].ok and "李娜" in released["credit"].message


def test_credit_exactly_at_the_limit_passes(settings):
    c = CustomerView("C1", "x", True, Decimal(1000), Decimal(900))
    assert by_code(run_intake(facts(customer=c), settings))["credit"].ok


def test_stock_shortage_names_the_product(settings):
    a = Allocation((), (Shortage(0, "BRK1", 20, 12, ("HZ01", "SH01")),))
    g = by_code(run_intake(facts(allocation=a), settings))["stock"]
    assert not g.ok and "BRK1 前刹车片 需要20，可用12" in g.message
    assert g.checked["shortages"][0]["available"] == 12


@pytest.mark.parametrize(("address", "words"), [
    ("", "缺少收货地址"),
    ("火星基地1号", "缺少省和城市"),
    ("江苏省星湖街328号", "缺少城市（只识别到江苏省）"),
])
def test_coverage_needs_a_city(settings, address, words):
    place = geocode.parse(address) if address else None
    f = facts(place=place, address_raw=address,
              address_missing=geocode.missing_parts(address) if address else "")
    g = by_code(run_intake(f, settings))["coverage"]
    assert place is None and not g.ok and words in g.message


def test_an_address_without_a_district_is_served_at_city_level(settings):
    f = facts(place=geocode.parse("杭州文三路100号"), address_raw="杭州文三路100号")
    g = by_code(run_intake(f, settings))["coverage"]
    assert g.ok and g.checked["city"] == "杭州市" and g.checked["district"] == ""


def test_coverage_fails_where_no_carrier_delivers(settings):
    from dataclasses import replace

    from bot.config import CarrierConfig

    only_jd = replace(settings, carriers={"jd": CarrierConfig("jd", "京东物流", ("华东",))})
    tibet = geocode.parse("西藏自治区拉萨市城关区北京中路1号")
    g = by_code(run_intake(facts(place=tibet, address_raw=tibet.raw), only_jd))["coverage"]
    assert not g.ok and "不在任何签约快递的配送范围内" in g.message
    sh = geocode.parse("上海市浦东新区张江路1号")
    assert by_code(run_intake(facts(place=sh, address_raw=sh.raw), only_jd))["coverage"].ok


def test_municipality_city_is_the_municipality_itself():
    p = geocode.parse("上海市浦东新区张江路1号")
    assert (p.province, p.city, p.district, p.adcode) == ("上海市", "上海市", "浦东新区", "310115")
    b = geocode.parse("北京朝阳区建国路88号")
    assert (b.city, b.district) == ("北京市", "朝阳区")


def test_invoice_gate(settings):
    bad = {"type": "专票", "tax_id": "91330106MA2B3C4D5X", "bank": "", "account": "12"}
    g = by_code(run_intake(facts(invoice=bad), settings))["invoice"]
    assert not g.ok
    for words in ("校验位不符", "缺少开户行", "8到32位数字"):
        assert words in g.message
    good = {"type": "专票", "tax_id": GOOD_USCC, "bank": "工行西湖支行",
            "account": "6222021202001234567"}
    assert by_code(run_intake(facts(invoice=good), settings))["invoice"].ok


@pytest.mark.parametrize(("tax_id", "ok"), [
    (GOOD_USCC, True),
    (GOOD_USCC.lower(), True),          # normalised to upper case
    ("91330106MA2B3C4D5X", False),      # wrong check character
    ("330106123456789", True),          # 15-character old tax registration number
    ("33010612345678901", True),        # 17
    ("33010612345678901234", True),     # 20
    ("3301061234567890", False),        # 16
    ("33010612345678901@", False),      # bad character
    ("", False),
])
def test_tax_id_lengths_and_check_character(tax_id, ok):
    assert (tax_id_problem(tax_id) is None) is ok


def test_plain_invoice_needs_nothing_but_rejects_a_malformed_tax_id():
    assert invoice_problems("普票", "", "", "") == []
    assert invoice_problems("无需", "", "", "") == []
    assert invoice_problems("普票", "12345", "", "")
    assert invoice_problems("电子票", "", "", "")
