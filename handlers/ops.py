"""Operator endpoints: /healthz and /metrics (Prometheus text)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from storage import db

routes = web.RouteTableDef()


class Metrics:
    """Per-application registry (no module globals, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lvyue_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("lvyue_http_request_seconds", "HTTP request latency",
                                 ["route"], registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5))


METRICS = web.AppKey("metrics", Metrics)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        m = request.app[METRICS]
        m.requests.labels(request.method, name, str(status)).inc()
        m.latency.labels(name).observe(time.perf_counter() - started)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        dialect = await db.ping()
    except Exception as exc:  # any database failure means unhealthy
        return web.json_response({"status": "error", "db": str(exc)[:200]}, status=503)
    return web.json_response({"status": "ok", "db": dialect})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
