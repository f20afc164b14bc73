"""The REST contract of DESIGN.md §5, end to end through the aiohttp application.

Every test runs on SQLite and on PostgreSQL (the `db` fixture is parametrised). Intake that
is refused must leave no trace, so the refusal tests compare a footprint of the database
(row counts, reserved and on-hand stock, customers' exposure) before and after.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import build
from bot.config import Settings
from storage.models import Customer, Order, OrderLine, OrderLog, Shipment, Stock
from tests.conftest import bearer, issue_key

PROBLEM = "application/problem+json"
GATES = ["customer", "credit", "stock", "coverage", "invoice"]
ISO_CST = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
MARS = "火星基地1号"


# ---- helpers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: Any

    @property
    def fields(self) -> list[str]:
        return [e["field"] for e in self.body["errors"] if "field" in e]

    @property
    def gates(self) -> list[str]:
        return [e["gate"] for e in self.body["errors"] if "gate" in e]

    @property
    def codes(self) -> list[str]:
        return [e["code"] for e in self.body["errors"]]


async def call(client: TestClient, method: str, path: str, body: Any = None, *,
               raw: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One request: `body` goes as JSON, `raw` as the literal request body; `headers` add to
    (or replace) the client's own, e.g. another key's Authorization."""
    kwargs: dict[str, Any] = {}
    if raw is not None:
        kwargs = {"data": raw, "headers": {"Content-Type": "application/json"}}
    elif body is not None:
        kwargs = {"json": body}
    if headers:
        kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
    async with client.request(method, path, **kwargs) as resp:
        text = await resp.text()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Answer(resp.status, resp.content_type, parsed)


async def place(client: TestClient, body: Any = None, *, raw: bytes | None = None) -> Answer:
    return await call(client, "POST", "/api/orders", body, raw=raw)


async def act(client: TestClient, no: str, action: str, body: Any = None, *,
              headers: dict[str, str] | None = None) -> Answer:
    return await call(client, "POST", f"/api/orders/{no}/{action}", body, headers=headers)


async def stock_of(client: TestClient, sku: str) -> dict[str, dict[str, Any]]:
    """GET /api/stock/{sku} as {warehouse: row}."""
    ans = await call(client, "GET", f"/api/stock/{sku}")
    assert ans.status == 200, ans.body
    return {row["warehouse"]: row for row in ans.body["warehouses"]}


def order(customer: str = "C0001", *lines: tuple[str, int] | tuple[str, int, float],
          **extra: Any) -> dict[str, Any]:
    """An order body; lines are (sku, qty) or (sku, qty, price)."""
    out = [{"sku": ln[0], "qty": ln[1], **({"price": ln[2]} if len(ln) > 2 else {})}
           for ln in lines]
    return {"customer": customer, "lines": out or [{"sku": "FLT00001", "qty": 10}], **extra}


def assert_problem(ans: Answer, status: int, *, fields: list[str] | None = None,
                   gates: list[str] | None = None, code: str | None = None) -> None:
    """A problem+json answer with the given status naming the given fields/gates."""
    assert ans.status == status, ans.body
    assert ans.content_type == PROBLEM
    assert ans.body["status"] == status
    assert ans.body["errors"], ans.body
    for err in ans.body["errors"]:
        assert ("field" in err) != ("gate" in err), err
        assert err["code"] and err["message"], err
    if fields is not None:
        assert ans.fields == fields, ans.body
    if gates is not None:
        assert ans.gates == gates, ans.body
    if code is not None:
        assert code in ans.codes, ans.body


@dataclass(frozen=True)
class Footprint:
    """Everything an order can write."""

    orders: int
    lines: int
    shipments: int
    logs: int
    reserved: int
    on_hand: int
    exposure: Decimal


async def footprint() -> Footprint:
    stock = await Stock.all().values_list("on_hand", "reserved")
    exposures = await Customer.all().values_list("exposure", flat=True)
    return Footprint(
        orders=await Order.all().count(), lines=await OrderLine.all().count(),
        shipments=await Shipment.all().count(), logs=await OrderLog.all().count(),
        reserved=sum(r for _, r in stock), on_hand=sum(h for h, _ in stock),
        exposure=sum((Decimal(e) for e in exposures), Decimal(0)))


async def reserved_at(sku: str, warehouse: str) -> int:
    row = await Stock.get(product__sku=sku, warehouse__code=warehouse)
    return row.reserved


@pytest.fixture
async def client(world: dict[str, Any], settings: Settings, aiohttp_client: Any) -> TestClient:
    """The application on the database the `world` fixture filled (it owns the connection),
    called with the manager lina's API key (tests/handlers/test_auth.py covers the others)."""
    key = await issue_key("lina", "manager")
    return await aiohttp_client(build(settings, manage_db=False), headers=bearer(key))


# ---- 1. happy path ---------------------------------------------------------------------

# FLT00001 goes from HZ01 (nearest to Hangzhou, default rule); BRK00001 from SH01, since the
# brake-pad rule keeps 50 in stock and HZ01 has only 40.
HAPPY = order("C0001", ("FLT00001", 10), ("BRK00001", 10))


async def test_place_returns_a_draft_with_shipments_promises_and_passed_gates(client):
    ans = await place(client, HAPPY)

    assert ans.status == 201, ans.body
    assert ans.content_type == "application/json"
    o = ans.body
    assert re.fullmatch(r"LY\d{6}\d{6}", o["no"])
    assert o["status"] == "draft"
    assert o["customer"]["code"] == "C0001"
    assert [(ln["sku"], ln["qty"]) for ln in o["lines"]] == [("FLT00001", 10), ("BRK00001", 10)]
    assert o["total"] == 10 * 45.0 + 10 * 120.0
    assert [(g["code"], g["ok"]) for g in o["gates"]] == [(g, True) for g in GATES]
    by_wh = {s["warehouse"]: s for s in o["shipments"]}
    assert set(by_wh) == {"HZ01", "SH01"}
    assert by_wh["HZ01"]["lines"] == [{"sku": "FLT00001", "qty": 10}]
    assert by_wh["SH01"]["lines"] == [{"sku": "BRK00001", "qty": 10}]
    for s in o["shipments"]:
        assert s["carrier"] in ("sf", "zto", "jd")
        assert s["waybill_no"] is None
        assert ISO_CST.match(s["promised_at"]), s["promised_at"]
    assert ISO_CST.match(o["promised_at"])
    assert o["promised_at"] == max(s["promised_at"] for s in o["shipments"])
    assert ISO_CST.match(o["created_at"])
    # A draft reserves nothing yet.
    assert (await footprint()).reserved == 0


async def test_get_returns_the_placed_order(client):
    placed = await place(client, HAPPY)

    ans = await call(client, "GET", f"/api/orders/{placed.body['no']}")

    assert ans.status == 200
    assert ans.body == placed.body


async def test_confirm_allocates_and_reserves_stock_per_warehouse(client):
    no = (await place(client, HAPPY)).body["no"]

    ans = await act(client, no, "confirm", {"actor": "zhangwei"})

    assert ans.status == 200, ans.body
    assert ans.body["status"] == "allocated"
    assert ISO_CST.match(ans.body["confirmed_at"])
    assert all(s["reserved"] for s in ans.body["shipments"])
    assert (await call(client, "GET", f"/api/orders/{no}")).body == ans.body
    flt, brk = await stock_of(client, "FLT00001"), await stock_of(client, "BRK00001")
    assert (flt["HZ01"]["on_hand"], flt["HZ01"]["reserved"], flt["HZ01"]["available"]) == (
        100, 10, 90)
    assert flt["NJ01"]["reserved"] == 0
    assert (brk["SH01"]["on_hand"], brk["SH01"]["reserved"], brk["SH01"]["available"]) == (
        200, 10, 190)
    assert brk["HZ01"]["reserved"] == brk["NJ01"]["reserved"] == 0
    assert (await Customer.get(code="C0001")).exposure == Decimal("1650.00")


async def test_cancel_after_confirm_gives_the_reservation_back(client):
    no = (await place(client, HAPPY)).body["no"]
    await act(client, no, "confirm")

    ans = await act(client, no, "cancel", {"reason": "客户改单"})

    assert ans.status == 200, ans.body
    assert ans.body["status"] == "cancelled"
    assert (await footprint()).reserved == 0
    assert (await stock_of(client, "FLT00001"))["HZ01"]["available"] == 100
    assert (await Customer.get(code="C0001")).exposure == 0
    log = await OrderLog.filter(order__no=no, action="cancel").get()
    assert log.detail["reason"] == "客户改单"


async def test_ship_deducts_stock_sets_waybills_and_cannot_repeat(client):
    no = (await place(client, HAPPY)).body["no"]
    await act(client, no, "confirm")

    ans = await act(client, no, "ship", {"actor": "warehouse"})

    assert ans.status == 200, ans.body
    assert ans.body["status"] == "shipped"
    assert ISO_CST.match(ans.body["shipped_at"])
    waybills = [s["waybill_no"] for s in ans.body["shipments"]]
    assert all(waybills) and len(set(waybills)) == len(waybills)
    assert all(s["status"] == "shipped" and not s["reserved"] for s in ans.body["shipments"])
    flt, brk = await stock_of(client, "FLT00001"), await stock_of(client, "BRK00001")
    assert (flt["HZ01"]["on_hand"], flt["HZ01"]["reserved"]) == (90, 0)
    assert (brk["SH01"]["on_hand"], brk["SH01"]["reserved"]) == (190, 0)

    before = await footprint()
    again = await act(client, no, "ship")
    assert_problem(again, 409, code="illegal_transition")
    assert again.body["status_now"] == "shipped"
    assert await footprint() == before
    assert [s["waybill_no"] for s in (await call(client, "GET", f"/api/orders/{no}")
                                      ).body["shipments"]] == waybills


async def test_stock_of_unknown_sku_is_404(client):
    assert_problem(await call(client, "GET", "/api/stock/NOPE0001"), 404, fields=["sku"])


# ---- 2. bad input: 4xx problem+json naming the field, nothing written ----------------

def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _line(**ln: Any) -> bytes:
    return _json({"customer": "C0001", "lines": [{"sku": "FLT00001", "qty": 1, **ln}]})


BAD_INPUT = [
    # id, raw body, status, fields named, error code
    ("malformed-json", b'{"customer": "C0001", "lines": [', 400, ["body"], "malformed_json"),
    ("invalid-utf8", b'{"customer": "\xff\xfe", "lines": []}', 400, ["body"], "invalid_utf8"),
    ("top-level-array", _json([order()]), 422, ["body"], "type"),
    ("top-level-string", _json("C0001"), 422, ["body"], "type"),
    ("customer-number", _json({**order(), "customer": 1}), 422, ["customer"], "required"),
    ("customer-missing", _json({"lines": order()["lines"]}), 422, ["customer"], "required"),
    ("lines-not-list", _json({**order(), "lines": {"sku": "FLT00001", "qty": 1}}), 422,
     ["lines"], "required"),
    ("lines-empty", _json({**order(), "lines": []}), 422, ["lines"], "required"),
    ("line-not-object", _json({**order(), "lines": ["FLT00001"]}), 422, ["lines[0]"], "type"),
    ("qty-string", _line(qty="5"), 422, ["lines[0].qty"], "type"),
    ("qty-bool", _line(qty=True), 422, ["lines[0].qty"], "type"),
    ("qty-missing", _json({**order(), "lines": [{"sku": "FLT00001"}]}), 422,
     ["lines[0].qty"], "type"),
    ("qty-zero", _line(qty=0), 422, ["lines[0].qty"], "not_positive"),
    ("qty-negative", _line(qty=-3), 422, ["lines[0].qty"], "not_positive"),
    ("qty-fractional", _line(qty=2.5), 422, ["lines[0].qty"], "fractional"),
    ("qty-absurd", _line(qty=10**9), 422, ["lines[0].qty"], "too_large"),
    ("qty-huge-int", _line(qty=10**400), 422, ["lines[0].qty"], "too_large"),
    ("qty-nan", b'{"customer": "C0001", "lines": [{"sku": "FLT00001", "qty": NaN}]}', 422,
     ["lines[0].qty"], None),
    ("sku-number", _json({**order(), "lines": [{"sku": 1, "qty": 1}]}), 422,
     ["lines[0].sku"], "type"),
    ("sku-unknown", _json(order("C0001", ("FLT00001", 1), ("NOPE0001", 1))), 422,
     ["lines[1].sku"], "unknown_sku"),
    ("price-negative", _line(price=-1), 422, ["lines[0].price"], "range"),
    ("price-text", _line(price="cheap"), 422, ["lines[0].price"], "type"),
    ("two-bad-lines", _json({**order(), "lines": [{"sku": "FLT00001", "qty": 0},
                                                   {"sku": "BRK00001", "qty": "x"}]}),
     422, ["lines[0].qty", "lines[1].qty"], None),
    ("invoice-type", _json({**order(), "invoice": {"type": "增值税票"}}), 422,
     ["invoice.type"], "invalid"),
    ("invoice-not-object", _json({**order(), "invoice": "专票"}), 422, ["invoice"], "type"),
    ("address-number", _json({**order(), "address": 42}), 422, ["address"], "type"),
    ("address-too-long", _json({**order(), "address": "杭" * 257}), 422, ["address"],
     "too_long"),
    ("idempotency-key-too-long", _json({**order(), "idempotency_key": "k" * 129}), 422,
     ["idempotency_key"], "too_long"),
    ("warehouse-unknown", _json({**order(), "warehouse": "XX99"}), 422, ["warehouse"],
     "unknown_warehouse"),
]


@pytest.mark.parametrize(("raw", "status", "fields", "code"),
                         [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT])
async def test_bad_input_is_refused_by_field_and_writes_nothing(client, raw, status, fields,
                                                                code):
    before = await footprint()

    ans = await place(client, raw=raw)

    assert_problem(ans, status, fields=fields, code=code)
    assert await footprint() == before


async def test_body_over_one_mebibyte_is_413(client):
    """Expected to FAIL today: handlers/api.py reads `e.max_size`, which aiohttp's
    HTTPRequestEntityTooLarge does not have, so the 413 turns into an AttributeError → 500."""
    before = await footprint()
    pad = "x" * (1 << 20)

    ans = await place(client, raw=_json({**order(), "note": pad}))

    assert_problem(ans, 413, fields=["body"], code="too_large")
    assert await footprint() == before


async def test_deeply_nested_json_is_400_not_500(client):
    """Expected to FAIL today: json.loads raises RecursionError (not JSONDecodeError), which
    handlers/api.py `_body` does not catch, so the middleware answers 500."""
    before = await footprint()
    depth = 100_000  # 200 kB, well under the body limit

    ans = await place(client, raw=b"[" * depth + b"]" * depth)

    assert_problem(ans, 400, fields=["body"])
    assert await footprint() == before


async def test_unknown_customer_fails_the_customer_gate(client):
    before = await footprint()

    ans = await place(client, order("C9999"))

    assert_problem(ans, 422)
    assert "customer" in ans.gates
    assert ans.body["errors"][0] == {**ans.body["errors"][0], "gate": "customer",
                                     "code": "customer_failed"}
    assert {g["code"]: g["ok"] for g in ans.body["gates"]}["customer"] is False
    assert await footprint() == before


async def test_inactive_customer_fails_the_customer_gate(client):
    await Customer.filter(code="C0001").update(active=False)
    before = await footprint()

    ans = await place(client, order("C0001"))

    assert_problem(ans, 422, gates=["customer"], code="customer_failed")
    assert await footprint() == before


async def test_unknown_paths_and_methods_under_api_are_problems(client):
    assert_problem(await call(client, "GET", "/api/nothing-here"), 404)
    assert_problem(await call(client, "DELETE", "/api/orders"), 405)


# ---- 3. gate failures: 422 listing every failed gate, nothing kept ---------------------

GATE_CASES = [
    # C0002's limit is 1000; two tyres from Nanjing are 1040.
    ("credit", order("C0002", ("TYR00001", 2)), ["credit"]),
    # 68 tyres in all warehouses; the price keeps the credit gate out of it.
    ("stock", order("C0001", ("TYR00001", 69, 1)), ["stock"]),
    ("coverage", order("C0001", ("FLT00001", 1), address=MARS), ["coverage"]),
    ("invoice", order("C0001", ("FLT00001", 1), invoice={
        "type": "专票", "tax_id": "123456", "bank": "中国银行", "account": "6222021202001234"}),
     ["invoice"]),
    ("invoice-bad-check-char", order("C0001", ("FLT00001", 1), invoice={
        "type": "专票", "tax_id": "91330106MA2B3C4D5X", "bank": "中国银行",
        "account": "6222021202001234"}), ["invoice"]),
    ("all-together", order("C0002", ("TYR00001", 1000), address=MARS, invoice={
        "type": "专票", "tax_id": "123456"}), ["credit", "stock", "coverage", "invoice"]),
]


@pytest.mark.parametrize(("body", "failing"),
                         [pytest.param(*case[1:], id=case[0]) for case in GATE_CASES])
async def test_failed_gates_are_all_listed_and_nothing_is_kept(client, body, failing):
    before = await footprint()

    ans = await place(client, body)

    assert_problem(ans, 422, gates=failing)
    assert ans.codes == [f"{g}_failed" for g in failing]
    assert {g["code"]: g["ok"] for g in ans.body["gates"]} == {
        g: g not in failing for g in GATES}
    assert await footprint() == before


# ---- 4. idempotency --------------------------------------------------------------------

async def test_same_idempotency_key_gives_the_same_order(client):
    body = order("C0001", ("FLT00001", 3), idempotency_key="erp-4711")

    first = await place(client, body)
    second = await place(client, body)

    assert (first.status, second.status) == (201, 200)
    assert second.body["no"] == first.body["no"]
    assert await Order.all().count() == 1
    assert await Order.filter(idempotency_key="erp-4711").count() == 1


async def test_racing_posts_with_one_key_make_one_order(client):
    body = order("C0001", ("FLT00001", 3), idempotency_key="race-1")

    answers = await asyncio.gather(*(place(client, body) for _ in range(20)))

    statuses = sorted(a.status for a in answers)
    assert all(s < 500 for s in statuses), [a.body for a in answers if a.status >= 500]
    assert statuses == [200] * 19 + [201], [a.body for a in answers if a.status >= 300]
    assert len({a.body["no"] for a in answers}) == 1
    assert await Order.all().count() == 1
    assert await OrderLine.all().count() == 1
    assert await OrderLog.filter(action="place").count() == 1


# ---- 5. illegal transitions and unknown orders -----------------------------------------

async def test_confirm_of_a_cancelled_order_is_an_illegal_transition(client):
    no = (await place(client, HAPPY)).body["no"]
    assert (await act(client, no, "cancel")).status == 200
    before = await footprint()

    ans = await act(client, no, "confirm")

    assert_problem(ans, 409, fields=["status"], code="illegal_transition")
    assert ans.body["status_now"] == "cancelled"
    assert await footprint() == before


async def test_ship_of_a_draft_is_an_illegal_transition(client):
    no = (await place(client, HAPPY)).body["no"]
    before = await footprint()

    assert_problem(await act(client, no, "ship"), 409, code="illegal_transition")
    assert await footprint() == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/orders/LY000000999999", None),
    ("POST", "/api/orders/LY000000999999/confirm", None),
    ("POST", "/api/orders/LY000000999999/cancel", None),
    ("POST", "/api/orders/LY000000999999/ship", None),
    ("POST", "/api/orders/LY000000999999/release", {"reason": "老客户"}),
])
async def test_unknown_order_is_404(client, method, path, body):
    before = await footprint()

    assert_problem(await call(client, method, path, body), 404, fields=["no"], code="not_found")
    assert await footprint() == before


# ---- 6. manager release of a credit hold -----------------------------------------------

async def _held_on_credit(client: TestClient) -> str:
    """A C0002 order that passed intake but is held on credit at confirmation."""
    placed = await place(client, order("C0002", ("FLT00001", 2)))  # 90.00, well in limit
    assert placed.status == 201, placed.body
    no = placed.body["no"]
    await Customer.filter(code="C0002").update(exposure=Decimal("990.00"))
    held = await act(client, no, "confirm")
    assert_problem(held, 409, gates=["credit"], code="credit_failed")
    assert held.body["order"]["status"] == "on_hold"
    assert (await Order.get(no=no)).status == "on_hold"
    return no


@pytest.mark.parametrize("body", [{"reason": "老客户"},
                                  # The probe: claiming the manager in the body changes nothing.
                                  {"by": "lina", "reason": "老客户"}])
async def test_release_with_a_sales_key_is_forbidden(client, body):
    no = await _held_on_credit(client)
    sales = bearer(await issue_key("zhangwei", "sales"))
    before = await footprint()

    ans = await act(client, no, "release", body, headers=sales)

    assert_problem(ans, 403, fields=["Authorization"], code="forbidden_role")
    assert await footprint() == before
    held = await Order.get(no=no)
    assert (held.status, held.credit_released_by) == ("on_hold", None)


@pytest.mark.parametrize(("body", "fields"), [
    ({}, ["reason"]),
    ({"reason": "   "}, ["reason"]),
    ({"reason": 7}, ["reason"]),
    ({"reason": "老客户\u0000"}, ["reason"]),
])
async def test_release_needs_a_reason(client, body, fields):
    no = await _held_on_credit(client)
    before = await footprint()

    assert_problem(await act(client, no, "release", body), 422, fields=fields)
    assert await footprint() == before


async def test_release_by_the_manager_moves_the_order_on_and_is_logged(client):
    no = await _held_on_credit(client)

    # The releasing manager is the key's owner (lina); a `by` naming someone else is ignored.
    ans = await act(client, no, "release", {"by": "zhangwei", "reason": "老客户，月底回款"})

    assert ans.status == 200, ans.body
    assert ans.body["status"] == "allocated"
    assert ans.body["credit_released_by"] == "李娜"
    assert {g["code"]: g["ok"] for g in ans.body["gates"]}["credit"] is True
    assert await reserved_at("FLT00001", "NJ01") == 2
    assert (await Customer.get(code="C0002")).exposure == Decimal("1080.00")
    log = await OrderLog.filter(order__no=no, action="release_credit").get()
    assert log.actor == "lina"
    assert log.detail["by"] == "lina"
    assert log.detail["reason"] == "老客户，月底回款"
    actions = await OrderLog.filter(order__no=no).order_by("id").values_list("action", flat=True)
    assert actions == ["place", "hold", "release_credit", "confirm", "allocate"]


async def test_release_of_an_allocated_order_is_an_illegal_transition(client):
    no = (await place(client, HAPPY)).body["no"]
    await act(client, no, "confirm")
    before = await footprint()

    ans = await act(client, no, "release", {"reason": "老客户"})

    assert_problem(ans, 409, code="illegal_transition")
    assert await footprint() == before


# ---- 7. campaign (flash-sale) stock is isolated -----------------------------------------
# OIL00001: HZ01 500 + SH01 100 main stock, SK-2026 100 for the campaign. Prices are set to
# 1.00 so the credit gate stays out of the way.

async def test_campaign_order_draws_only_from_its_virtual_warehouse(client):
    ans = await place(client, order("C0001", ("OIL00001", 100, 1), campaign="SK-2026"))

    assert ans.status == 201, ans.body
    assert ans.body["campaign"] == "SK-2026"
    assert [s["warehouse"] for s in ans.body["shipments"]] == ["SK-2026"]
    confirmed = await act(client, ans.body["no"], "confirm")
    assert confirmed.status == 200, confirmed.body
    oil = await stock_of(client, "OIL00001")
    assert (oil["SK-2026"]["reserved"], oil["HZ01"]["reserved"], oil["SH01"]["reserved"]) == (
        100, 0, 0)


async def test_ordinary_order_never_draws_from_campaign_stock(client):
    before = await footprint()

    short = await place(client, order("C0001", ("OIL00001", 650, 1)))

    assert_problem(short, 422, gates=["stock"])
    assert await footprint() == before
    # All of the main stock is fine, and still nothing from SK-2026 (even when asked for).
    whole = await place(client, order("C0001", ("OIL00001", 600, 1), warehouse="SK-2026"))
    assert whole.status == 201, whole.body
    assert sorted(s["warehouse"] for s in whole.body["shipments"]) == ["HZ01", "SH01"]


async def test_campaign_order_beyond_campaign_stock_does_not_fall_back(client):
    before = await footprint()

    ans = await place(client, order("C0001", ("OIL00001", 101, 1), campaign="SK-2026"))

    assert_problem(ans, 422, gates=["stock"])
    assert await footprint() == before


async def test_campaign_order_for_a_sku_without_campaign_stock_fails(client):
    ans = await place(client, order("C0001", ("FLT00001", 1), campaign="SK-2026"))

    assert_problem(ans, 422, gates=["stock"])


# ---- concurrency of confirmation ---------------------------------------------------------

async def test_racing_confirms_of_one_order_reserve_once(client):
    no = (await place(client, order("C0001", ("FLT00001", 10)))).body["no"]

    answers = await asyncio.gather(*(act(client, no, "confirm") for _ in range(10)))

    assert all(a.status < 500 for a in answers), [a.body for a in answers]
    assert sorted(a.status for a in answers) == [200] + [409] * 9
    assert all("illegal_transition" in a.codes for a in answers if a.status == 409)
    assert await reserved_at("FLT00001", "HZ01") == 10
    assert (await Customer.get(code="C0001")).exposure == Decimal("450.00")


async def test_racing_confirms_cannot_overdraw_credit(client):
    # Two drafts of 600.00 each for C0002 (limit 1000): both pass intake alone.
    nos = []
    for _ in range(2):
        placed = await place(client, order("C0002", ("FLT00001", 1, 600)))
        assert placed.status == 201, placed.body
        nos.append(placed.body["no"])

    answers = await asyncio.gather(*(act(client, no, "confirm") for no in nos))

    assert sorted(a.status for a in answers) == [200, 409], [a.body for a in answers]
    held = next(a for a in answers if a.status == 409)
    assert held.gates == ["credit"]
    assert (await Customer.get(code="C0002")).exposure == Decimal("600.00")
    assert sorted(await Order.all().values_list("status", flat=True)) == [
        "allocated", "on_hold"]
    assert await reserved_at("FLT00001", "NJ01") == 1


async def test_racing_confirms_cannot_overdraw_stock(client):
    # HZ01 holds 100 filters; three drafts of 60 each want 180 from the nearest warehouse.
    nos = []
    for _ in range(3):
        placed = await place(client, order("C0001", ("FLT00001", 60, 1)))
        assert placed.status == 201, placed.body
        nos.append(placed.body["no"])

    answers = await asyncio.gather(*(act(client, no, "confirm") for no in nos))

    assert all(a.status in (200, 409) for a in answers), [a.body for a in answers]
    rows = await Stock.filter(product__sku="FLT00001").values_list("on_hand", "reserved")
    assert all(0 <= reserved <= on_hand for on_hand, reserved in rows)
    allocated = await Order.filter(status="allocated").count()
    assert sum(r for _, r in rows) == 60 * allocated
    assert allocated == sum(a.status == 200 for a in answers)


async def test_racing_ships_of_one_order_deduct_once(client):
    no = (await place(client, order("C0001", ("FLT00001", 10)))).body["no"]
    assert (await act(client, no, "confirm")).status == 200

    answers = await asyncio.gather(*(act(client, no, "ship") for _ in range(5)))

    assert sorted(a.status for a in answers) == [200] + [409] * 4, [a.body for a in answers]
    hz = (await stock_of(client, "FLT00001"))["HZ01"]
    assert (hz["on_hand"], hz["reserved"]) == (90, 0)
    assert await OrderLog.filter(order__no=no, action="ship").count() == 1


# ---- 8. operations -------------------------------------------------------------------

async def test_healthz_reports_the_database_dialect(client, engine):
    ans = await call(client, "GET", "/healthz")

    assert ans.status == 200
    assert ans.body == {"status": "ok", "db": engine}


async def test_metrics_are_prometheus_text_counting_requests(client):
    await call(client, "GET", "/healthz")
    await place(client, raw=b"{")

    async with client.get("/metrics") as resp:
        text = await resp.text()
        assert resp.status == 200
        assert resp.content_type == "text/plain"

    assert re.search(r"^# TYPE lvyue_http_requests(_total)? counter$", text, re.M), text
    assert re.search(r'lvyue_http_requests_total\{method="GET",route="/healthz",status="200"\} 1',
                     text), text
    assert re.search(r'lvyue_http_requests_total\{method="POST",route="/api/orders",'
                     r'status="400"\} 1', text), text
    assert "lvyue_http_request_seconds_bucket" in text


async def test_expedite_over_http_raises_priority_and_is_refused_after_shipping(client):
    a = await place(client, {"customer": "C0001", "lines": [{"sku": "OIL00001", "qty": 2}]})
    assert a.status == 201
    no = a.body["no"]
    assert (await call(client, "POST", f"/api/orders/{no}/confirm", {})).status == 200
    a = await call(client, "POST", f"/api/orders/{no}/expedite",
                   {"actor": "lina", "reason": "客户催"})
    assert a.status == 200 and a.body["priority"] == 1 and a.body["status"] == "allocated"
    assert (await call(client, "POST", f"/api/orders/{no}/ship", {})).status == 200
    a = await call(client, "POST", f"/api/orders/{no}/expedite", {})
    assert a.status == 409 and a.content_type == "application/problem+json"
    assert a.body["errors"][0]["code"] == "illegal_transition"
