"""Who counts as "this machine" for the loopback-only pages (console, dashboard without a
key): a request on the admin listener (never one the public listener took: a reverse proxy
there connects from 127.0.0.1, with Host 127.0.0.1 and maybe no forwarding headers), from a
loopback peer, not relaying someone else through a proxy, that asked for a loopback name. A
page on another site whose name was re-pointed at 127.0.0.1 (DNS rebinding) sends its own name
as Host and is refused."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from handlers.edge import on_public

FORWARDED = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def is_local(request: web.Request) -> bool:
    if on_public(request):
        return False
    if any(h in request.headers for h in FORWARDED):
        return False
    try:
        peer_ok = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False
    return peer_ok and loopback_host(request.host)


def loopback_host(host: str) -> bool:
    """`localhost`, `127.0.0.1`, `[::1]`, with or without a port."""
    name = host if host.endswith("]") else host.rsplit(":", 1)[0]
    name = name.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
