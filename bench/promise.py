"""Promise bench: courier waves simulated, promises learnt on weeks 1–N, scored on week N+1.

    python bench/promise.py [--engine sqlite|postgres|both] [--days 60] [--per-day 4000]
                            [--held-out 20000] [--seed 1]

The simulator (class Waves below; its parameters are hidden from the model, which sees only
confirmed/shipped/delivered stamps):
- 5 warehouses and 34 destination cities (bench/calibration.py's), sf / zto / jd (jd only
  where its coverage allows); orders confirmed at any time of day, every day;
- departure: each warehouse's truck leaves at its own clock time 30–120 min after the
  cut-off (not the config's pick/pack figure), on shipping days (Mon–Sat); 3 % of parcels
  miss the truck and leave on the next shipping day;
- arrival: per carrier × warehouse × city a day offset (1–3 by distance, ×lane factor) and
  a main delivery round at a clock time (09:00–17:00) with its own spread (σ 15–40 min);
  12 % of parcels go in the lane's other round; 4 % miss their round (next round: morning
  → afternoon, afternoon → next morning); zto has no Sunday round (Sunday → Monday);
- a lane shift: from day 40 on, a third of the lanes' rounds move by 20–60 minutes.

Promises for the held-out week (confirmed at uniformly random moments, every day) three ways:
- before: departure + the lane's p80 transit hours learnt from the same history (what the bot
  did until now, bot/calibration.py);
- after: the learnt waves (bot/waves.py), as orders now get them;
- oracle: waves learnt from 400 fresh parcels per lane and weekday drawn from the *truth* of
  the held-out week (it knows the shift and every rule): the best a fixed promise can do.
Printed: share within ± delivery_window_hours, mean |actual − promised| as a share of the
promised lead time (promised − confirmed, DESIGN.md §3), and on-time (≤ promise + window).

Then the calibration time: the history goes into a fresh database and `recalibrate` runs
3 times (wall p50/max), and the held-out week is scored again with the table it stored.
`--load import` (default) writes the history as a delivery file in the import format
(运单号, 承运商, 发货仓, 收货地址, 下单时间, 发货时间, 签收时间; CSV) and loads it through
`import deliveries` (bot/imports.py: every row parsed, placed and checked as a user's file
is); `--load orders` writes it as orders + shipments (bench/dashboard.py's seeders), as if
the bot had taken those orders itself; `--load both` does one and then the other. Only
127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from calibration import (  # noqa: E402
    AUTONOMOUS,
    CITIES,
    MUNICIPALITIES,
    Parcel,
    Truth,
    create_schema,
    rows,
)
from dashboard import seed_postgres, seed_sqlite  # noqa: E402
from intake import PgCluster, machine_lines  # noqa: E402

from bot import calibration, config, waves  # noqa: E402
from bot.domain import eta, vocab  # noqa: E402
from bot.domain.allocation import WarehouseInfo  # noqa: E402
from bot.domain.coverage import TransitTable, transit_hours  # noqa: E402

CST = vocab.CST
NO_SUNDAY = {"zto"}
SHIFT_DAY = 40


@dataclass(frozen=True)
class Lane:
    offset: int  # days after the departure day
    main: float  # main round, minutes after midnight
    other: float  # the other round
    sigma: float  # minutes
    shift: float  # minutes the rounds move by from SHIFT_DAY on


class Waves:
    """The hidden truth of how parcels move."""

    def __init__(self, settings: config.Settings, seed: int) -> None:
        rnd = random.Random(seed)
        self.settings = settings
        self.base = Truth(settings)  # for the carriers covering each city
        self.warehouses = self.base.warehouses
        self.truck = {code: rnd.uniform(30, 120) for code in self.warehouses}
        self.lanes: dict[tuple[str, str, str, str], Lane] = {}
        for carrier in settings.carriers:
            for code, wh in self.warehouses.items():
                for prov, city, _ in CITIES:
                    hours = transit_hours(settings.carriers[carrier], wh,
                                          waves_dest(prov, city), settings.regions)
                    offset = max(1, min(3, round(hours / 24 * rnd.uniform(0.7, 1.3))))
                    morning = rnd.random() < 0.6
                    main = rnd.uniform(540, 690) if morning else rnd.uniform(810, 1020)
                    other = rnd.uniform(810, 1020) if morning else rnd.uniform(540, 690)
                    shift = rnd.choice((-1, 1)) * rnd.uniform(20, 60) if rnd.random() < 0.33 \
                        else 0.0
                    self.lanes[(carrier, code, prov, city)] = Lane(
                        offset, main, other, rnd.uniform(15, 40), shift)

    def deliver(self, key: tuple[str, str, str, str], confirmed: datetime, day_no: int,
                rnd: random.Random) -> tuple[datetime, datetime]:
        """(shipped, delivered) for a parcel confirmed then."""
        carrier, code, _, _ = key
        cfg = self.settings.promise
        wh = self.warehouses[code]
        leave = eta.departure_day(confirmed, wh.cutoff, cfg)
        if rnd.random() < 0.03:  # missed the truck
            leave = eta.departure_day(datetime.combine(leave, clock(23, 59), CST), wh.cutoff,
                                      cfg)
        shipped = datetime.combine(leave, wh.cutoff, CST) + timedelta(
            minutes=self.truck[code] + rnd.gauss(0, 10))
        lane = self.lanes[key]
        shift = lane.shift if day_no >= SHIFT_DAY else 0.0
        main = rnd.random() >= 0.12
        at = (lane.main if main else lane.other) + shift
        day = leave + timedelta(days=lane.offset)
        if rnd.random() < 0.04:  # missed the round
            if at < 720:
                at = max(lane.main, lane.other) + shift
            else:
                day += timedelta(days=1)
                at = min(lane.main, lane.other) + shift
        if carrier in NO_SUNDAY and day.isoweekday() == 7:
            day += timedelta(days=1)
        minute = at + rnd.gauss(0, lane.sigma)
        delivered = datetime.combine(day, clock(0), CST) + timedelta(minutes=minute)
        return shipped, max(delivered, shipped + timedelta(hours=2))

    def parcels(self, start: datetime, days: int, per_day: int, seed: int, first_day: int = 0,
                lanes: Sequence[tuple[str, str, str, str]] | None = None) -> list[Parcel]:
        rnd = random.Random(seed)
        weights = [w for _, _, w in CITIES]
        codes = list(self.warehouses)
        out = []
        for d in range(days):
            base = start + timedelta(days=d)
            for _ in range(per_day):
                if lanes is None:
                    prov, city, _ = rnd.choices(CITIES, weights)[0]
                    code = rnd.choice(codes)
                    carrier = rnd.choice(self.base.carriers[(prov, city)])
                    key = (carrier, code, prov, city)
                else:
                    key = rnd.choice(lanes)
                confirmed = base + timedelta(seconds=rnd.random() * 86400)
                shipped, delivered = self.deliver(key, confirmed, first_day + d, rnd)
                out.append(Parcel(*key, confirmed, shipped, delivered))
        return out


def waves_dest(prov: str, city: str):
    from bot.domain.allocation import Destination
    return Destination(prov, city)


# ---- the models ------------------------------------------------------------------------------

def wave_rows(parcels: Sequence[Parcel]) -> list[tuple[str, str, str, str, float, float]]:
    return [(p.carrier, p.warehouse, p.province, p.city, p.confirmed.timestamp(),
             p.delivered.timestamp()) for p in parcels]


def learn_waves(parcels: Sequence[Parcel], truth: Waves, min_samples: int) -> TransitTable:
    whs = truth.warehouses
    learnt = waves.learn_waves(wave_rows(parcels), {c: w.cutoff for c, w in whs.items()},
                               {c: w.city for c, w in whs.items()},
                               list(truth.settings.carriers), truth.settings.promise,
                               min_samples)
    return TransitTable(waves={(w.carrier, w.warehouse, w.province, w.city, w.weekday):
                               (w.minute, w.within) for w in learnt.waves})


def learn_hours(parcels: Sequence[Parcel], truth: Waves) -> TransitTable:
    s = truth.settings
    ids = {code: i for i, code in enumerate(truth.warehouses, start=1)}
    infos = {i: truth.warehouses[code] for code, i in ids.items()}
    data = [(p.carrier, ids[p.warehouse], p.province, p.city,
             (p.delivered - p.shipped).total_seconds() / 3600) for p in parcels]
    grouped = calibration.group(data, infos, s.carriers.keys())
    lanes = calibration.learn(grouped.samples, grouped.warehouses, s, s.promise.calibration)
    return TransitTable({(x.carrier, x.warehouse, x.province, x.city): float(x.hours)
                         for x in lanes}, s.promise.calibration.max_change)


@dataclass(frozen=True)
class Score:
    within: float
    deviation: float  # mean |actual − promised| / (promised − confirmed)
    on_time: float
    hours: float  # mean |actual − promised|


def promise_of(p: Parcel, table: TransitTable, truth: Waves) -> datetime:
    s = truth.settings
    wh: WarehouseInfo = truth.warehouses[p.warehouse]
    dest = waves_dest(p.province, p.city)
    if table.waves:
        wd = eta.departure_day(p.confirmed, wh.cutoff, s.promise).isoweekday()
        wave = table.wave(p.carrier, wh, dest, wd)
        if wave is not None:
            got = eta.promise_on_wave(p.confirmed, wh.cutoff, s.promise, wave[0])
            if got is not None:
                return got
    hours = transit_hours(s.carriers[p.carrier], wh, dest, s.regions, table)
    return eta.promise(p.confirmed, wh.cutoff, hours, s.promise)


def score(parcels: Sequence[Parcel], table: TransitTable, truth: Waves) -> Score:
    window = truth.settings.promise.delivery_window_hours * 3600
    within = on_time = 0
    dev = off_total = 0.0
    for p in parcels:
        promised = promise_of(p, table, truth)
        off = (p.delivered - promised).total_seconds()
        within += abs(off) <= window
        on_time += off <= window
        dev += abs(off) / max(3600.0, (promised - p.confirmed).total_seconds())
        off_total += abs(off)
    n = len(parcels)
    return Score(within / n, dev / n, on_time / n, off_total / n / 3600)


# ---- the run ---------------------------------------------------------------------------------

IMPORT_HEADER = ("运单号", "承运商", "发货仓", "收货地址", "下单时间", "发货时间", "签收时间")
CARRIER_ZH = {"sf": "顺丰速运", "zto": "中通", "jd": "京东物流"}  # the names a user's file has


def street_address(province: str, city: str, n: int) -> str:
    """A delivery address the import must place to (province, city) itself."""
    prov = AUTONOMOUS.get(province) or (province + ("市" if province in MUNICIPALITIES
                                                    else "省"))
    place = prov if province in MUNICIPALITIES else f"{prov}{city}市"
    return f"{place}人民路{n % 500 + 1}号汽配城{n % 7 + 1}区"


def write_import_file(path: Path, parcels: Sequence[Parcel]) -> None:
    """The history as a distributor's export: Chinese headers, carrier names and codes
    mixed, times as local 'YYYY-MM-DD HH:MM' and as ISO 8601 with an offset."""
    def local(at: datetime) -> str:
        return at.astimezone(CST).strftime("%Y-%m-%d %H:%M")

    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(IMPORT_HEADER)
        for i, p in enumerate(parcels, start=1):
            carrier = CARRIER_ZH[p.carrier] if i % 2 else p.carrier
            delivered = p.delivered.astimezone(CST).isoformat() if i % 3 == 0 else \
                local(p.delivered)
            out.writerow((f"BENCH{i:010d}", carrier, p.warehouse,
                          street_address(p.province, p.city, i), local(p.confirmed),
                          local(p.shipped), delivered))


async def load_by_import(workdir: str, parcels: Sequence[Parcel], engine: str) -> None:
    from bot.imports import import_file

    path = Path(workdir) / "deliveries.csv"
    t0 = time.perf_counter()
    write_import_file(path, parcels)
    written = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = await import_file("deliveries", path)
    took = time.perf_counter() - t0
    print(f"  [{engine}] import deliveries: {report.total:,} rows "
          f"({path.stat().st_size / 1e6:.0f} MB CSV, written in {written:.1f} s), "
          f"{report.created:,} new, {len(report.rejected)} refused, in {took:.1f} s")
    if report.rejected or not report.written:
        raise SystemExit(f"import refused rows: {report.rejected[:5]}")


async def time_calibration(engine: str, parcels: Sequence[Parcel], truth: Waves,
                           held: Sequence[Parcel], now: datetime, load: str = "import"
                           ) -> tuple[list[float], Score]:
    from bot.calibration import recalibrate
    from bot.catalog import Catalog
    from storage import db

    settings = truth.settings
    workdir = tempfile.mkdtemp(prefix=f"lvyue-bench-promise-{engine}-")
    pg = PgCluster() if engine == "postgres" else None
    try:
        if pg is not None:
            pg.start()
            url = await pg.create_database("bench_promise")
        else:
            url = f"sqlite://{workdir}/bench.db"
        await create_schema(url)
        if load == "orders":
            data = rows(parcels, now)
            t0 = time.perf_counter()
            if pg is not None:
                await seed_postgres(url, data)
            else:
                await asyncio.to_thread(seed_sqlite, f"{workdir}/bench.db", data)
            print(f"  [{engine}] seeded {len(data[1]):,} delivered shipments as orders in "
                  f"{time.perf_counter() - t0:.1f} s")
        await db.init(url, create=False)
        try:
            if load == "import":
                await load_by_import(workdir, parcels, engine)
            walls = []
            report = None
            for _ in range(3):
                t0 = time.perf_counter()
                report = await recalibrate(settings, now)
                walls.append(time.perf_counter() - t0)
            assert report is not None
            base = [w for w in report.waves if w.weekday == 0]
            print(f"  [{engine}] recalibrate (transit hours + waves) over {report.wave_rows:,} "
                  f"deliveries: wall p50 {statistics.median(walls):.2f} s, max {max(walls):.2f}"
                  f" s; {len(report.waves)} waves ({len(base)} lanes)")
            stored = score(held, await Catalog(settings).load_transit(), truth)
            print(f"  [{engine}, history as {load}] promises from the stored table "
                  "(as every process loads it): "
                  f"within ±{settings.promise.delivery_window_hours:g} h "
                  f"{stored.within * 100:.1f}%, mean deviation {stored.deviation * 100:.1f}%, "
                  f"≤ promise + window {stored.on_time * 100:.1f}%")
            return walls, stored
        finally:
            await db.close()
    finally:
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    ap.add_argument("--engine", choices=["sqlite", "postgres", "both", "none"], default="sqlite")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--per-day", type=int, default=4000)
    ap.add_argument("--held-out", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--load", choices=["import", "orders", "both"], default="import",
                    help="how the history reaches the database (see the docstring)")
    args = ap.parse_args(argv)
    print("\n".join(machine_lines()))
    settings = config.defaults()
    truth = Waves(settings, seed=args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    midnight = datetime.combine(now.astimezone(CST).date(), clock(0), CST)
    t0 = time.perf_counter()
    history = truth.parcels(midnight - timedelta(days=args.days), args.days, args.per_day,
                            seed=args.seed + 1)
    history = [p for p in history if p.delivered <= now]
    days = 7
    held = truth.parcels(midnight + timedelta(days=1), days, args.held_out // days,
                         seed=args.seed + 2, first_day=args.days + 1)
    print(f"  simulated {len(history):,} delivered parcels over {args.days} days and "
          f"{len(held):,} held out (week after) in {time.perf_counter() - t0:.1f} s")
    min_samples = settings.promise.calibration.min_samples
    t0 = time.perf_counter()
    after = learn_waves(history, truth, min_samples)
    learn_s = time.perf_counter() - t0
    before = learn_hours(history, truth)
    lanes = sorted({(p.carrier, p.warehouse, p.province, p.city) for p in held})
    oracle_parcels = truth.parcels(midnight + timedelta(days=1), days * 4, len(lanes) * 100,
                                   seed=args.seed + 3, first_day=args.days + 1, lanes=lanes)
    oracle = learn_waves(oracle_parcels, truth, min_samples)
    results = [("configured hours", score(held, TransitTable(), truth)),
               ("before: learnt p80 transit hours", score(held, before, truth)),
               ("after: learnt waves", score(held, after, truth)),
               ("oracle (knows the simulator)", score(held, oracle, truth))]
    window = settings.promise.delivery_window_hours
    print(f"  waves learnt in {learn_s:.2f} s (numpy, in memory)")
    print(f"  promises for {len(held):,} held-out deliveries:")
    print(f"    {'promises from':<34} {f'within ±{window:g} h':>12} {'mean dev %':>11} "
          f"{'mean |Δ| h':>11} {f'≤ promise+{window:g} h':>15}")
    for name, r in results:
        print(f"    {name:<34} {r.within * 100:11.1f}% {r.deviation * 100:10.1f}% "
              f"{r.hours:11.2f} {r.on_time * 100:14.1f}%")
    a, o = results[2][1], results[3][1]
    ok = a.within >= o.within - 0.02 and a.deviation <= 0.05
    print(f"  within ±{window:g} h no more than 2 points below the oracle and mean deviation "
          f"≤ 5 %: {'MET' if ok else 'NOT MET'}")
    engines = {"both": ["sqlite", "postgres"], "none": []}.get(args.engine, [args.engine])
    loads = ["import", "orders"] if args.load == "both" else [args.load]
    for engine in engines:
        for load in loads:
            walls, _ = asyncio.run(time_calibration(engine, history, truth, held, now, load))
            if engine == "sqlite" and statistics.median(walls) >= 5.0:
                print("  recalibrate < 5 s on SQLite: NOT MET")
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
