"""The network edge: which listener took a request, the Host allowlist, what the public
listener serves, and the per-address rate limits there.

With `[server] public_port` the server listens twice on one application: the admin listener
(`--host/--port`, default 127.0.0.1:8080) serves everything; the public listener (the one a
reverse proxy forwards the internet to) serves only what must be public. Which listener took
a request is read from the socket (its local port), never from headers, so no Host or
X-Forwarded-* header makes the public listener serve /api, /console, /dashboard or /metrics,
nor makes a request on it "local" (handlers/local.py).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.config import Settings
from bot.ratelimit import Limiter, retry_after
from bot.serving import host_allowlist
from handlers.problems import problem

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What the public listener serves: WeCom callbacks, carrier pushes, the tracking page and its
# assets, the dashboard (its handler admits only a signed link there) and the health check.
PUBLIC = re.compile(r"^/(?:healthz|wecom/[^/]+|carriers/[^/]+/push|t/[^/]+|t-static/[^/]+"
                    r"|dashboard|dashboard/data\.json|dashboard/static/[^/]+)$")
PUSHES = re.compile(r"^/carriers/")


@dataclass
class Edge:
    """Per application: the public listener's ports, allowed Host names, per-address limits."""

    hosts: frozenset[str]
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    pages: Limiter
    pushes: Limiter
    public_ports: set[int] = field(default_factory=set)

    @classmethod
    def from_settings(cls, settings: Settings) -> Edge:
        return cls(hosts=host_allowlist(settings.serving, settings.public_url, settings.host),
                   trusted=tuple(ipaddress.ip_network(p, strict=False)
                                 for p in settings.serving.trusted_proxies),
                   pages=Limiter(settings.limits.pages_per_address),
                   pushes=Limiter(settings.limits.pushes_per_address))


EDGE = web.AppKey("edge", Edge)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: any free port); hand it to web.run_app(sock=…)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def mark_public(app: web.Application, sock: socket.socket) -> int:
    """Requests arriving on this socket are public; returns its port."""
    port = int(sock.getsockname()[1])
    app[EDGE].public_ports.add(port)
    return port


def on_public(request: web.Request) -> bool:
    """Did the public listener take this request? (Decided by the socket, not by headers.)"""
    app = getattr(request, "app", None)  # a bare request-like object has no app: not public
    edge = app.get(EDGE) if app is not None else None
    if edge is None or not edge.public_ports:
        return False
    transport = request.transport
    name = transport.get_extra_info("sockname") if transport is not None else None
    if not name:
        return True  # cannot tell: treat it as the more restricted one
    return int(name[1]) in edge.public_ports


def host_name(host: str) -> str:
    """`Example.COM:8080` → `example.com`; `[::1]:8080` → `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def client_address(request: web.Request, edge: Edge) -> str:
    """The caller's address: the peer, or what a trusted proxy says in X-Forwarded-For (the
    rightmost address that is not itself a trusted proxy)."""
    peer = request.remote or ""
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    addr = peer
    for hop in [peer, *reversed([h for h in hops if h])]:
        addr = hop
        if not _trusted(hop, edge):
            break
    return addr


def _trusted(addr: str, edge: Edge) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in edge.trusted)


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    edge = request.app[EDGE]
    host = request.headers.get("Host")
    if not host or host_name(host) not in edge.hosts:
        log.info("refused Host %r from %s %s", host, request.remote, request.path)
        return problem(400, "主机名不被接受", [{
            "field": "Host", "code": "host_not_allowed",
            "message": "请求的主机名不在允许列表中（[server] allowed_hosts）"}])
    if on_public(request):
        if not PUBLIC.match(request.path):
            return problem(404, "未找到", [{"field": "path", "code": "not_found",
                                          "message": "没有这个地址"}])
        limiter = edge.pushes if PUSHES.match(request.path) else edge.pages
        if request.path != "/healthz" and not request.path.startswith("/wecom/") and (
                wait := limiter.take(client_address(request, edge))):
            return too_many(wait, "请求过于频繁，请稍后再试")
    return await handler(request)


def too_many(wait: float, message: str) -> web.Response:
    """429 problem+json with Retry-After (whole seconds)."""
    return problem(429, "请求过于频繁", [{"field": "rate", "code": "rate_limited",
                                       "message": message}],
                   headers={"Retry-After": retry_after(wait)})
