"""Issue 10's probes, rerun as an outside attacker would, on SQLite and PostgreSQL: none of
them may find a 5xx, a write, or data without a key."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import build
from bot.config import Settings
from bot.domain import limits
from storage.models import Order
from tests.conftest import bearer, issue_key
from tests.handlers.test_api import assert_problem, call, footprint, order

PROBLEM = "application/problem+json"


@pytest.fixture
async def client(world: dict[str, Any], settings: Settings, aiohttp_client: Any) -> TestClient:
    """No default key: an attacker has none; tests that need one say so."""
    return await aiohttp_client(build(settings, manage_db=False))


@pytest.fixture
async def manager() -> dict[str, str]:
    return bearer(await issue_key("lina", "manager"))


# ---- reading orders needs a key ----------------------------------------------------------

async def test_enumerating_2000_order_numbers_without_a_key_reads_nothing(client, manager):
    placed = [await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 1)),
                         headers=manager) for _ in range(3)]
    first = placed[0].body["no"]
    prefix, start = first[:-6], int(first[-6:])

    answers = [await call(client, "GET", f"/api/orders/{prefix}{n:06d}")
               for n in range(start, start + 2000)]

    assert {a.status for a in answers} == {401}
    text = json.dumps([a.body for a in answers], ensure_ascii=False)
    for secret in ("杭州西湖恒通汽修厂", "文三路", "6222021202001234567", "/t/", "total"):
        assert secret not in text


# ---- price 0, release by claiming a manager -----------------------------------------------

async def test_price_zero_needs_a_managers_key(client):
    sales = bearer(await issue_key("zhangwei", "sales"))
    before = await footprint()

    ans = await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 10, 0)),
                     headers=sales)

    assert_problem(ans, 403, code="below_floor")
    assert ans.body["rule"] == "pricing.max_discount"
    assert await footprint() == before


async def test_claiming_a_manager_in_by_does_not_release_credit(client, manager):
    from decimal import Decimal

    from storage.models import Customer

    no = (await call(client, "POST", "/api/orders", order("C0002", ("FLT00001", 2)),
                     headers=manager)).body["no"]
    await Customer.filter(code="C0002").update(exposure=Decimal("990.00"))
    assert (await call(client, "POST", f"/api/orders/{no}/confirm", headers=manager)
            ).status == 409
    for headers in ({}, bearer(await issue_key("zhangwei", "sales"))):
        ans = await call(client, "POST", f"/api/orders/{no}/release",
                         {"by": "lina", "reason": "老客户"}, headers=headers)
        assert ans.status in (401, 403)
    held = await Order.get(no=no)
    assert (held.status, held.credit_released_by) == ("on_hold", None)


# ---- cross-site posts and DNS rebinding ---------------------------------------------------

CROSS_SITE = [("text/plain", json.dumps(order()).encode()),
              ("application/x-www-form-urlencoded", b"customer=C0001&lines=FLT00001")]


async def test_cross_site_posts_are_refused(client, manager):
    before = await footprint()
    for content_type, raw in CROSS_SITE:
        evil = {"Origin": "http://evil.example", "Content-Type": content_type}

        async with client.post("/api/orders", data=raw, headers=evil) as resp:
            assert (resp.status, resp.content_type) == (401, PROBLEM)
        # even a page that somehow had the key cannot post anything but JSON
        async with client.post("/api/orders", data=raw, headers={**evil, **manager}) as resp:
            assert (resp.status, resp.content_type) == (415, PROBLEM)
    assert await footprint() == before


async def test_a_foreign_host_is_not_answered(client, manager):
    for path in ("/api/stock/FLT00001", "/metrics", "/healthz", "/dashboard"):
        async with client.get(path, headers={**manager, "Host": "evil.example"}) as resp:
            assert (resp.status, resp.content_type) == (400, PROBLEM), path
            assert "lvyue_http_requests" not in await resp.text()


# ---- hostile input: 4xx problem+json naming the field, nothing written -------------------

TEXT_FIELDS = ["customer", "address", "channel", "campaign", "idempotency_key", "warehouse",
               "invoice.type", "invoice.tax_id", "invoice.bank", "invoice.account",
               "lines[0].sku"]


def _with(field: str, value: Any) -> dict[str, Any]:
    body = order("C0001", ("FLT00001", 1))
    if field.startswith("invoice."):
        body["invoice"] = {"type": "普票", field.split(".")[1]: value}
    elif field == "lines[0].sku":
        body["lines"][0]["sku"] = value
    else:
        body[field] = value
    return body


def _hostile_values(field: str) -> list[tuple[str, str]]:
    limit = limits.FIELD_MAX[re.sub(r"\[\d+\]", "[]", field)]
    return [("nul", "C0001\x00"), ("surrogate", "\ud800"), ("lone-low", "a\udfffb"),
            ("control", "a\x07b"), ("over-length", "杭" * (limit + 1))]


async def test_nul_surrogates_and_over_length_text_in_every_field(client, manager):
    before = await footprint()
    for field in TEXT_FIELDS:
        for what, value in _hostile_values(field):
            raw = json.dumps(_with(field, value)).encode()  # \\u escapes: valid JSON text

            ans = await call(client, "POST", "/api/orders", raw=raw, headers=manager)

            assert ans.status == 422, (field, what, ans.body)
            assert_problem(ans, 422, fields=[field])
            assert ans.body["errors"][0]["code"] in ("invalid_text", "too_long"), ans.body
    assert await footprint() == before


async def test_hostile_reasons_on_actions(client, manager):
    no = (await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 1)),
                     headers=manager)).body["no"]
    before = await footprint()
    for action in ("cancel", "expedite", "release"):
        for _, value in _hostile_values("reason"):
            ans = await call(client, "POST", f"/api/orders/{no}/{action}",
                             raw=json.dumps({"reason": value}).encode(), headers=manager)
            assert_problem(ans, 422, fields=["reason"])
    assert await footprint() == before


async def test_huge_integers_are_refused_by_field(client, manager):
    before = await footprint()
    for digits in (19, 4300, 4301, 50_000):
        big = "9" * digits
        raw = (f'{{"customer": "C0001", "lines": [{{"sku": "FLT00001", "qty": {big}, '
               f'"price": -{big}}}]}}').encode()

        ans = await call(client, "POST", "/api/orders", raw=raw, headers=manager)

        assert_problem(ans, 422, fields=["lines[0].qty", "lines[0].price"])
    assert await footprint() == before


HOSTILE_PATHS = [
    "/api/orders/%00", "/api/orders/%00/confirm", "/api/orders/LY%00/ship",
    "/api/orders/" + "9" * 300, "/api/orders/%ED%A0%80", "/api/stock/%00",
    "/api/stock/" + "A" * 40, "/api/orders/%F0%9F%92%A9/cancel"]


async def test_hostile_path_parameters_are_404(client, manager):
    before = await footprint()
    for path in HOSTILE_PATHS:
        method = "GET" if path.count("/") == 3 else "POST"

        async with client.request(method, path, headers=manager) as resp:
            assert (resp.status, resp.content_type) == (404, PROBLEM), (path, await resp.text())
    assert await footprint() == before


# ---- a client that disconnects mid-body -------------------------------------------------

async def test_a_disconnect_mid_body_is_info_not_a_500(client, manager, caplog):
    caplog.set_level(logging.INFO)
    host, port = client.server.host, client.server.port
    for _ in range(5):
        _, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: " + manager["Authorization"].encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                     b'{"customer": "C0001", "lines": [')
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
    for _ in range(100):  # the server notices the disconnect on its own schedule
        if sum("closed the connection" in r.getMessage() for r in caplog.records) == 5:
            break
        await asyncio.sleep(0.02)

    gone = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(gone) == 5 and all(r.levelno == logging.INFO for r in gone)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    async with client.get("/metrics") as resp:
        metrics = await resp.text()
    assert 'route="/api/orders",status="499"} 5' in metrics
    assert 'status="500"' not in metrics


# ---- idempotency keys like the payment APIs ---------------------------------------------

async def test_the_same_key_with_another_body_is_409_naming_the_key(client, manager):
    first = await call(client, "POST", "/api/orders",
                       order("C0001", ("FLT00001", 3), idempotency_key="erp-1"), headers=manager)
    before = await footprint()

    again = await call(client, "POST", "/api/orders",
                       order("C0001", ("FLT00001", 3), idempotency_key="erp-1"), headers=manager)
    other = await call(client, "POST", "/api/orders",
                       order("C0002", ("FLT00001", 3), idempotency_key="erp-1"), headers=manager)
    stranger = await call(client, "POST", "/api/orders",
                          order("C0001", ("FLT00001", 3), idempotency_key="erp-1"),
                          headers=bearer(await issue_key("other", "manager")))

    assert (first.status, again.status) == (201, 200)
    assert again.body["no"] == first.body["no"]
    for refused in (other, stranger):  # another body, or another caller with the same one
        assert_problem(refused, 409, fields=["idempotency_key"], code="idempotency_conflict")
        assert refused.body["idempotency_key"] == "erp-1"
        assert "erp-1" in refused.body["errors"][0]["message"]
    assert await footprint() == before


async def test_racing_posts_with_one_key_and_two_bodies(client, manager):
    same = order("C0001", ("FLT00001", 3), idempotency_key="race-2")
    different = order("C0001", ("FLT00001", 4), idempotency_key="race-2")
    bodies = [same, different] * 8

    answers = await asyncio.gather(*(call(client, "POST", "/api/orders", b, headers=manager)
                                     for b in bodies))

    assert all(a.status < 500 for a in answers), [a.body for a in answers]
    assert await Order.all().count() == 1
    winner = await Order.get(idempotency_key="race-2")
    won = next(a for a in answers if a.status == 201)
    assert won.body["no"] == winner.no
    for body, a in zip(bodies, answers, strict=True):
        if a.status == 201:
            continue
        same_as_winner = body["lines"][0]["qty"] == won.body["lines"][0]["qty"]
        assert a.status == (200 if same_as_winner else 409), (body, a.body)
