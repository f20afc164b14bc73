"""The pure rules behind the edge: input limits, the discount floor, idempotency
fingerprints, token buckets, and the [server]/[limits]/[pricing] configuration."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bot import config
from bot.domain import limits, pricing
from bot.domain.idempotency import fingerprint, same_request
from bot.order_input import InputError, PriceNotApproved, check_order, check_prices
from bot.ordering import LineInput, PlaceOrder
from bot.ratelimit import Limiter, Rate, retry_after

# ---- limits -----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "code"), [
    ("杭州市西湖区", None), ("a\tb\nc", None), ("\x00", "invalid_text"),
    ("\ud800", "invalid_text"), ("x\udfffy", "invalid_text"), ("\x7f", "invalid_text"),
    ("杭" * 256, None), ("杭" * 257, "too_long"),
])
def test_text_refusals(value, code):
    refusal = limits.text_refusal("address", value)
    assert (refusal.code if refusal else None) == code


def test_limits_are_per_field_and_fit_the_columns():
    from storage.models import Order

    columns = Order._meta.fields_map
    for field, column in (("address", "address_raw"), ("idempotency_key", "idempotency_key"),
                          ("invoice.tax_id", "tax_id"), ("invoice.bank", "bank"),
                          ("invoice.account", "account"), ("channel", "channel"),
                          ("campaign", "campaign"), ("warehouse", "preferred_warehouse")):
        assert limits.FIELD_MAX[field] <= columns[column].max_length, field
    assert limits.text_refusal("lines[7].sku", "S" * 33).code == "too_long"


def test_json_integers_are_bounded_before_conversion():
    data = json.loads('{"a": ' + "9" * 5000 + ', "b": -' + "9" * 30 + ', "c": 42}',
                      parse_int=limits.bounded_int)
    assert data == {"a": 10 ** 18, "b": -(10 ** 18), "c": 42}


def test_path_patterns():
    assert limits.ORDER_NO.fullmatch("LY261204000001")
    for bad in ("", "LY\x00", "x" * 25, "LY/1", "订单"):
        assert not limits.ORDER_NO.fullmatch(bad), bad
    assert limits.SKU.fullmatch("BRK-00012.A")
    assert not limits.SKU.fullmatch("A\x00") and not limits.SKU.fullmatch("\ud800")


def test_callback_payloads_must_be_storable():
    assert limits.payload_refusal({"FromUserName": "zhangwei", "Content": "查单 LY1"}) is None
    assert "NUL" in limits.payload_refusal({"Content": "a\x00"})
    assert "longer" in limits.payload_refusal({"from": {"userid": "u" * 65}})
    assert limits.payload_refusal([{"x": [{"y": "\ud800"}]}]) is not None


def test_check_order_names_the_first_bad_field():
    ok = PlaceOrder("C0001", [LineInput("FLT00001", 1)])
    check_order(ok)
    with pytest.raises(InputError) as e:
        check_order(PlaceOrder("C0001", [LineInput("FLT00001", 1)], address="x\x00"))
    assert (e.value.field, e.value.code) == ("address", "invalid_text")
    with pytest.raises(InputError) as e:
        check_order(PlaceOrder("C0001", [LineInput("FLT00001", 0)]))
    assert e.value.field == "lines[0].qty"
    with pytest.raises(InputError):
        check_order(PlaceOrder("C0001", [LineInput("F", 1)] * 201))


# ---- prices -----------------------------------------------------------------------------

def test_the_discount_floor():
    policy = pricing.PricingPolicy(max_discount=0.2)
    assert policy.floor(Decimal("45.00")) == Decimal("36.00")
    assert policy.floor(Decimal("0.99")) == Decimal("0.80")  # rounded up to the cent
    low = pricing.below_floor([pricing.PriceLine(0, "A", Decimal(45), Decimal("35.99")),
                               pricing.PriceLine(1, "B", Decimal(45), Decimal(36))], policy)
    assert [b.sku for b in low] == ["A"] and "pricing.max_discount" in low[0].message
    with pytest.raises(PriceNotApproved) as e:
        check_prices([(0, "A", Decimal(45), Decimal(0))], policy, approved=False)
    assert e.value.field == "lines[0].price" and e.value.code == "below_floor"
    check_prices([(0, "A", Decimal(45), Decimal(0))], policy, approved=True)


# ---- idempotency ------------------------------------------------------------------------

def test_fingerprints_are_equal_exactly_for_the_same_request():
    base = {"actor": "erp", "customer": "C0001", "lines": [("flt00001", 2, Decimal("45.0"))],
            "address": None, "invoice": None, "channel": "api", "campaign": None,
            "warehouse": None}
    same = {**base, "customer": " C0001 ", "lines": [("FLT00001", 2, Decimal("45.00"))]}
    assert fingerprint(**base) == fingerprint(**same)
    for change in ({"actor": "other"}, {"lines": [("FLT00001", 3, Decimal(45))]},
                   {"address": "杭州"}, {"invoice": {"type": "专票"}}, {"campaign": "SK"}):
        assert fingerprint(**base) != fingerprint(**{**base, **change}), change
    assert same_request(None, "anything") and not same_request("a", "b")


# ---- rate limits --------------------------------------------------------------------------

def test_token_buckets_refill_and_say_how_long_to_wait():
    now = [0.0]
    limiter = Limiter(Rate(2, 3), clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # per key
    now[0] += 0.5
    assert limiter.take("a") == 0.0
    assert retry_after(0.2) == "1" and retry_after(2.1) == "3"
    assert Limiter(Rate(0, 0)).take("x") == 0.0  # switched off


def test_limiters_forget_the_least_recently_seen_when_full():
    limiter = Limiter(Rate(1, 1), max_keys=2)
    for key in ("a", "b", "c"):
        limiter.take(key)
    assert limiter.take("a") == 0.0  # forgotten: a fresh bucket
    assert limiter.take("c") > 0


# ---- configuration ---------------------------------------------------------------------

def test_server_limits_and_pricing_from_toml():
    s = config.from_mapping({
        "server": {"public_port": 8443, "public_host": "0.0.0.0",
                   "allowed_hosts": ["Orders.Example.com"], "trusted_proxies": ["10.0.0.0/8"]},
        "limits": {"api_per_key_per_second": 5, "api_per_key_burst": 10},
        "pricing": {"max_discount": 0.1}})
    assert s.serving.public_port == 8443 and s.serving.allowed_hosts == ("orders.example.com",)
    assert s.limits.api_per_key == Rate(5, 10) and s.pricing.max_discount == 0.1
    assert s.public_url == "http://127.0.0.1:8443"  # links go to the public listener


@pytest.mark.parametrize(("data", "key"), [
    ({"server": {"public_port": 70000}}, "server.public_port"),
    ({"server": {"public_port": "8443"}}, "server.public_port"),
    ({"server": {"allowed_hosts": "x"}}, "server.allowed_hosts"),
    ({"server": {"trusted_proxies": ["nginx"]}}, "server.trusted_proxies"),
    ({"limits": {"api_per_second": 1}}, "limits.api_per_second"),
    ({"limits": {"pages_per_address_burst": -1}}, "limits.pages_per_address_burst"),
    ({"pricing": {"max_discount": 1.5}}, "pricing.max_discount"),
])
def test_bad_values_name_their_key(data, key):
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        config.from_mapping(data)
