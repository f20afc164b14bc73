"""Outbox bench: dispatcher throughput to a 20 ms channel under a per-channel limit, and
recovery time after kill -9.

    python bench/outbox.py [--n 3000] [--latency-ms 20] [--concurrency 16]
                           [--pg postgres://…] [--engines sqlite,postgres] [--keep]

Three processes, all on 127.0.0.1: this script (fills the outbox, watches the database),
the fake 公众号 API (tests/fakes/wechat_oa_server.py: every send answered after
`--latency-ms`, a sliding-window limit that answers 45009 beyond it, and client_msg_id
resend protection) and one dispatcher (tests/messages/outbox_worker.py: the real
WeChatOAClient, WeChatOAChannel and OutboxDispatcher).

1. Throughput, per engine, twice: with a limit that allows more than the latency does
   (target ≥ 200 deliveries/s), and with a limit of 100/s, which must be honoured
   (measured ≤ 100/s and not one 45009 from the fake). The dispatcher is configured at 95 %
   of the fake's limit: the fake counts arrivals, the dispatcher departures.
2. kill -9: the dispatcher is killed when a third of the outbox is delivered, then
   restarted (a) with the same worker id (its claims are freed at start) and (b) as
   another worker, which waits for the dead one's lease (`--lease`, default 5 s). Measured:
   seconds from the restart to the last delivery, and how many messages reached WeChat
   twice (with client_msg_id: none) or were absorbed by client_msg_id.

PostgreSQL: `--pg URL` or LVYUE_TEST_PG (scripts/pg start DIR prints it); without either
only SQLite runs. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tortoise import Tortoise  # noqa: E402

from storage import db as storage_db  # noqa: E402
from storage import outbox  # noqa: E402
from storage.outbox import Notification  # noqa: E402

CTX = {"客户姓名": "王师傅", "客户名称": "恒通汽修", "单号": "SO1", "快递公司": "顺丰速运",
       "运单号": "SF1", "预计送达时间": "11月26日 15:00", "时间": "11月26日 15:00",
       "地址": "浙江省杭州市西湖区文三路***", "跟踪链接": "https://lvyue.example/t/x", "包裹": "",
       "状态": "已出库", "事件时间": "11月25日 12:00", "发货仓": "杭州仓"}
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.platform()} | {cpu} × {os.cpu_count()} | Python "
            f"{platform.python_version()} | SQLite {sqlite3.sqlite_version}")


# ---- processes -------------------------------------------------------------------------

LOG = Path(tempfile.gettempdir()) / "lvyue-outbox-bench.log"


async def start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    with LOG.open("ab") as log:  # the children's stderr, for when something goes wrong
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", *args, cwd=ROOT, env=ENV,
            stdout=asyncio.subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    return proc, line


async def fake_oa(latency: float, rate: int, report: Path) -> tuple[asyncio.subprocess.Process,
                                                                    str]:
    return await start("tests.fakes.wechat_oa_server", "--latency", str(latency),
                       "--rate", str(rate), "--period", "1", "--report", str(report))


async def worker(db: str, oa: str, name: str, concurrency: int, rate: int, lease: float
                 ) -> asyncio.subprocess.Process:
    proc, line = await start("tests.messages.outbox_worker", "--db", db, "--oa", oa,
                             "--worker", name, "--concurrency", str(concurrency),
                             "--rate", str(rate), "--lease", str(lease))
    if line != "ready":
        raise RuntimeError(f"worker did not start: {line!r}")
    return proc


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass
class Report:
    """What the fake 公众号 counted (tests/fakes/wechat_oa_server.py --report)."""

    unique: int = 0  # distinct client_msg_ids delivered
    duplicates: int = 0  # deliveries beyond the first per client_msg_id
    suppressed: int = 0  # repeats absorbed by client_msg_id
    rejected: int = 0  # errcode answers (45009 …)
    first: float = 0.0
    last: float = 0.0


def read_report(path: Path) -> Report:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return Report()
    return Report(int(raw["unique"]), int(raw["duplicates"]), int(raw["suppressed"]),
                  sum(int(v) for v in raw["rejected"].values()), float(raw["first"] or 0),
                  float(raw["last"] or 0))


@dataclass
class Result:
    name: str
    seconds: float
    report: Report
    rate: float = 0.0
    note: str = ""


async def until_delivered(report: Path, n: int) -> None:
    while read_report(report).unique < n:  # noqa: ASYNC110 - another process writes it
        await asyncio.sleep(0.01)


# ---- database ----------------------------------------------------------------------------

def pushes(n: int) -> list[Notification]:
    return [Notification(dedup_key=f"bench:{i}:o{i}:wechat_oa", event="shipped",
                         channel="wechat_oa", recipient=f"oBench{i:06d}",
                         template="shipped.wechat_oa", context=CTX | {"单号": f"SO{i:07d}"},
                         order_no=f"SO{i:07d}") for i in range(n)]


async def fresh_db(engine: str, pg: str | None, tmp: Path) -> str:
    if engine == "sqlite":
        url = f"sqlite://{tmp / f'outbox-{uuid.uuid4().hex[:6]}.db'}"
    else:
        assert pg
        url = f"{pg.rstrip('/').rsplit('/', 1)[0]}/bench_{uuid.uuid4().hex[:10]}"
    await storage_db.init(url, create_db=engine == "postgres")
    return url


async def drop_db(engine: str) -> None:
    if engine == "postgres":
        await Tortoise._drop_databases()
    await storage_db.close()


async def fill(n: int) -> None:
    items = pushes(n)
    for i in range(0, n, 1000):
        await outbox.enqueue(items[i:i + 1000])


async def wait_settled(limit: float) -> float:
    started = time.perf_counter()
    deadline = started + limit
    while time.perf_counter() < deadline:
        c = await outbox.counts()
        if c["pending"] == 0 and c["sending"] == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.02)
    raise TimeoutError("the outbox did not drain in time")


# ---- scenarios ----------------------------------------------------------------------------

async def throughput(engine: str, args: argparse.Namespace, tmp: Path, rate: int) -> Result:
    url = await fresh_db(engine, args.pg, tmp)
    report = tmp / f"report-{uuid.uuid4().hex[:6]}.json"
    fake, oa_url = await fake_oa(args.latency_ms / 1000, rate, report)
    try:
        await fill(args.n)
        # The fake counts arrivals, the dispatcher departures: keep 5 % head-room.
        proc = await worker(url, oa_url, "bench-1", args.concurrency, int(rate * 0.95), 60)
        try:
            await wait_settled(600)
        finally:
            await stop(proc)
        await asyncio.sleep(0.3)  # the fake's last report
        state = read_report(report)
    finally:
        await stop(fake)
        await drop_db(engine)
    # Rate from the fake's own clock: first to last accepted send (the worker's start-up
    # and the watcher's polling interval are not the dispatcher's throughput).
    span = state.last - state.first
    rate_seen = (state.unique - 1) / span if span > 0 else 0.0
    return Result(f"{engine}, limit {rate}/s", span, state, rate_seen)


async def crash(engine: str, args: argparse.Namespace, tmp: Path, same_worker: bool) -> Result:
    url = await fresh_db(engine, args.pg, tmp)
    report = tmp / f"report-{uuid.uuid4().hex[:6]}.json"
    rate = 10_000
    fake, oa_url = await fake_oa(args.latency_ms / 1000, rate, report)
    try:
        await fill(args.n)
        first = await worker(url, oa_url, "bench-1", args.concurrency, rate, args.lease)
        await until_delivered(report, args.n // 3)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await asyncio.sleep(0.2)  # the fake's report catches up with the kill
        at_kill = (await outbox.counts())["sent"]
        before = read_report(report).unique
        restarted = time.perf_counter()
        name = "bench-1" if same_worker else "bench-2"
        second = await worker(url, oa_url, name, args.concurrency, rate, args.lease)
        ready = time.perf_counter() - restarted
        try:
            await until_delivered(report, before + 1)
            resumed = time.perf_counter() - restarted
            await wait_settled(600)
            seconds = time.perf_counter() - restarted
        finally:
            await stop(second)
        await asyncio.sleep(0.3)
        state = read_report(report)
    finally:
        await stop(fake)
        await drop_db(engine)
    how = "same worker id" if same_worker else f"other worker, lease {args.lease:g} s"
    return Result(f"{engine}, restart as {how}", seconds, state,
                  note=f"{args.n - at_kill} left at the kill; process ready {ready:.2f} s, "
                       f"first delivery {resumed:.2f} s, all delivered {seconds:.2f} s")


# ---- report --------------------------------------------------------------------------------

def show(r: Result) -> None:
    rate = f"{r.rate:7.1f}/s" if r.rate else "        "
    print(f"  {r.name:<46} {r.seconds:7.2f} s {rate} delivered {r.report.unique:>6}  "
          f"twice {r.report.duplicates}  absorbed by client_msg_id {r.report.suppressed}  "
          f"rejected (45009) {r.report.rejected}")
    if r.note:
        print(f"      {r.note}")


async def amain(args: argparse.Namespace) -> int:
    engines = [e for e in args.engines.split(",") if e != "postgres" or args.pg]
    print(f"machine: {machine()}")
    print(f"outbox of {args.n} notifications, fake 公众号 latency {args.latency_ms} ms, "
          f"dispatcher concurrency {args.concurrency}, engines {', '.join(engines)}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="lvyue-outbox-bench-") as d:
        tmp = Path(d)
        print("throughput (target ≥ 200/s where the limit allows; the limit honoured):")
        for engine in engines:
            for rate in (args.open_rate, args.limit_rate):
                r = await throughput(engine, args, tmp, rate)
                show(r)
                ok &= r.report.unique == args.n and not r.report.duplicates
                ok &= not r.report.rejected
                ok &= r.rate >= 200 if rate == args.open_rate else r.rate <= rate
        print("kill -9 when a third is delivered, then restart (seconds from the restart):")
        for engine in engines:
            for same in (True, False):
                r = await crash(engine, args, tmp, same)
                show(r)
                ok &= r.report.unique == args.n and not r.report.duplicates
    print("PASS" if ok else "FAIL: a target was missed")
    return 0 if ok else 1


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--open-rate", type=int, default=1000, help="a limit above what latency allows")
    p.add_argument("--limit-rate", type=int, default=100, help="a limit that must bind")
    p.add_argument("--lease", type=float, default=5.0)
    p.add_argument("--pg", default=os.environ.get("LVYUE_TEST_PG"))
    p.add_argument("--engines", default="sqlite,postgres")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(amain(parse())))
