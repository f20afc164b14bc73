"""Customer web pages: the tracking page `GET /t/{token}` and its local assets.

The token is checked first (HMAC, expiry, constant-time compare); a bad, tampered or expired
token and a genuine token for an order that is gone all get the same friendly 404 page, so
the answer tells nothing about which case it was. Pages are jinja2 templates from
messages/templates/pages (autoescaped); CSS and JS come from messages/web under /t-static/,
never from a CDN. Without AMAP_KEY the page makes no request beyond this server (enforced by
its Content-Security-Policy); with it, the Amap JS API draws the route.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from bot import trackview
from bot.trackview import TrackingPageConfig

ROOT = Path(__file__).resolve().parents[1] / "messages"
WEB = ROOT / "web"
TEMPLATES = ROOT / "templates"
ASSETS = ("tracking.css", "tracking.js", "map.js")
AMAP_JS = "https://webapi.amap.com/maps"

TRACKING = web.AppKey("tracking", TrackingPageConfig)
routes = web.RouteTableDef()

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True,
                          lstrip_blocks=True)

# No external origin at all unless the live map is on.
CSP_OFFLINE = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
COMMON_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the path: other origins (Amap) get at most our origin as referrer.
    "Referrer-Policy": "strict-origin",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


@cache
def asset_version(name: str) -> str:
    """A short content hash, so asset URLs change whenever the file does."""
    return hashlib.sha256((WEB / name).read_bytes()).hexdigest()[:10]


def _asset(name: str) -> str:
    return f"/t-static/{name}?v={asset_version(name)}"


_env.globals["asset"] = _asset


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def _headers(cfg: TrackingPageConfig) -> dict[str, str]:
    headers = dict(COMMON_HEADERS)
    if not cfg.amap_key:
        headers["Content-Security-Policy"] = CSP_OFFLINE
    return headers


def not_found(cfg: TrackingPageConfig) -> web.Response:
    """One page for every kind of bad link: it says nothing about why."""
    return web.Response(status=404, text=render("pages/not_found.html.j2"),
                        content_type="text/html", charset="utf-8", headers=_headers(cfg))


@routes.get("/t/{token}")
async def tracking_page(request: web.Request) -> web.Response:
    cfg = request.app[TRACKING]
    now = cfg.clock()
    order_no = cfg.verify(request.match_info["token"], now)
    view = await trackview.load(order_no, cfg, now) if order_no else None
    if view is None:
        return not_found(cfg)
    amap_src = f"{AMAP_JS}?{urlencode({'v': '2.0', 'key': cfg.amap_key})}" if cfg.amap_key else ""
    html = render("pages/tracking.html.j2", view=view, amap_src=amap_src)
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers=_headers(cfg))


@routes.get("/t-static/{name}")
async def static(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(WEB / name, headers={
        "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})
