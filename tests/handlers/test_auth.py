"""API keys and roles on /api (handlers/auth.py), the discount rule, JSON-only bodies and the
per-key rate limit, through the whole application on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import build
from bot.config import Settings
from bot.ratelimit import Rate, RateLimits
from handlers import api, auth
from storage import api_keys
from storage.models import OrderLog
from tests.conftest import bearer, issue_key
from tests.handlers.test_api import assert_problem, call, footprint, order

ROUTES = [  # every /api route: method, path
    ("POST", "/api/orders"),
    ("GET", "/api/orders/LY261204000001"),
    ("POST", "/api/orders/LY261204000001/confirm"),
    ("POST", "/api/orders/LY261204000001/cancel"),
    ("POST", "/api/orders/LY261204000001/release"),
    ("POST", "/api/orders/LY261204000001/expedite"),
    ("POST", "/api/orders/LY261204000001/ship"),
    ("GET", "/api/stock/FLT00001"),
    ("GET", "/api/customers/C0001"),
    ("POST", "/api/promise"),
    ("POST", "/api/orders/import"),
]


def test_every_api_route_is_in_this_table():
    declared = {(r.method, r.path) for r in api.routes}  # type: ignore[attr-defined]
    assert {(m, p.replace("LY261204000001", "{no}").replace("FLT00001", "{sku}")
             .replace("C0001", "{code}")) for m, p in ROUTES} == declared


@pytest.fixture
async def client(world: dict[str, Any], settings: Settings, aiohttp_client: Any) -> TestClient:
    """No key of its own: each test says which it uses."""
    return await aiohttp_client(build(settings, manage_db=False))


async def keyed(role: str, name: str | None = None) -> dict[str, str]:
    return bearer(await issue_key(name or f"{role}-user", role))


# ---- 401: no key, a wrong one, a revoked one -------------------------------------------

async def test_without_a_valid_key_every_route_is_401(client):
    await issue_key("lina", "manager")  # a key exists; these requests just do not carry it
    before = await footprint()
    for method, path in ROUTES:
        for authorization in (None, "Bearer", "Bearer lvy_not-a-key", "Basic bGluYTpwdw==",
                              "bearer ", "Bearer " + "x" * 5000):
            headers = {"Authorization": authorization} if authorization is not None else {}

            ans = await call(client, method, path, order(), headers=headers)

            assert_problem(ans, 401, fields=["Authorization"], code="unauthorized")
    assert await footprint() == before


async def test_401_says_how_to_authenticate(client):
    resp = await client.get("/api/stock/FLT00001")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_revoked_key_stops_working_once_the_cache_expires(client):
    headers = await keyed("sales", "zhangwei")
    now = [1000.0]
    client.app[auth.KEYS].clock = lambda: now[0]
    assert (await call(client, "GET", "/api/stock/FLT00001", headers=headers)).status == 200

    await api_keys.revoke("zhangwei")
    now[0] += auth.CACHE_SECONDS + 0.1

    ans = await call(client, "GET", "/api/stock/FLT00001", headers=headers)
    assert_problem(ans, 401, code="unauthorized")


async def test_keys_are_stored_hashed(client):
    key = await issue_key("erp", "integration")
    rows = await api_keys.listing()
    assert [r.name for r in rows] == ["erp"]
    assert key not in (rows[0].key_hash, rows[0].prefix) and len(rows[0].key_hash) == 64
    assert (await api_keys.find(key)) == api_keys.Principal(rows[0].id, "erp", "integration")


# ---- 403: roles per route -----------------------------------------------------------------

# role → (may place, may read, may ship)
MATRIX = {"sales": (True, True, False), "manager": (True, True, True),
          "warehouse": (False, True, True), "finance": (False, True, False),
          "integration": (True, True, True), "admin": (True, True, True)}


async def test_roles_decide_what_a_key_may_do(client):
    admin = await keyed("admin")
    for role, (may_place, may_read, may_ship) in MATRIX.items():
        headers = await keyed(role)
        no = (await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 1)),
                         headers=admin)).body["no"]
        assert (await call(client, "POST", f"/api/orders/{no}/confirm",
                           headers=admin)).status == 200

        placed = await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 1)),
                            headers=headers)
        read = await call(client, "GET", f"/api/orders/{no}", headers=headers)
        shipped = await call(client, "POST", f"/api/orders/{no}/ship", headers=headers)

        for ans, may in ((placed, may_place), (read, may_read), (shipped, may_ship)):
            if may:
                assert ans.status in (200, 201), (role, ans.body)
            else:
                assert_problem(ans, 403, fields=["Authorization"], code="forbidden_role")


async def test_only_a_managers_key_releases_credit(client):
    for role in ("sales", "warehouse", "finance", "integration"):
        ans = await call(client, "POST", "/api/orders/LY261204000001/release",
                         {"reason": "老客户"}, headers=await keyed(role))
        assert_problem(ans, 403, code="forbidden_role")


def test_a_route_that_declares_no_roles_is_admin_only():
    async def undeclared(request: Any) -> Any:
        raise AssertionError

    assert auth.allowed_roles(undeclared) == frozenset({"admin"})
    with pytest.raises(ValueError, match="unknown roles"):
        auth.roles("boss")


# ---- the actor is the key's owner ---------------------------------------------------------

async def test_the_order_log_names_the_keys_owner_never_a_body_field(client):
    headers = await keyed("sales", "zhangwei")
    placed = await call(client, "POST", "/api/orders",
                        {**order("C0001", ("FLT00001", 2)), "actor": "lina"}, headers=headers)
    no = placed.body["no"]
    await call(client, "POST", f"/api/orders/{no}/confirm", {"actor": "lina"}, headers=headers)
    await call(client, "POST", f"/api/orders/{no}/cancel", {"actor": "lina", "reason": "改单"},
               headers=headers)

    log = await OrderLog.filter(order__no=no).order_by("id").values_list("action", "actor")
    assert log == [("place", "zhangwei"), ("confirm", "zhangwei"), ("allocate", "zhangwei"),
                   ("cancel", "zhangwei")]


# ---- prices below list ------------------------------------------------------------------
# FLT00001 lists at 45.00; max_discount 0.2 → 36.00 is the lowest price without a manager.

PRICES = [(0, "sales", 403), (35.99, "sales", 403), (36, "sales", 201), (45, "sales", 201),
          (60, "sales", 201), (0, "manager", 201), (0, "admin", 201), (0, "integration", 403)]


async def test_a_price_below_the_discount_floor_needs_a_managers_key(client):
    for price, role, status in PRICES:
        before = await footprint()

        ans = await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 2, price)),
                         headers=await keyed(role))

        if status == 403:
            assert_problem(ans, 403, fields=["lines[0].price"], code="below_floor")
            assert ans.body["rule"] == "pricing.max_discount"
            assert "36.00" in ans.body["errors"][0]["message"]
            assert await footprint() == before
        else:
            assert ans.status == 201, (price, role, ans.body)
            assert ans.body["total"] == round(2 * price, 2)


async def test_the_discount_floor_is_configurable(world, settings, aiohttp_client):
    from bot.domain.pricing import PricingPolicy

    app = build(replace(settings, pricing=PricingPolicy(max_discount=0.5)), manage_db=False)
    client = await aiohttp_client(app)
    sales = await keyed("sales")
    ok = await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 1, 22.5)),
                    headers=sales)
    low = await call(client, "POST", "/api/orders", order("C0001", ("FLT00001", 1, 22.49)),
                     headers=sales)
    assert ok.status == 201, ok.body
    assert_problem(low, 403, code="below_floor")


# ---- JSON only --------------------------------------------------------------------------

async def test_a_body_that_is_not_json_is_415(client):
    key = await keyed("manager")
    before = await footprint()
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/xml"):
        async with client.post("/api/orders", data=b'{"customer": "C0001"}',
                               headers={**key, "Content-Type": content_type}) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == 415, body
            assert resp.content_type == "application/problem+json"
            assert body["errors"][0]["code"] == "unsupported_media_type"
    assert await footprint() == before


async def test_json_with_a_charset_is_fine(client):
    headers = {**await keyed("manager"), "Content-Type": "application/json; charset=utf-8"}
    async with client.post("/api/orders", data=b'{"customer": "C0001", "lines": '
                           b'[{"sku": "FLT00001", "qty": 1}]}', headers=headers) as resp:
        assert resp.status == 201


# ---- rate limit per key -------------------------------------------------------------------

async def test_a_key_over_its_rate_gets_429_with_retry_after(world, settings, aiohttp_client):
    slow = replace(settings, limits=RateLimits(api_per_key=Rate(0.5, 2)))
    client = await aiohttp_client(build(slow, manage_db=False))
    one, other = await keyed("sales", "a"), await keyed("sales", "b")

    statuses = [(await call(client, "GET", "/api/stock/FLT00001", headers=one)).status
                for _ in range(3)]
    limited = await call(client, "GET", "/api/stock/FLT00001", headers=one)
    async with client.get("/api/stock/FLT00001", headers=one) as resp:
        retry = resp.headers.get("Retry-After")

    assert statuses == [200, 200, 429]
    assert_problem(limited, 429, code="rate_limited")
    assert retry is not None and 1 <= int(retry) <= 2
    assert (await call(client, "GET", "/api/stock/FLT00001", headers=other)).status == 200
