"""What authentication costs per /api request, in-process (no HTTP, no load generator):

    python bench/auth.py [--n 50000]

- hit: handlers/auth.py's middleware around a handler that does nothing, with the key in
  the cache (every request but one per key per 5 s): parse the header, SHA-256 of the key,
  the cache lookup, the key's token bucket, the role and content-type checks;
- miss: the same when the cache must ask the database (one indexed SELECT on a SQLite file,
  once per key per 5 s);
- each against the bare handler, so the figure is the middleware's own cost.

bench/intake.py measures the same end to end (server CPU per order, with and without keys).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


async def _time(n: int, call: Any) -> float:
    """Seconds per call (best of three rounds)."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, (time.perf_counter() - t) / n)
    return best


async def main(n: int) -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from bot.ratelimit import Limiter, Rate
    from handlers import auth
    from storage import api_keys, db

    with tempfile.TemporaryDirectory() as tmp:
        await db.init(f"sqlite://{tmp}/auth.db")
        try:
            key = (await api_keys.create("bench", "admin"))[1]
            app = web.Application()
            app[auth.KEYS] = auth.KeyCache(Limiter(Rate(1e9, 1e9)))
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

            @auth.roles("integration")
            async def handler(req: web.Request) -> web.StreamResponse:
                return web.Response()

            app.router.add_post("/api/orders", handler)
            request = make_mocked_request("POST", "/api/orders", headers=headers, app=app)
            match = await app.router.resolve(request)  # a real route match
            match.add_app(app)
            request._match_info = match

            bare = await _time(n, lambda: handler(request))
            hit = await _time(n, lambda: auth.api_auth_middleware(request, handler))
            app[auth.KEYS].ttl = -1.0  # every request asks the database
            app[auth.KEYS]._seen.clear()
            miss = await _time(max(1, n // 10),
                               lambda: auth.api_auth_middleware(request, handler))
        finally:
            await db.close()
    print(f"auth middleware per request (n={n}, best of 3, {sys.version.split()[0]}):")
    print(f"  key in cache:       {(hit - bare) * 1e6:7.1f} µs")
    print(f"  key looked up (db): {(miss - bare) * 1e6:7.1f} µs  (SQLite; once per key per "
          f"{auth.CACHE_SECONDS:g} s)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50_000)
    asyncio.run(main(p.parse_args().n))
