"""Operator endpoints: /healthz and /metrics (Prometheus text)."""

from __future__ import annotations

import asyncio
import logging
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

from storage import db, sqlite_inline

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
CLIENT_GONE = 499  # nginx's code for "the client closed the connection"


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
    except ConnectionResetError:
        # The client went away mid-request (e.g. mid-body): nothing to answer, nothing wrong.
        status = _client_gone(request)
        return web.Response(status=CLIENT_GONE)
    except asyncio.CancelledError:
        # The same, where the server cancels the handler of a lost connection.
        status = _client_gone(request)
        raise
    finally:
        m = request.app[METRICS]
        m.requests.labels(request.method, name, str(status)).inc()
        m.latency.labels(name).observe(time.perf_counter() - started)


# Callables the parts of the app register to say why they are degraded (None when fine).
DEGRADED = web.AppKey("degraded_checks", list)
PING_WAIT = 0.5  # seconds; /healthz answers within 1 s whatever the database does
LOCK_WAIT = 0.25  # SQLite: the write lock held longer than this by someone else → degraded
STALL = 1.0  # SQLite: a statement of ours waiting this long for the lock → degraded


def _client_gone(request: web.Request) -> int:
    log.info("client %s closed the connection during %s %s", request.remote, request.method,
             request.path)
    return CLIENT_GONE


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """`ok`; `degraded` (200) when the database is slow to answer, SQLite's write lock is
    held by another process, or callbacks wait in memory; `error` (503) when it is away."""
    reasons: list[str] = []
    try:
        blocked, dialect = await asyncio.gather(db.write_blocked(LOCK_WAIT), _ping())
    except Exception as exc:  # any database failure means unhealthy
        return web.json_response({"status": "error", "db": str(exc)[:200]}, status=503)
    if dialect is None:
        dialect = db.engine_name()
        reasons.append(f"数据库 {PING_WAIT:g} 秒内未应答")
    if blocked:
        reasons.append("SQLite 写锁被其他进程占用（导入或脚本），写入需等待")
    if (since := sqlite_inline.waiting_since()) is not None and \
            time.monotonic() - since > STALL:
        reasons.append(f"写入已等待数据库写锁 {time.monotonic() - since:.1f} 秒")
    reasons += [r for check in request.app.get(DEGRADED, []) if (r := check())]
    if reasons:
        return web.json_response({"status": "degraded", "db": dialect, "reasons": reasons})
    return web.json_response({"status": "ok", "db": dialect})


async def _ping() -> str | None:
    """The database's dialect, or None when it did not answer within PING_WAIT."""
    try:
        return await asyncio.wait_for(db.ping(), PING_WAIT)
    except TimeoutError:
        return None


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
