"""Dashboard bench: GET /dashboard/data.json over 90 days × 4,000 orders a day.

    python bench/dashboard.py [--engine sqlite|postgres|both] [--days 90] [--per-day 4000]
                              [--repeat 5] [--keep]

For each engine the script:
1. creates a fresh database (a SQLite file in a temp dir, or a database in a throw-away
   PostgreSQL cluster started with scripts/pg, as bench/intake.py does) with tortoise's
   schema, 490 customers and 5 warehouses, then bulk-inserts `--days` × `--per-day` orders
   (placed 08:00–20:00 China time, shipped 2–14 h later, promised 24–48 h after ordering,
   delivered around the promise; the last two days partly in flight, 0.5 % held, 10 % split
   into two shipments) and ~150 chat questions a day: executemany on SQLite, COPY on
   PostgreSQL;
2. serves the dashboard's routes on 127.0.0.1 (an aiohttp runner in this process) and times
   `GET /dashboard/data.json?days=N` for N = 30 and 90 (`--repeat` times each, after one
   untimed warm-up), and `GET /dashboard` (the HTML page with its charts) for 30 days;
3. meanwhile a ticker on the event loop records the longest stall: the figures are read in
   a worker thread on SQLite, so requests (orders being placed) keep being served.

It prints the machine, the seed time, per request p50 / max wall ms and the loop's longest
stall, the answer's size and headline figures, and the target: 30 days on SQLite < 1 s.
Exit status 1 when the target is missed. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from intake import PgCluster, machine_lines  # noqa: E402

HOST = "127.0.0.1"
TARGET_S = 1.0
CUSTOMERS = 490
CARRIERS = ("sf", "zto", "jd", "sandbox")
ORDER_COLS = ("id", "no", "customer_id", "status", "channel", "priority", "address_raw",
              "province", "city", "district", "adcode", "invoice_type", "tax_id", "bank",
              "account", "total", "gates", "promised_at", "created_at", "confirmed_at",
              "shipped_at", "delivered_at")
SHIP_COLS = ("id", "order_id", "seq", "warehouse_id", "carrier", "waybill_no", "status",
             "reserved", "promised_at", "shipped_at", "delivered_at", "lines")
QUESTION_COLS = ("kind", "user_id", "subject", "at")


# ---- the data set ----------------------------------------------------------------------------

def generate(days: int, per_day: int, now: datetime, seed: int = 2026
             ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(orders, shipments, questions) rows with aware UTC datetimes (None where not yet)."""
    rnd = random.Random(seed)
    cst = timedelta(hours=8)
    today = (now + cst).replace(hour=0, minute=0, second=0, microsecond=0) - cst  # 00:00 CST
    orders, ships, questions = [], [], []
    oid = sid = 0
    for day in range(days):
        start = today - timedelta(days=days - 1 - day)
        for _ in range(per_day):
            created = start + timedelta(hours=8 + rnd.random() * 12)
            if created >= now:
                continue
            oid += 1
            shipped = created + timedelta(hours=2 + rnd.random() * 12)
            promised = created + timedelta(hours=rnd.choice((24, 30, 36, 48)))
            delivered = promised + timedelta(hours=rnd.gauss(0, 2.5))
            shipped = shipped if shipped < now else None
            delivered = delivered if shipped and delivered < now else None
            status = ("delivered" if delivered else "in_transit" if shipped else "allocated")
            if rnd.random() < 0.005 and not shipped:
                status = "on_hold"
            orders.append((oid, f"LYB{oid:09d}", 1 + oid % CUSTOMERS, status, "wecom", 0, "",
                           "浙江", "杭州", "西湖区", "330106", "普票", "", "", "",
                           Decimal("368.00"), "[]", promised, created,
                           created + timedelta(minutes=5), shipped, delivered))
            for seq in (1, 2) if oid % 10 == 0 else (1,):
                sid += 1
                ships.append((sid, oid, seq, 1 + sid % 5, CARRIERS[sid % 4],
                              f"SBX{sid:012d}" if shipped else None, status, False, promised,
                              shipped, delivered, "[]"))
        for j in range(100 + rnd.randrange(100)):
            at = start + timedelta(hours=8 + rnd.random() * 12)
            if at < now:
                questions.append(("logistics" if j % 4 else "order", f"u{j % 40}", "", at))
    return orders, ships, questions


async def create_schema(url: str) -> None:
    from storage import db
    from storage.models import Customer, Warehouse

    await db.init(url)
    await Customer.bulk_create([Customer(code=f"C{i:04d}", name=f"汽修厂{i}")
                                for i in range(1, CUSTOMERS + 1)])
    await Warehouse.bulk_create([Warehouse(code=f"W{i}", name=f"仓{i}") for i in range(1, 6)])
    await db.close()


def _text(v: Any) -> Any:
    # tortoise's SQLite text: UTC ISO with a space; money as text
    if isinstance(v, datetime):
        return v.isoformat(" ")
    return str(v) if isinstance(v, Decimal) else v


def seed_sqlite(path: str, rows: Sequence[Sequence[tuple[Any, ...]]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for table, cols, data in zip(("orders", "shipments", "chat_questions"),
                                     (ORDER_COLS, SHIP_COLS, QUESTION_COLS), rows, strict=True):
            marks = ", ".join("?" * len(cols))
            conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                             ([_text(v) for v in r] for r in data))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def seed_postgres(url: str, rows: Sequence[Sequence[tuple[Any, ...]]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("asyncpg://", "postgres://"))
    try:
        for table, cols, data in zip(("orders", "shipments", "chat_questions"),
                                     (ORDER_COLS, SHIP_COLS, QUESTION_COLS), rows, strict=True):
            await conn.copy_records_to_table(table, records=data, columns=list(cols))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# ---- timing ----------------------------------------------------------------------------------

class Ticker:
    """The longest gap between 5 ms ticks of the event loop: how long it was held."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.005)
            last = now

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.worst


async def timed(session: Any, url: str, repeat: int) -> tuple[list[float], float, bytes]:
    async with session.get(url) as resp:  # warm-up (imports, first plan on PostgreSQL)
        assert resp.status == 200, (resp.status, await resp.text())
        await resp.read()
    walls: list[float] = []
    ticker = Ticker()
    ticker.start()
    body = b""
    for _ in range(repeat):
        t0 = time.perf_counter()
        async with session.get(url) as resp:
            body = await resp.read()
            assert resp.status == 200, body[:300]
        walls.append(time.perf_counter() - t0)
    return walls, await ticker.stop(), body


async def measure(url: str, now: datetime, repeat: int) -> dict[str, Any]:
    import aiohttp
    from aiohttp import web

    from bot.trackview import TrackingPageConfig
    from handlers import dashboard, pages
    from storage import db

    await db.init(url, create=False)
    app = web.Application()
    app[pages.TRACKING] = TrackingPageConfig(secret="bench", clock=lambda: now)
    app.add_routes(dashboard.routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    base = f"http://{HOST}:{runner.addresses[0][1]}"
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for days in (30, 90):
                out[f"json{days}"] = await timed(
                    session, f"{base}/dashboard/data.json?days={days}", repeat)
            out["html30"] = await timed(session, f"{base}/dashboard?days=30", repeat)
    finally:
        await runner.cleanup()
        await db.close()
    return out


def line(name: str, walls: list[float], stall: float, body: bytes) -> str:
    return (f"  {name:<28} p50 {statistics.median(walls) * 1000:7.1f} ms   "
            f"max {max(walls) * 1000:7.1f} ms   loop stall max {stall * 1000:6.1f} ms   "
            f"{len(body) / 1024:6.1f} KiB")


def headline(body: bytes) -> list[str]:
    d = json.loads(body)
    s = d["summary"]
    return [
        f"  figures (30 d): placed {s['placed']:,}, shipped {s['shipped']:,}, delivered "
        f"{s['delivered']:,}; mean deviation {s['mean_deviation_pct']} %, within ±"
        f"{d['period']['window_hours']:g} h {s['within_window_pct']} %, on time "
        f"{s['on_time_pct']} %",
        f"                  order→ship median {s['ship_hours']['median']} h, p90 "
        f"{s['ship_hours']['p90']} h; questions {s['logistics_questions']:,}; held "
        f"{s['held_now']}, late {s['late_now']}; repeat rate this month "
        f"{d['repeat_purchase'][-1]['rate_pct']} %",
    ]


# ---- one engine ------------------------------------------------------------------------------

async def run_engine(engine: str, args: argparse.Namespace) -> bool:
    print(f"\n=== engine: {engine} ===")
    workdir = tempfile.mkdtemp(prefix=f"lvyue-bench-dash-{engine}-")
    pg = PgCluster() if engine == "postgres" else None
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        if pg is not None:
            pg.start()
            url = await pg.create_database("bench_dashboard")
        else:
            url = f"sqlite://{workdir}/bench.db"
        await create_schema(url)
        t0 = time.perf_counter()
        rows = generate(args.days, args.per_day, now)
        t1 = time.perf_counter()
        if pg is not None:
            await seed_postgres(url, rows)
        else:
            await asyncio.to_thread(seed_sqlite, f"{workdir}/bench.db", rows)
        t2 = time.perf_counter()
        print(f"  seeded {len(rows[0]):,} orders, {len(rows[1]):,} shipments, "
              f"{len(rows[2]):,} questions over {args.days} days: generate {t1 - t0:.1f} s, "
              f"insert {t2 - t1:.1f} s")
        out = await measure(url, now, args.repeat)
        for key, name in (("json30", "data.json?days=30"), ("json90", "data.json?days=90"),
                          ("html30", "dashboard?days=30 (HTML)")):
            print(line(name, *out[key]))
        print("\n".join(headline(out["json30"][2])))
        p50 = statistics.median(out["json30"][0])
        ok = engine != "sqlite" or p50 < TARGET_S
        if engine == "sqlite":
            print(f"  target: data.json?days=30 < {TARGET_S:.0f} s on SQLite: "
                  f"{'MET' if ok else 'NOT MET'} ({p50 * 1000:.0f} ms)")
        return ok
    finally:
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.dir, ignore_errors=True)
        if args.keep:
            print(f"  kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--per-day", type=int, default=4000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    print("\n".join(machine_lines()))
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    ok = True
    for engine in engines:
        ok = asyncio.run(run_engine(engine, args)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
