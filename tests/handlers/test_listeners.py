"""Two listeners on one application (handlers/edge.py): the public one serves only /wecom/*,
carrier pushes, /t/*, the signed dashboard and /healthz, whatever Host or forwarding headers
say; the admin one serves everything. The Host allowlist holds on both; per-address limits on
the public one. Real sockets on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot import config
from bot.app import build
from bot.ordering import LineInput, PlaceOrder
from bot.ratelimit import Rate, RateLimits
from handlers import dashboard, edge, pages
from handlers.keys import SERVICE
from tests.conftest import bearer, issue_key

# Headers a reverse proxy (or an attacker) may send; none of them opens anything.
DISGUISES: list[dict[str, str]] = [
    {}, {"Host": "127.0.0.1"}, {"Host": "localhost:8080"},
    {"X-Forwarded-For": "127.0.0.1"}, {"X-Real-IP": "127.0.0.1"},
    {"Forwarded": "for=127.0.0.1;host=localhost"}, {"X-Forwarded-Host": "localhost"},
]
ADMIN_ONLY = ["/api/orders/LY261204000001", "/api/stock/FLT00001", "/console",
              "/console/api/staff", "/console/static/console.js", "/metrics", "/api",
              "/nothing-here", "/dashboard", "/dashboard/data.json"]


@dataclass
class Served:
    app: web.Application
    admin: str
    public: str
    key: dict[str, str]

    async def get(self, base: str, path: str, headers: dict[str, str] | None = None,
                  method: str = "GET") -> tuple[int, str, dict[str, str]]:
        async with aiohttp.ClientSession() as s, s.request(
                method, base + path, headers=headers or {}) as r:
            return r.status, await r.text(), dict(r.headers)


async def serve(settings: config.Settings) -> AsyncIterator[Served]:
    admin_sock, public_sock = edge.bind("127.0.0.1", 0), edge.bind("127.0.0.1", 0)
    ports = admin_sock.getsockname()[1], public_sock.getsockname()[1]
    settings = config.for_serving(settings, "127.0.0.1", ports[0], ports[1])
    app = build(settings, manage_db=False)
    edge.mark_public(app, public_sock)
    runner = web.AppRunner(app)
    await runner.setup()
    for sock in (admin_sock, public_sock):
        await web.SockSite(runner, sock).start()
    key = bearer(await issue_key("lina", "manager"))
    try:
        yield Served(app, f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", key)
    finally:
        await runner.cleanup()


@pytest.fixture
async def served(world: Any, settings: config.Settings) -> AsyncIterator[Served]:
    async for s in serve(settings):
        yield s


async def test_the_public_listener_serves_nothing_else_whatever_the_headers(served):
    for path in ADMIN_ONLY:
        assert (await served.get(served.admin, path, served.key))[0] in (200, 404), path
        for disguise in DISGUISES:
            for method in ("GET", "POST"):
                status, body, _ = await served.get(
                    served.public, path, {**served.key, **disguise}, method)
                # 404 for what is not public; the dashboard answers 403 without a signed link.
                assert status in (403, 404, 405), (path, disguise, status)
                assert "lvyue_http_requests" not in body and "李娜" not in body


async def test_the_admin_listener_serves_everything_to_this_machine(served):
    assert (await served.get(served.admin, "/api/stock/FLT00001", served.key))[0] == 200
    assert (await served.get(served.admin, "/console"))[0] == 200
    assert (await served.get(served.admin, "/dashboard"))[0] == 200
    assert (await served.get(served.admin, "/metrics"))[0] == 200
    # and still not to a proxied request (a proxy in front of the admin listener)
    assert (await served.get(served.admin, "/console",
                             {"X-Forwarded-For": "203.0.113.9"}))[0] == 403


async def test_the_public_listener_serves_what_must_be_public(served):
    svc = served.app[SERVICE]
    out = await svc.place(PlaceOrder("C0001", [LineInput("OIL00001", 1)]))
    tracking = served.app[pages.TRACKING]
    link = tracking.url(out.order.no)
    assert link.startswith(served.public + "/t/")  # links follow the port actually served
    assert (await served.get(served.public, link[len(served.public):]))[0] == 200
    assert (await served.get(served.public, "/t/not-a-token"))[0] == 404
    assert (await served.get(served.public, "/t-static/tracking.css"))[0] == 200
    assert (await served.get(served.public, "/healthz"))[0] == 200
    signed = dashboard.dashboard_link(tracking, served.public)
    assert (await served.get(served.public, signed[len(served.public):]))[0] == 200
    data = signed.replace("/dashboard?", "/dashboard/data.json?")
    assert (await served.get(served.public, data[len(served.public):]))[0] == 200
    # the carrier push route is public (an unknown carrier is its own 404 problem)
    status, body, _ = await served.get(served.public, "/carriers/nope/push", method="POST")
    assert status == 404 and "unknown_carrier" in body


@pytest.mark.parametrize("where", ["admin", "public"])
async def test_a_host_outside_the_allowlist_is_refused_on_both_listeners(served, where):
    base = getattr(served, where)
    for path in ("/healthz", "/api/stock/FLT00001", "/metrics", "/t/x"):
        for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "[::2]"):
            status, body, headers = await served.get(base, path, {**served.key, "Host": host})
            assert status == 400, (path, host, status)
            assert headers["Content-Type"].startswith("application/problem+json")
            assert "host_not_allowed" in body


async def test_allowed_hosts_and_the_public_urls_host_are_accepted(world, settings):
    cfg = replace(settings, public_url="https://track.example.cn", public_url_explicit=True,
                  serving=replace(settings.serving, allowed_hosts=("orders.example.com",)))
    async for s in serve(cfg):
        for host in ("track.example.cn", "TRACK.example.cn:443", "orders.example.com",
                     "localhost", "[::1]:8080", "127.0.0.1"):
            assert (await s.get(s.admin, "/healthz", {"Host": host}))[0] == 200, host
        assert (await s.get(s.admin, "/healthz", {"Host": "example.com"}))[0] == 400
        # with a public URL configured, links use it, not the listener
        assert s.app[pages.TRACKING].url("LY1").startswith("https://track.example.cn/t/")


async def test_per_address_limits_on_the_public_listener(world, settings):
    cfg = replace(settings, limits=RateLimits(pages_per_address=Rate(0.1, 3),
                                              pushes_per_address=Rate(0.1, 2)))
    async for s in serve(cfg):
        statuses = [(await s.get(s.public, "/t/x"))[0] for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        status, body, headers = await s.get(s.public, "/t/x")
        assert status == 429 and "rate_limited" in body
        assert 1 <= int(headers["Retry-After"]) <= 10
        assert headers["Content-Type"].startswith("application/problem+json")
        # another client behind the same (trusted, loopback) proxy has its own allowance
        assert (await s.get(s.public, "/t/x", {"X-Forwarded-For": "198.51.100.7"}))[0] == 404
        # pushes are counted apart from pages, and /healthz and the admin listener not at all
        pushes = [(await s.get(s.public, "/carriers/nope/push", method="POST"))[0]
                  for _ in range(3)]
        assert pushes == [404, 404, 429]
        assert (await s.get(s.public, "/healthz"))[0] == 200
        assert [(await s.get(s.admin, "/t/x"))[0] for _ in range(5)] == [404] * 5


def test_client_address_believes_only_trusted_proxies():
    cfg = edge.Edge.from_settings(config.defaults())

    def addr(peer: str, xff: str | None) -> str:
        req: Any = type("R", (), {"remote": peer,
                                  "headers": {"X-Forwarded-For": xff} if xff else {}})()
        return edge.client_address(req, cfg)

    assert addr("203.0.113.5", "1.2.3.4") == "203.0.113.5"  # not a proxy: its own address
    assert addr("127.0.0.1", "1.2.3.4") == "1.2.3.4"
    assert addr("127.0.0.1", "9.9.9.9, 1.2.3.4") == "1.2.3.4"  # the proxy's own view wins
    assert addr("127.0.0.1", None) == "127.0.0.1"
    assert addr("127.0.0.1", "garbage") == "garbage"


def test_host_names_are_compared_without_port_case_or_root_dot():
    assert edge.host_name("Example.COM:8080") == "example.com"
    assert edge.host_name("[::1]:8080") == "::1"
    assert edge.host_name("localhost.") == "localhost"
    assert edge.host_name("::1") == "::1"


def test_links_follow_the_port_served(settings):
    assert config.for_serving(settings, "127.0.0.1", 9000, None).public_url == (
        "http://127.0.0.1:9000")
    assert config.for_serving(settings, "0.0.0.0", 9000, 9443).public_url == (
        "http://127.0.0.1:9443")
    fixed = replace(settings, public_url="https://x.cn", public_url_explicit=True)
    assert config.for_serving(fixed, "127.0.0.1", 9000, 9443).public_url == "https://x.cn"
    loaded = config.from_mapping({"server": {"port": 8181}})
    assert loaded.public_url == "http://127.0.0.1:8181" and not loaded.public_url_explicit
