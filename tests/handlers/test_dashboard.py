"""GET /dashboard and /dashboard/data.json: who may see them, what they answer.

The app is the dashboard's routes plus the tracking page config (secret, window, clock), as
bot/app.py sets it; a middleware lets a test pose as a remote client (X-Test-Remote), since
the test client itself always connects from 127.0.0.1. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from bot import tokens
from bot.config import Secret
from bot.trackview import TrackingPageConfig
from handlers import dashboard, pages
from tests.bot.test_kpi import NOW, seeded  # noqa: F401  (the seeded fixture)

SECRET = "dashboard-test-secret"
REMOTE = {"X-Test-Remote": "203.0.113.9"}
ISO_CST = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


@web.middleware
async def pose_as(request: web.Request, handler: Any) -> web.StreamResponse:
    if remote := request.headers.get("X-Test-Remote"):
        request = request.clone(remote=remote)
    return await handler(request)


def make_app(settings: Any, **over: Any) -> web.Application:
    app = web.Application(middlewares=[pose_as])
    cfg = TrackingPageConfig.from_settings(replace(settings, secret=Secret(SECRET)))
    app[pages.TRACKING] = replace(cfg, clock=lambda: NOW, **over)
    app.add_routes(dashboard.routes)
    return app


@pytest.fixture
async def client(db: str, settings: Any, aiohttp_client: Any) -> Any:
    return await aiohttp_client(make_app(settings))


def key(link: str) -> str:
    return parse_qs(urlsplit(link).query)["k"][0]


async def get(client: Any, path: str, headers: dict[str, str] | None = None
              ) -> tuple[int, str, Any]:
    async with client.get(path, headers=headers or {}) as resp:
        return resp.status, await resp.text(), resp.headers


# ---- access -----------------------------------------------------------------------------

async def test_local_clients_see_the_page(client):
    status, html, headers = await get(client, "/dashboard")
    assert status == 200, html
    assert "履约看板" in html and "近30天" in html
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_remote_clients_need_a_valid_key(client):
    status, html, _ = await get(client, "/dashboard", REMOTE)
    assert status == 403 and "无权查看看板" in html and "<svg" not in html
    status, body, headers = await get(client, "/dashboard/data.json", REMOTE)
    assert status == 403 and headers["Content-Type"].startswith("application/problem+json")
    assert "placed" not in body
    # behind a proxy on the same machine the peer is loopback, but the client is not
    status, _, _ = await get(client, "/dashboard", {"X-Forwarded-For": "203.0.113.9"})
    assert status == 403
    # DNS rebinding: a hostile page re-pointed at 127.0.0.1 sends its own name as Host
    status, _, _ = await get(client, "/dashboard/data.json", {"Host": "evil.example"})
    assert status == 403

    link = dashboard.dashboard_link(SECRET, "https://ly.example.com/", NOW)
    assert link.startswith("https://ly.example.com/dashboard?k=")
    k = key(link)
    status, html, _ = await get(client, f"/dashboard?k={k}", REMOTE)
    assert status == 200 and "履约看板" in html
    # the period tabs and the JSON link keep the key
    assert html.count(f"k={k}") >= 4
    status, _, _ = await get(client, f"/dashboard/data.json?days=7&k={k}", REMOTE)
    assert status == 200


@pytest.mark.parametrize("case", ["expired", "other secret", "tampered", "tracking token",
                                  "raw secret", "garbage"])
async def test_expired_and_forged_keys_are_refused(client, case):
    good = key(dashboard.dashboard_link(SECRET, "http://x", NOW))
    bad = {
        "expired": key(dashboard.dashboard_link(SECRET, "http://x", NOW - timedelta(days=7))),
        "other secret": key(dashboard.dashboard_link("another", "http://x", NOW)),
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        # a customer's tracking link is no dashboard key, even for an order named so
        "tracking token": tokens.tracking_token("dashboard", SECRET, 30, now=NOW),
        "raw secret": tokens.tracking_token("dashboard", SECRET, 7, now=NOW),
        "garbage": "not-a-token",
    }[case]
    for path in ("/dashboard", "/dashboard/data.json"):
        status, _, _ = await get(client, f"{path}?k={bad}", REMOTE)
        assert status == 403, (case, path)


async def test_a_key_lasts_seven_days(client):
    k = key(dashboard.dashboard_link(SECRET, "http://x", NOW - timedelta(days=6, hours=23)))
    assert (await get(client, f"/dashboard?k={k}", REMOTE))[0] == 200


def test_links_from_settings_config_or_secret(settings):
    cfg = TrackingPageConfig(secret=SECRET)
    by_cfg = dashboard.dashboard_link(cfg, "http://h:8080", NOW)
    by_settings = dashboard.dashboard_link(replace(settings, secret=Secret(SECRET)),
                                           "http://h:8080", NOW)
    assert by_cfg == by_settings == dashboard.dashboard_link(SECRET, "http://h:8080/", NOW)
    assert dashboard.key_ok(key(by_cfg), SECRET, NOW + timedelta(days=6))
    assert not dashboard.key_ok(key(by_cfg), SECRET, NOW + timedelta(days=7))
    # no secret at all: a plain link, which only opens on the server itself
    assert dashboard.dashboard_link(settings, "http://h:8080", NOW) == "http://h:8080/dashboard"


async def test_the_css_is_served_without_a_key(client):
    status, css, _ = await get(client, "/dashboard/static/dashboard.css", REMOTE)
    assert status == 200 and ".chart" in css


# ---- what it shows ------------------------------------------------------------------------

async def test_data_json_shape(seeded, settings, aiohttp_client):  # noqa: F811
    client = await aiohttp_client(make_app(settings))
    status, _, headers = await get(client, "/dashboard/data.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    async with client.get("/dashboard/data.json") as resp:
        data = await resp.json()
    assert set(data) == {"period", "generated_at", "summary", "daily", "deviation_histogram",
                         "carriers", "repeat_purchase"}
    p = data["period"]
    assert p["days"] == 30 and p["window_hours"] == 2.0
    assert ISO_CST.match(p["start"]) and ISO_CST.match(p["end"]) and ISO_CST.match(
        data["generated_at"])
    assert p["start"] == "2026-02-09T00:00:00+08:00" and p["end"] == "2026-03-10T12:00:00+08:00"
    s = data["summary"]
    assert (s["placed"], s["shipped"], s["delivered"]) == (6, 4, 3)  # drafts are not orders
    assert (s["early_pct"], s["within_window_pct"], s["late_pct"]) == (33.3, 33.3, 33.3)
    assert (s["mean_early_deviation_pct"], s["mean_late_deviation_pct"]) == (-40.91, 25.0)
    assert s["mean_signed_deviation_pct"] == pytest.approx(-3.91, abs=0.01)
    assert s["mean_deviation_pct"] == pytest.approx(23.36, abs=0.01)
    assert (s["within_window_pct"], s["on_time_pct"]) == (33.3, 66.7)
    assert s["ship_hours"] == {"mean": 7.0, "median": 6.0, "p90": 10.2, "orders": 4}
    assert (s["logistics_questions"], s["held_now"], s["late_now"]) == (3, 1, 2)
    assert len(data["daily"]) == 30
    last = data["daily"][-1]
    assert last["date"] == "2026-03-10"
    assert last["questions"] == {"logistics": 0, "order": 1}
    assert last["ship_hours"] == {"median": 12.0, "p90": 12.0, "orders": 1}
    assert sum(b["count"] for b in data["deviation_histogram"]) == 3
    assert [b for b in data["deviation_histogram"] if b["in_window"]] == [
        {"from_hours": -2.0, "to_hours": 0.0, "count": 0, "in_window": True},
        {"from_hours": 0.0, "to_hours": 2.0, "count": 1, "in_window": True}]
    assert data["deviation_histogram"][0]["from_hours"] is None
    names = {c["code"]: c["name"] for c in data["carriers"]}
    assert names == {"zto": "中通快递", "sf": "顺丰速运"}
    assert data["repeat_purchase"][-1] == {
        "month": "2026-03", "customers": 2, "returning": 2, "rate_pct": 100.0,
        "previous_customers": 1, "retained": 1, "retention_pct": 100.0, "partial": True}

    async with client.get("/dashboard/data.json?days=7") as resp:
        assert (await resp.json())["period"]["days"] == 7
    status, body, _ = await get(client, "/dashboard/data.json?days=5")
    assert status == 422 and "days" in body


async def test_the_page_with_figures(seeded, settings, aiohttp_client):  # noqa: F811
    client = await aiohttp_client(make_app(settings))
    status, html, _ = await get(client, "/dashboard")
    assert status == 200
    for text in ("平均承诺偏差", "23.4%", "±2小时内送达", "33.3%", "6.0 小时", "P90 10.2 小时",
                 "挂起订单", "1 单", "超时未签收", "2 件", "中通", "顺丰", "月度复购率"):
        assert text in html, text
    for chart in ("chart-orders", "chart-questions", "chart-histogram", "chart-ship"):
        assert f'id="{chart}"' in html, chart
    assert 'id="empty"' not in html and "暂无数据" not in html
    assert 'class="bar s-bin in-window"' in html
    # early and late apart, signed
    assert re.search(r"提前送达偏差</div>\s*<div class=\"tile-value\">−40\.9%", html), html
    assert re.search(r"延迟送达偏差</div>\s*<div class=\"tile-value\">\+25\.0%", html)
    assert "带符号平均 −3.9%（负为提前）" in html
    assert "<title>提前6–12小时 包裹 1件</title>" in html
    # every tile and every table column says on hover what it counts
    tiles = re.findall(r'<div class="tile"( title="[^"]{20,}")?>', html)
    assert len(tiles) == 11 and all(tiles), tiles
    assert re.findall(r"<th>", html) == []
    assert "草稿不算订单" in html
    assert 'id="demo-notice"' not in html  # no demo history here
    # a bad period falls back to 30 days on the page
    status, html, _ = await get(client, "/dashboard?days=abc")
    assert status == 200 and "近30天" in html


async def test_the_empty_state(client):
    status, html, _ = await get(client, "/dashboard?days=7")
    assert status == 200
    assert 'id="empty"' in html and html.count("暂无数据") >= 6
    assert "<svg" not in html


async def test_in_the_whole_app(db, settings, aiohttp_client):
    from bot import app as app_module

    app = app_module.build(settings, manage_db=False)
    if not any(r.resource is not None and r.resource.canonical == "/dashboard"
               for r in app.router.routes()):
        app.add_routes(dashboard.routes)
    client = await aiohttp_client(app)
    status, html, _ = await get(client, "/dashboard")
    assert status == 200 and "履约看板" in html
    link = dashboard.dashboard_link(app[pages.TRACKING], "http://x")
    status, html, _ = await get(client, f"/dashboard?k={key(link)}",
                                {"X-Forwarded-For": "203.0.113.9"})
    assert status == 200 and "履约看板" in html
