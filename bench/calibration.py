"""Transit calibration bench: recalibrate over 60 days of history, then promise accuracy.

    python bench/calibration.py [--engine sqlite|postgres|both] [--days 60] [--per-day 4000]
                                [--held-out 20000] [--repeat 3] [--keep]

For each engine the script:
1. creates a fresh database (a SQLite file in a temp dir, or a database in a throw-away
   PostgreSQL cluster, as bench/dashboard.py does) with 5 warehouses in 杭州, 上海, 南京,
   广州 and 成都, and bulk-inserts `--days` × `--per-day` delivered orders, one shipment
   each (bench/dashboard.py's seeders: executemany on SQLite, COPY on PostgreSQL). Each
   goes from a random warehouse to one of 34 cities by sf, zto or jd (jd only where its
   coverage allows). The true transit time of a lane is the configured hours × a factor per
   carrier, warehouse and province (0.6–1.4) × one per city (0.9–1.15), each parcel
   log-normal around it (σ 0.12), 3 % a day late, 0.2 % garbage (negative, or 40 days).
   Parcels leave at the warehouse's departure (bot/domain/eta.py) plus 0–1 h; one that
   arrives at night is delivered 09:00–11:00. A few small cities see < 20 deliveries per
   lane, so they fall back to their province's figure.
2. runs `bot.calibration.recalibrate` `--repeat` times (wall time p50 and max, and the
   longest stall of the event loop meanwhile);
3. draws `--held-out` deliveries from the same truth for the week after (not stored) and
   promises each one three ways: with the configured hours (before), with the learnt table
   at the configured percentile (after, what the bot now does), and at the 50th percentile
   for comparison. It prints the share delivered within ± delivery_window_hours of the
   promise, the mean |actual − promised| in hours, and the share delivered no later than
   the promise + the window.

Exit status 1 when the learnt promises are not more accurate than the configured ones or a
recalibration takes longer than 5 s on SQLite. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from dashboard import Ticker, seed_postgres, seed_sqlite  # noqa: E402
from intake import PgCluster, machine_lines  # noqa: E402

from bot import config  # noqa: E402
from bot.domain import eta, vocab  # noqa: E402
from bot.domain.allocation import Destination, WarehouseInfo  # noqa: E402
from bot.domain.coverage import TransitTable, covers, transit_hours  # noqa: E402

TARGET_S = 5.0
CUSTOMERS = 50
WAREHOUSES = (  # code, city, province, cutoff
    ("HZ01", "杭州", "浙江", "16:00"), ("SH01", "上海", "上海", "17:00"),
    ("NJ01", "南京", "江苏", "16:30"), ("GZ01", "广州", "广东", "16:00"),
    ("CD01", "成都", "四川", "16:00"))
CITIES = (  # province, city, weight (small ones: few deliveries per lane)
    ("浙江", "杭州", 6), ("浙江", "宁波", 4), ("浙江", "温州", 3), ("浙江", "绍兴", 2),
    ("浙江", "丽水", 0.05), ("江苏", "南京", 4), ("江苏", "苏州", 5), ("江苏", "无锡", 3),
    ("江苏", "宿迁", 0.05), ("上海", "上海", 8), ("安徽", "合肥", 3), ("安徽", "芜湖", 1),
    ("广东", "广州", 6), ("广东", "深圳", 6), ("广东", "佛山", 3), ("广东", "东莞", 3),
    ("广东", "汕尾", 0.05), ("四川", "成都", 5), ("重庆", "重庆", 4), ("湖北", "武汉", 4),
    ("湖南", "长沙", 3), ("河南", "郑州", 3), ("北京", "北京", 6), ("天津", "天津", 2),
    ("山东", "济南", 2), ("山东", "青岛", 3), ("福建", "福州", 2), ("福建", "厦门", 2),
    ("陕西", "西安", 3), ("河北", "石家庄", 2), ("江西", "南昌", 2), ("云南", "昆明", 1),
    ("新疆", "乌鲁木齐", 0.3), ("黑龙江", "哈尔滨", 1))
MUNICIPALITIES = {"上海", "北京", "天津", "重庆"}
AUTONOMOUS = {"新疆": "新疆维吾尔自治区"}
ORDER_STATUS = "delivered"


@dataclass(frozen=True)
class Parcel:
    carrier: str
    warehouse: str
    province: str
    city: str
    confirmed: datetime
    shipped: datetime
    delivered: datetime


class Truth:
    """The lanes' real transit times, unknown to the bot."""

    def __init__(self, settings: config.Settings, seed: int = 7) -> None:
        rnd = random.Random(seed)
        self.settings = settings
        self.warehouses = {
            code: WarehouseInfo(code, code, "physical", prov, city, None, None,
                                config.parse_hhmm(cut))
            for code, city, prov, cut in WAREHOUSES}
        self.factor: dict[tuple[str, ...], float] = {}
        for carrier in settings.carriers:
            for wh in self.warehouses:
                for prov in dict.fromkeys(c[0] for c in CITIES):  # a set's order varies
                    self.factor[(carrier, wh, prov)] = rnd.uniform(0.6, 1.4)
        self.city_factor = {city: rnd.uniform(0.9, 1.15) for _, city, _ in CITIES}
        self.carriers = {(prov, city): [c for c, cc in settings.carriers.items()
                                        if covers(cc, Destination(prov, city), settings.regions)]
                         for prov, city, _ in CITIES}

    def mean(self, carrier: str, wh: str, prov: str, city: str) -> float:
        configured = transit_hours(self.settings.carriers[carrier], self.warehouses[wh],
                                   Destination(prov, city), self.settings.regions)
        return configured * self.factor[(carrier, wh, prov)] * self.city_factor[city]

    def parcels(self, start: datetime, days: int, per_day: int, seed: int) -> list[Parcel]:
        rnd = random.Random(seed)
        weights = [w for _, _, w in CITIES]
        codes = list(self.warehouses)
        cfg = self.settings.promise
        means: dict[tuple[str, str, str, str], float] = {}
        out = []
        for day in range(days):
            base = start + timedelta(days=day)
            for (prov, city, _), wh in zip(rnd.choices(CITIES, weights, k=per_day),
                                           rnd.choices(codes, k=per_day), strict=True):
                carrier = rnd.choice(self.carriers[(prov, city)])
                key = (carrier, wh, prov, city)
                mean = means.get(key) or means.setdefault(key, self.mean(*key))
                confirmed = base + timedelta(hours=8 + rnd.random() * 12)
                shipped = eta.departure(confirmed, self.warehouses[wh].cutoff, cfg) + timedelta(
                    hours=rnd.random())
                hours = mean * rnd.lognormvariate(0, 0.12) + (24 if rnd.random() < 0.03 else 0)
                if rnd.random() < 0.002:
                    hours = rnd.choice((-5.0, 40 * 24.0))
                out.append(Parcel(carrier, wh, prov, city, confirmed, shipped,
                                  _daytime(shipped + timedelta(hours=hours), rnd)))
        return out


def _daytime(at: datetime, rnd: random.Random) -> datetime:
    """Couriers deliver 09:00–20:00 China time; a night arrival goes out the next morning."""
    local = at.astimezone(vocab.CST)
    if local.time() > eta.LAST_DELIVERY:
        local = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    elif local.time() < eta.FIRST_DELIVERY:
        local = local.replace(hour=9, minute=0, second=0)
    else:
        return at
    return (local + timedelta(minutes=rnd.random() * 120)).astimezone(UTC)


# ---- the database ----------------------------------------------------------------------------

def rows(parcels: Sequence[Parcel], now: datetime) -> tuple[list[Any], list[Any], list[Any]]:
    """Order and shipment rows as bench/dashboard.py's seeders take them."""
    orders, ships = [], []
    wh_ids = {code: i for i, (code, *_) in enumerate(WAREHOUSES, start=1)}
    for i, p in enumerate(parcels, start=1):
        delivered = p.delivered if p.delivered <= now else None
        status = ORDER_STATUS if delivered else "in_transit"
        promised = p.confirmed + timedelta(hours=36)
        province = AUTONOMOUS.get(p.province) or (
            p.province + ("市" if p.province in MUNICIPALITIES else "省"))
        orders.append((i, f"LYC{i:09d}", 1 + i % CUSTOMERS, status, "wecom", 0, "", province,
                       p.city + "市", "", "", "普票", "", "", "", Decimal("100.00"), "[]",
                       promised, p.confirmed, p.confirmed, p.shipped, delivered))
        ships.append((i, i, 1, wh_ids[p.warehouse], p.carrier, f"CAL{i:012d}", status, False,
                      promised, p.shipped, delivered, "[]"))
    return orders, ships, []


async def create_schema(url: str) -> None:
    from storage import db
    from storage.models import Customer, Warehouse

    await db.init(url)
    await Customer.bulk_create([Customer(code=f"C{i:04d}", name=f"汽修厂{i}")
                                for i in range(1, CUSTOMERS + 1)])
    await Warehouse.bulk_create([Warehouse(code=code, name=code, city=city, province=prov,
                                           cutoff=cut) for code, city, prov, cut in WAREHOUSES])
    await db.close()


# ---- measuring -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Accuracy:
    within: float  # share within ± window
    mean_abs: float  # hours
    on_time: float  # share no later than promise + window


def accuracy(parcels: Sequence[Parcel], truth: Truth, table: TransitTable | None) -> Accuracy:
    s = truth.settings
    window = s.promise.delivery_window_hours
    hours: dict[tuple[str, str, str, str], float] = {}
    within = on_time = 0
    total = 0.0
    for p in parcels:
        key = (p.carrier, p.warehouse, p.province, p.city)
        h = hours.get(key)
        if h is None:
            h = hours[key] = transit_hours(s.carriers[p.carrier], truth.warehouses[p.warehouse],
                                           Destination(p.province, p.city), s.regions, table)
        promised = eta.promise(p.confirmed, truth.warehouses[p.warehouse].cutoff, h, s.promise)
        off = (p.delivered - promised).total_seconds() / 3600
        within += abs(off) <= window
        on_time += off <= window
        total += abs(off)
    n = len(parcels)
    return Accuracy(within / n, total / n, on_time / n)


def table_of(report: Any, settings: config.Settings) -> TransitTable:
    return TransitTable({(x.carrier, x.warehouse, x.province, x.city): float(x.hours)
                         for x in report.lanes}, settings.promise.calibration.max_change)


async def measure(url: str, settings: config.Settings, now: datetime, repeat: int
                  ) -> tuple[list[float], float, Any, Any]:
    from bot.calibration import recalibrate
    from bot.catalog import Catalog
    from storage import db

    await db.init(url, create=False)
    try:
        await recalibrate(settings, now, dry_run=True)  # warm-up: imports, first plan
        walls: list[float] = []
        ticker = Ticker()
        ticker.start()
        report = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = await recalibrate(settings, now)
            walls.append(time.perf_counter() - t0)
        stall = await ticker.stop()
        stored = await Catalog(settings).load_transit()  # what every OrderService will use
        assert report is not None
        if stored != table_of(report, settings):
            raise RuntimeError("the stored table differs from the report")
        cal = settings.promise.calibration
        median = replace(settings, promise=replace(settings.promise, calibration=replace(
            cal, percentile=50.0)))
        p50 = await recalibrate(median, now, dry_run=True)
        return walls, stall, report, p50
    finally:
        await db.close()


def print_report(report: Any, walls: list[float], stall: float) -> None:
    lanes = report.lanes
    cities = sum(1 for x in lanes if x.city)
    limit = 0.5 - 1e-9
    up = sum(1 for x in lanes if x.hours - x.configured >= x.configured * limit)
    down = sum(1 for x in lanes if x.configured - x.hours >= x.configured * limit)
    print(f"  recalibrate: {report.read:,} delivered shipments read, {report.used:,} used, "
          f"{report.ignored:,} ignored (transit ≤ 0 or > 30 days)")
    print(f"               {len(lanes)} lanes learnt ({cities} to a city, "
          f"{len(lanes) - cities} to a province); held at the limit: {up} at +50 %, "
          f"{down} at −50 %")
    print(f"               wall p50 {statistics.median(walls):.2f} s, max {max(walls):.2f} s "
          f"over {len(walls)} runs; longest event-loop stall {stall * 1000:.0f} ms")


def print_accuracy(rows: Sequence[tuple[str, Accuracy]], window: float, n: int) -> None:
    print(f"  promise accuracy on {n:,} held-out deliveries (the week after):")
    print(f"    {'promises from':<34} {f'within ±{window:g} h':>12} {'mean |Δ| h':>11} "
          f"{f'by promise+{window:g} h':>16}")
    for name, a in rows:
        print(f"    {name:<34} {a.within * 100:11.1f}% {a.mean_abs:11.2f} "
              f"{a.on_time * 100:15.1f}%")


# ---- one engine ------------------------------------------------------------------------------

async def run_engine(engine: str, args: argparse.Namespace) -> bool:
    print(f"\n=== engine: {engine} ===")
    settings = config.defaults()
    workdir = tempfile.mkdtemp(prefix=f"lvyue-bench-cal-{engine}-")
    pg = PgCluster() if engine == "postgres" else None
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        if pg is not None:
            pg.start()
            url = await pg.create_database("bench_calibration")
        else:
            url = f"sqlite://{workdir}/bench.db"
        await create_schema(url)
        truth = Truth(settings)
        cst_midnight = (now + timedelta(hours=8)).replace(hour=0, minute=0, second=0) - timedelta(
            hours=8)
        t0 = time.perf_counter()
        history = truth.parcels(cst_midnight - timedelta(days=args.days), args.days,
                                args.per_day, seed=1)
        data = rows(history, now)
        t1 = time.perf_counter()
        if pg is not None:
            await seed_postgres(url, data)
        else:
            await asyncio.to_thread(seed_sqlite, f"{workdir}/bench.db", data)
        t2 = time.perf_counter()
        print(f"  seeded {len(data[1]):,} shipments over {args.days} days: generate "
              f"{t1 - t0:.1f} s, insert {t2 - t1:.1f} s")
        walls, stall, report, p50 = await measure(url, settings, now, args.repeat)
        print_report(report, walls, stall)
        days = math.ceil(args.held_out / args.per_day)
        held = truth.parcels(cst_midnight + timedelta(days=1), days, args.held_out // days,
                             seed=2)
        held = [p for p in held if 0 < (p.delivered - p.shipped).total_seconds() < 30 * 86400]
        pct = settings.promise.calibration.percentile
        results = [("configured hours (before)", accuracy(held, truth, None)),
                   (f"learnt, p{pct:g} (after, the default)",
                    accuracy(held, truth, table_of(report, settings))),
                   ("learnt, p50 (for comparison)",
                    accuracy(held, truth, table_of(p50, settings)))]
        print_accuracy(results, settings.promise.delivery_window_hours, len(held))
        better = results[1][1].mean_abs < results[0][1].mean_abs and (
            results[1][1].within > results[0][1].within)
        fast = engine != "sqlite" or statistics.median(walls) < TARGET_S
        print(f"  learnt promises more accurate than configured: {'yes' if better else 'NO'}; "
              f"recalibrate < {TARGET_S:g} s on SQLite: {'MET' if fast else 'NOT MET'}")
        return better and fast
    finally:
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.dir, ignore_errors=True)
        if args.keep:
            print(f"  kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    p.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--per-day", type=int, default=4000)
    p.add_argument("--held-out", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=3)
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
