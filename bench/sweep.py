"""Tracking sweep bench: ONE sweep over 20,000 active shipments against the carrier fakes.

    python bench/sweep.py [--shipments 20000] [--mix sf=6000,zto=6000,jd=4000,yto=4000]
                          [--latency-ms 50] [--passes both|timed|traced] [--keep]

The script:
1. creates a SQLite database in a temp dir with one customer, one warehouse and one shipped
   order + shipment per waybill (bulk inserts), spread over the carriers of `--mix`:
   SF, ZTO and JD tracked by their own APIs, "yto" (圆通) tracked through Kuaidi100;
2. starts the four carrier fakes (tests/fakes, the real wire protocols and signatures) in
   a child process on 127.0.0.1, every answer delayed by `--latency-ms`; each waybill has
   4 events on the carrier side (collected, 2 × in transit, out for delivery);
3. runs ONE `TrackingService.sweep()` with the default TrackingConfig (rate limits,
   batch sizes, concurrency; see bot/domain/tracking.py), measuring wall time, CPU, peak
   RSS (ru_maxrss) and, on the traced pass, the peak of Python allocations (tracemalloc);
4. asks the fakes how often each waybill was queried (must be exactly once each) and
   counts the events stored and the notifications their status changes wrote (the
   tracking service runs with the app's notifier, as in production).

Two passes, each on a fresh database in a process of its own: "timed" (no tracing: the
wall time that counts) and "traced" (tracemalloc on; tracing every allocation multiplies
the sweep's CPU by ~3.5, which on a small machine stretches its wall time, so that pass's
wall time is shown but not judged). `--passes timed|traced` runs one of them.

Targets: wall time < 180 s, peak memory < 300 MB, every shipment queried exactly once.
The floor the rate limits alone impose (calls ÷ rate, per carrier) is printed too.
Exit status 1 when a target is missed. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HOST = "127.0.0.1"
PHONE = "13800000001"
TARGET_S = 180.0
TARGET_MB = 300.0
DEFAULT_MIX = "sf=6000,zto=6000,jd=4000,yto=4000"
CLIENT_OF = {"sf": "sf", "zto": "zto", "jd": "jd", "yto": "kuaidi100"}
TIMES = ("2026-03-02 10:00:00", "2026-03-02 16:00:00", "2026-03-02 23:00:00",
         "2026-03-03 08:30:00")


# ---- the waybills (the same in both processes) ----------------------------------------------

def parse_mix(text: str, total: int | None) -> dict[str, int]:
    mix = {k.strip(): int(v) for k, v in (p.split("=") for p in text.split(","))}
    unknown = set(mix) - set(CLIENT_OF)
    if unknown:
        raise SystemExit(f"--mix: unknown carrier {sorted(unknown)[0]!r} (sf, zto, jd, yto)")
    if total is not None:
        scale = total / sum(mix.values())
        mix = {k: round(v * scale) for k, v in mix.items()}
        first = next(iter(mix))
        mix[first] += total - sum(mix.values())
    return mix


def waybills(mix: dict[str, int]) -> list[tuple[str, str]]:
    """(waybill, carrier) for every shipment; numbers look like each carrier's."""
    shape = {"sf": "SF{:013d}", "zto": "7310{:010d}", "jd": "JDV{:012d}", "yto": "YT{:013d}"}
    return [(shape[c].format(i), c) for c, n in mix.items() for i in range(1, n + 1)]


# ---- the fakes, in a child process -------------------------------------------------------

def serve_fakes(conn: Any, mix: dict[str, int], latency: float) -> None:
    asyncio.run(_serve_fakes(conn, mix, latency))


async def _serve_fakes(conn: Any, mix: dict[str, int], latency: float) -> None:
    from aiohttp import web

    fakes = _fill_fakes(mix)
    runners, urls = [], {}
    for name, fake in fakes.items():
        fake.slow_seconds = latency
        fake.fail("slow")  # every answer delayed, nothing else changed
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        port = runner.addresses[0][1]
        urls[name] = f"http://{HOST}:{port}"
        runners.append(runner)
    conn.send(urls)
    loop = asyncio.get_running_loop()
    while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
        if command == "counts":
            conn.send(_asked(fakes))
    for runner in runners:
        await runner.cleanup()


def _fill_fakes(mix: dict[str, int]) -> dict[str, Any]:
    from tests.fakes import jd_server as jd
    from tests.fakes import kuaidi100_server as k100
    from tests.fakes import sf_server as sf
    from tests.fakes import zto_server as zto

    fakes: dict[str, Any] = {"sf": sf.FakeSf(), "zto": zto.FakeZto(), "jd": jd.FakeJd(),
                             "kuaidi100": k100.FakeKuaidi100()}
    codes = (("103", "50", "收件", 420), ("1002", "30", "发件", 430),
             ("1003", "31", "到件", 430), ("5", "44", "派件", 440))
    for num, carrier in waybills(mix):
        for (k_code, sf_op, scan, jd_cat), at in zip(codes, TIMES, strict=True):
            text = f"{scan} {num}"
            if carrier == "sf":
                fakes["sf"].add_route(sf.route(len(text), num, "o", at, sf_op, text, "杭州"))
            elif carrier == "zto":
                fakes["zto"].add_scans(num, PHONE, zto.scan(num, scan, at, text, "杭州"))
            elif carrier == "jd":
                fakes["jd"].traces.setdefault(num, []).append(jd.trace_node(num, at, jd_cat,
                                                                            text))
            else:
                fakes["kuaidi100"].add_track(num, "yuantong", PHONE,
                                             k100.data_item(at, text, "杭州市", k_code))
    return fakes


def _asked(fakes: dict[str, Any]) -> dict[str, int]:
    seen: Counter[str] = Counter()
    for num, times in fakes["kuaidi100"].queries.items():
        seen[num] += len(times)
    for r in fakes["sf"].received:
        seen.update(json.loads(r.form()["msgData"])["trackingNumber"])
    for r in fakes["zto"].received:
        seen[r.json()["billCode"]] += 1
    for r in fakes["jd"].received:
        seen[r.json()[0]["waybillCode"]] += 1
    return dict(seen)


# ---- the database ----------------------------------------------------------------------------

async def create_shipments(url: str, items: list[tuple[str, str]]) -> None:
    from storage import db
    from storage.models import Customer, Order, OrderStatus, Shipment, Warehouse

    await db.init(url)
    shipped = datetime.now(UTC) - timedelta(days=1)
    customer = await Customer.create(code="C0001", name="杭州西湖恒通汽修厂", phone=PHONE)
    warehouse = await Warehouse.create(code="HZ01", name="杭州仓", city="杭州")
    await Order.bulk_create([Order(no=f"LYB{i:07d}", customer_id=customer.id,
                                   status=OrderStatus.shipped, city="上海", shipped_at=shipped)
                             for i in range(len(items))], batch_size=1000)
    ids = dict(await Order.all().values_list("no", "id"))
    await Shipment.bulk_create([
        Shipment(order_id=ids[f"LYB{i:07d}"], seq=1, warehouse_id=warehouse.id,
                 carrier=carrier, waybill_no=num, status=OrderStatus.shipped,
                 shipped_at=shipped)
        for i, (num, carrier) in enumerate(items)], batch_size=1000)


async def stored_events() -> int:
    from storage.tracking_models import TrackingEventRow

    return await TrackingEventRow.all().count()


# ---- the sweep -------------------------------------------------------------------------------

async def run_sweep(urls: dict[str, str]) -> tuple[Any, float, float]:
    import httpx

    from bot.config import defaults
    from bot.domain.tracking import TrackingConfig
    from bot.tracking import TrackingService
    from integrations.carriers.jd import JdClient
    from integrations.carriers.kuaidi100 import Kuaidi100Client
    from integrations.carriers.sf import SfClient
    from integrations.carriers.zto import ZtoClient
    from messages.delivery import Notifier
    from messages.notify import NotifyConfig

    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        clients: dict[str, Any] = {
            "sf": SfClient(http, urls["sf"], "LVYUE_TEST", "CHECKWORD_TEST"),
            "zto": ZtoClient(http, urls["zto"], "ZTO_TEST_KEY", "ZTO_TEST_SECRET"),
            "jd": JdClient(http, urls["jd"], "JD_TEST_KEY", "JD_TEST_SECRET", "JD_TEST_TOKEN",
                           "010K000001"),
            "kuaidi100": Kuaidi100Client(http, urls["kuaidi100"], urls["kuaidi100"], "K100KEY",
                                         "K100CUSTOMER", "K100SECRET", "K100SALT",
                                         company="yuantong"),
        }
        config = TrackingConfig(route={"yto": "kuaidi100"})
        # As in the app: status changes plan their notifications in the same transaction.
        settings = defaults()
        notifier = Notifier(NotifyConfig.from_settings(
            settings, link=lambda no: f"{settings.public_url}/t/{no}", table=settings.notify))
        service = TrackingService(settings, clients, config=config, on_changes=notifier.changes)
        started = time.perf_counter()
        report = await service.sweep()
        wall = time.perf_counter() - started
    return report, wall, floor_seconds(config, report.by_carrier)


async def outbox_rows() -> int:
    from storage.outbox_models import OutboxNotification

    return await OutboxNotification.all().count()


def floor_seconds(config: Any, by_client: Counter[str]) -> float:
    """The least time the configured rates allow: calls ÷ calls per second, per carrier."""
    floors = [-(-n // config.limits(code).batch_size) / config.limits(code).rate_per_second
              for code, n in by_client.items()]
    return max(floors, default=0.0)


# ---- main ------------------------------------------------------------------------------------

def machine() -> list[str]:
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    from importlib.metadata import version

    libs = ", ".join(f"{p} {version(p)}" for p in ("tortoise-orm", "httpx", "aiohttp"))
    return [f"machine: nproc {os.cpu_count()}, CPU {model}, {mem_kb / 2**20:.1f} GiB RAM, "
            f"load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            f"python:  {platform.python_version()} on {platform.system()} {platform.release()}",
            f"libs:    {libs}"]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_pass(args: argparse.Namespace, traced: bool) -> dict[str, Any]:
    """One sweep in a process of its own (so ru_maxrss is this pass's own peak)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_pass_main, args=(child, vars(args), traced))
    proc.start()
    result: dict[str, Any] = parent.recv()
    proc.join(timeout=60)
    return result


def _pass_main(conn: Any, options: dict[str, Any], traced: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="lvyue-sweep-"))
    try:
        conn.send(asyncio.run(one_pass(argparse.Namespace(**options), traced, workdir)))
    finally:
        if options["keep"]:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


async def one_pass(args: argparse.Namespace, traced: bool, workdir: Path) -> dict[str, Any]:
    mix = parse_mix(args.mix, args.shipments)
    items = waybills(mix)
    ctx = mp.get_context("spawn")
    pipe, child = ctx.Pipe()
    fakes = ctx.Process(target=serve_fakes, args=(child, mix, args.latency_ms / 1000))
    fakes.start()
    try:
        t = time.perf_counter()
        await create_shipments(f"sqlite://{workdir / 'bench.db'}", items)
        urls = pipe.recv()
        setup = time.perf_counter() - t
        return {"setup": setup, **await measure(pipe, items, urls, traced)}
    finally:
        pipe.send("stop")
        fakes.join(timeout=30)
        from storage import db

        await db.close()


async def measure(pipe: Any, items: list[tuple[str, str]], urls: dict[str, str],
                  traced: bool) -> dict[str, Any]:
    rss_before = vm_rss_mb()
    cpu_before = _cpu_seconds()
    if traced:
        tracemalloc.start()
    report, wall, floor = await run_sweep(urls)
    cpu = _cpu_seconds() - cpu_before
    peak_py = tracemalloc.get_traced_memory()[1] / 2**20 if traced else None
    tracemalloc.stop()
    pipe.send("counts")
    asked: dict[str, int] = pipe.recv()
    wanted = {num for num, _ in items}
    per = Counter(asked.get(num, 0) for num in wanted)
    return {
        "wall": wall, "floor": floor, "cpu": cpu, "calls": report.calls,
        "queried": report.queried, "by_client": dict(report.by_carrier),
        "errors": dict(report.errors), "deferred": report.deferred, "changes": report.changes,
        "events": await stored_events(), "outbox": await outbox_rows(), "peak_py": peak_py,
        "rss_before": rss_before,
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "per": dict(sorted(per.items())),
        "extra": sum(n for num, n in asked.items() if num not in wanted),
        "once": per == Counter({1: len(wanted)}) and not any(
            num not in wanted for num in asked),
    }


def show(name: str, r: dict[str, Any]) -> None:
    print(f"[{name}] setup {r['setup']:.1f} s (database and fakes)")
    print(f"[{name}] sweep: {r['wall']:.1f} s wall (rate-limit floor {r['floor']:.1f} s), "
          f"{r['calls']} calls, {r['queried']} waybills queried, {r['cpu']:.1f} s CPU")
    print(f"[{name}]   by client {r['by_client']}; errors {r['errors'] or 0}; "
          f"deferred {r['deferred']}; status changes {r['changes']}")
    peak = "not traced" if r["peak_py"] is None else f"{r['peak_py']:.1f} MB"
    print(f"[{name}] memory: tracemalloc peak {peak}; ru_maxrss {r['max_rss']:.1f} MB "
          f"(RSS {r['rss_before']:.1f} MB before the sweep)")
    print(f"[{name}] queries per shipment {r['per']} (exactly 1 each: "
          f"{'yes' if r['once'] else 'NO'}), queries of unknown numbers {r['extra']}; "
          f"events stored {r['events']}; notifications written {r['outbox']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shipments", type=int, default=20_000)
    ap.add_argument("--mix", default=DEFAULT_MIX, help=f"per carrier (default {DEFAULT_MIX})")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--passes", choices=("both", "timed", "traced"), default="both",
                    help="timed: wall time untraced; traced: tracemalloc peak (slower)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (databases)")
    args = ap.parse_args()
    mix = parse_mix(args.mix, args.shipments)
    print(*machine(), sep="\n")
    print(f"shipments: {sum(mix.values())} ({', '.join(f'{k} {v}' for k, v in mix.items())}), "
          f"fake latency {args.latency_ms:g} ms, fakes in a separate process")
    results = {}
    for name in ("timed", "traced"):
        if args.passes in (name, "both"):
            results[name] = run_pass(args, traced=name == "traced")
            show(name, results[name])
    return verdict(results)


def verdict(results: dict[str, dict[str, Any]]) -> int:
    ok = all(r["once"] and not r["errors"] and r["max_rss"] < TARGET_MB
             for r in results.values())
    if "timed" in results:
        ok = ok and results["timed"]["wall"] < TARGET_S
    if "traced" in results:
        ok = ok and results["traced"]["peak_py"] < TARGET_MB
    judged = "timed pass" if "timed" in results else "no timed pass"
    print(f"targets (wall < {TARGET_S:.0f} s on the {judged}; memory < {TARGET_MB:.0f} MB; "
          f"every shipment queried exactly once): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
