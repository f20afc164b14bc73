"""Order-intake load bench: N concurrent HTTP clients against a real `python bot.py serve`.

    python bench/intake.py [--engine sqlite|postgres|both] [--clients 50]
                           [--duration 20 | --orders N] [--phase normal|flash|both]
                           [--port P] [--keep]

For each engine the script starts its own server as a subprocess on a fresh database
(SQLite file in a temp dir, or a database in a throw-away PostgreSQL cluster started with
scripts/pg), waits for /healthz (the server loads the 18,000-SKU demo data on first start),
then runs:

Every request carries an API key (`Authorization: Bearer`): one key per client, role
integration, issued on the server's database before the run.

- normal phase: every client loops POST /api/orders (201 → draft) then
  POST /api/orders/{no}/confirm (200 → allocated, 409 → held: stock/credit ran out),
  1-3 lines of qty 1-3 over SKUs that have stock, customers spread round-robin;
- flash phase: every client hammers one flash-sale SKU of the SK-2026 virtual warehouse
  (campaign "SK-2026", qty 1) until it is sold out, to show zero oversell under contention.

Afterwards the server is stopped and the database is opened directly (tortoise, via
storage.db.init) to check every stock row: 0 <= reserved <= on_hand, and reserved equals
the sum of the reserved shipments of allocated orders, and the sum of the active
reservation rows (storage/reservations.py), for every (warehouse, sku).

Only 127.0.0.1 is contacted. Request loops are bounded in count and in time. See
bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HOST = "127.0.0.1"  # the only host this bench ever talks to
FLASH_CODE = "SK-2026"
TARGET_ORDERS_PER_S = 500
TARGET_P99_MS = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")
HARD_ORDER_CAP = 1_000_000  # count bound when only a duration is given
REQUEST_TIMEOUT_S = 30.0
MIN_CUSTOMER_HEADROOM = 20_000  # yuan of credit left, so a few orders each never hit the limit
MIN_SKU_SERVABLE = 150  # units servable over the physical warehouses


# ---------------------------------------------------------------------------------------
# Machine, processes, PostgreSQL
# ---------------------------------------------------------------------------------------


def machine_lines() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    versions = []
    for pkg in ("aiohttp", "tortoise-orm", "aiosqlite", "asyncpg"):
        try:
            from importlib.metadata import version

            versions.append(f"{pkg} {version(pkg)}")
        except Exception:  # informational only
            pass
    rev = "?"
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        rev += " (+uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: nproc {nproc}, CPU {model}{mem}, load avg {load}",
        f"python:  {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.system()} {platform.release()}",
        f"libs:    {', '.join(versions)}",
        f"repo:    {REPO} @ {rev}",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from `state` on


def proc_cpu_s(pid: int, children: bool = False) -> float:
    """utime+stime (plus reaped children's when asked) of one process, in seconds."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12])
    if children:
        ticks += int(f[13]) + int(f[14])
    return ticks / CLK_TCK


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """(main thread, all other threads) CPU seconds of a live process."""
    main = other = 0.0
    try:
        tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return 0.0, 0.0
    for tid in tids:
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2:].split()
        secs = (int(f[11]) + int(f[12])) / CLK_TCK
        if tid == pid:
            main += secs
        else:
            other += secs
    return main, other


def tree_cpu_s(root: int) -> float:
    """CPU of a process and its live direct children (PostgreSQL: postmaster + backends)."""
    total = proc_cpu_s(root, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f is not None and int(f[1]) == root:
            total += proc_cpu_s(int(entry.name))
    return total


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class PgCluster:
    """A throw-away PostgreSQL cluster (scripts/pg) on a loopback port."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="lvyue-bench-pg-")
        self.base_url = ""

    def start(self) -> str:
        out = subprocess.run([str(REPO / "scripts" / "pg"), "start", self.dir],
                             capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"scripts/pg start failed:\n{out.stderr}")
        m = re.search(r"LVYUE_TEST_PG=(\S+)", out.stdout)
        if not m:
            raise RuntimeError(f"scripts/pg start printed no URL:\n{out.stdout}")
        self.base_url = m.group(1)
        if not self.base_url.split("@", 1)[-1].startswith(HOST):
            raise RuntimeError(f"PostgreSQL is not on {HOST}: {self.base_url}")
        return self.base_url

    def postmaster_pid(self) -> int | None:
        try:
            return int((Path(self.dir) / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    async def create_database(self, name: str) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.base_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.base_url.rsplit("/", 1)[0] + "/" + name

    def stop(self, keep: bool = False) -> None:
        subprocess.run([str(REPO / "scripts" / "pg"), "stop", self.dir],
                       capture_output=True, timeout=120)
        if keep:
            print(f"  kept PostgreSQL data dir (cluster stopped): {self.dir}/data")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# The server under test
# ---------------------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, port: int, workdir: str) -> None:
        self.url, self.port = url, port
        self.log_path = Path(workdir) / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://{HOST}:{port}"

    def start(self) -> None:
        log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WECOM_", "WECHAT_", "KUAIDI100_", "SF_", "ZTO_", "JD_"))}
        env.pop("LVYUE_DB", None)
        self.proc = subprocess.Popen(
            [sys.executable, "bot.py", "serve", "--db", self.url, "--host", HOST,
             "--port", str(self.port)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_healthy(self, session: Any, limit_s: float = 180.0) -> float:
        import aiohttp

        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            if not self.alive():
                raise RuntimeError(f"server exited early:\n{self.log_tail(40)}")
            try:
                async with session.get(f"{self.base}/healthz",
                                       timeout=aiohttp.ClientTimeout(total=5)) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"server not healthy after {limit_s:.0f} s:\n{self.log_tail(40)}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def log_tail(self, n: int) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    def log_errors(self, limit: int = 40) -> list[str]:
        """Tracebacks and ERROR/WARNING lines from the server log (not the access log)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        out = [ln for ln in lines if " ERROR " in ln or " WARNING " in ln
               or ln.startswith(("Traceback", "  File", "    "))
               or re.match(r"^\w+(\.\w+)*(Error|Exception)\b", ln)]
        return out[:limit]


# ---------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------


@dataclass
class Stats:
    create_ms: list[float] = field(default_factory=list)
    confirm_ms: list[float] = field(default_factory=list)
    order_ms: list[float] = field(default_factory=list)  # create start → confirm answered
    create_status: Counter[int] = field(default_factory=Counter)
    confirm_status: Counter[int] = field(default_factory=Counter)
    create_gates: Counter[str] = field(default_factory=Counter)  # failed gates of 422s
    confirm_gates: Counter[str] = field(default_factory=Counter)  # failed gates of 409s
    errors: Counter[str] = field(default_factory=Counter)  # transport errors
    samples_5xx: list[str] = field(default_factory=list)
    attempted: int = 0
    confirmed: int = 0
    held: int = 0
    pairs: int = 0
    units_confirmed: int = 0
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    server_main_cpu_s: float = 0.0  # event-loop thread
    server_other_cpu_s: float = 0.0  # other threads (aiosqlite's worker on SQLite)
    pg_measured: bool = False
    pg_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    server_side: dict[str, tuple[float, int]] = field(default_factory=dict)


@dataclass
class Plan:
    customers: list[str]
    skus: list[str]
    flash_sku: str | None
    flash_available: int
    flash_key: tuple[int, int] | None  # (warehouse_id, product_id)
    active_skipped: int
    headroom_skipped: int
    keys: list[str] = field(default_factory=list)  # one API key per client

    def key(self, n: int) -> str:
        return self.keys[n % len(self.keys)]


class Load:
    """Shared counters of one phase; every client checks the bounds before each order."""

    def __init__(self, max_orders: int, deadline: float) -> None:
        self.max_orders, self.deadline = max_orders, deadline
        self.next_n = 0
        self.sold_out = False

    def take(self) -> int | None:
        if self.sold_out or self.next_n >= self.max_orders or time.monotonic() >= self.deadline:
            return None
        n = self.next_n
        self.next_n += 1
        return n


def _failed_gates(body: bytes) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return ["(unparsable)"]
    return [str(e.get("gate") or e.get("field") or "?") for e in data.get("errors", [])]


async def _post(session: Any, url: str, payload: dict[str, Any] | None, key: str
                ) -> tuple[int, bytes]:
    async with session.post(url, json=payload if payload is not None else {},
                            headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status, await r.read()


async def _one_order(session: Any, base: str, body: dict[str, Any], units: int,
                     st: Stats, key: str, scheduled: float | None = None) -> str:
    """One create (+ confirm when it is 201). Returns the outcome word.

    `scheduled` (open loop): latencies of create and of the whole order count from the
    moment the order was due, so waiting for a free connection is not hidden.
    """
    t0 = time.perf_counter() if scheduled is None else scheduled
    status, raw = await _post(session, f"{base}/api/orders", body, key)
    t1 = time.perf_counter()
    st.create_ms.append((t1 - t0) * 1000)
    st.create_status[status] += 1
    if status != 201:
        if status == 422:
            gates = _failed_gates(raw)
            st.create_gates.update(gates)
            return "sold_out" if "stock" in gates else "rejected"
        if status >= 500 and len(st.samples_5xx) < 5:
            st.samples_5xx.append(f"create {status}: {raw[:300].decode(errors='replace')}")
        return "error"
    no = json.loads(raw)["no"]
    status, raw = await _post(session, f"{base}/api/orders/{no}/confirm", None, key)
    t2 = time.perf_counter()
    st.confirm_ms.append((t2 - t1) * 1000)
    st.confirm_status[status] += 1
    st.pairs += 1
    if status in (200, 409):
        st.order_ms.append((t2 - t0) * 1000)
    if status == 200:
        st.confirmed += 1
        st.units_confirmed += units
        return "confirmed"
    if status == 409:
        st.held += 1
        st.confirm_gates.update(_failed_gates(raw))
        return "held"
    if status >= 500 and len(st.samples_5xx) < 5:
        st.samples_5xx.append(f"confirm {status}: {raw[:300].decode(errors='replace')}")
    return "error"


def _order_body(rng: random.Random, plan: Plan, n: int, flash: bool
                ) -> tuple[dict[str, Any], int]:
    """The n-th order of a phase: customers round-robin, 1-3 lines of qty 1-3."""
    customer = plan.customers[(n + (len(plan.customers) // 2 if flash else 0))
                              % len(plan.customers)]
    if flash:
        return {"customer": customer, "campaign": FLASH_CODE,
                "lines": [{"sku": plan.flash_sku, "qty": 1}]}, 1
    skus = rng.sample(plan.skus, rng.randint(1, 3))
    lines = [{"sku": s, "qty": rng.randint(1, 3)} for s in skus]
    return {"customer": customer, "lines": lines}, sum(ln["qty"] for ln in lines)


async def _attempt(session: Any, server: Server, body: dict[str, Any], units: int, st: Stats,
                   key: str, scheduled: float | None = None) -> str:
    import aiohttp

    st.attempted += 1
    try:
        return await _one_order(session, server.base, body, units, st, key, scheduled)
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        st.errors[type(exc).__name__] += 1
        if server.alive():
            await asyncio.sleep(0.05)
        return "error"


async def _client(i: int, session: Any, server: Server, plan: Plan, load: Load, st: Stats,
                  flash: bool, seed: int) -> None:
    """Closed loop: the next order starts when the previous one is answered."""
    rng = random.Random(f"{seed}-{i}-{flash}")
    while (n := load.take()) is not None:
        body, units = _order_body(rng, plan, n, flash)
        outcome = await _attempt(session, server, body, units, st, plan.key(i))
        if not server.alive():
            return
        if flash and outcome == "sold_out":
            load.sold_out = True  # available is 0 for good: drafts hold nothing back


async def _open_loop(session: Any, server: Server, plan: Plan, load: Load, st: Stats,
                     clients: int, rate: float, seed: int) -> None:
    """Open loop: orders are due at a fixed rate whatever the answers; at most `clients`
    are in flight (the connector limit), later ones wait and that wait counts."""
    rng = random.Random(f"{seed}-open")
    slots = asyncio.Semaphore(clients)
    started = time.perf_counter()
    tasks = []

    async def one(body: dict[str, Any], units: int, due: float, key: str) -> None:
        async with slots:
            await _attempt(session, server, body, units, st, key, scheduled=due)

    i = 0
    while (n := load.take()) is not None and server.alive():
        due = started + i / rate
        i += 1
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body, units = _order_body(rng, plan, n, False)
        tasks.append(asyncio.create_task(one(body, units, due, plan.key(n))))
    await asyncio.gather(*tasks)


async def _server_side(session: Any, base: str) -> dict[str, tuple[float, int]]:
    """Sum and count of lvyue_http_request_seconds per route, from /metrics."""
    out: dict[str, tuple[float, int]] = {}
    try:
        async with session.get(f"{base}/metrics") as r:
            text = await r.text()
    except Exception:  # informational only
        return out
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r'lvyue_http_request_seconds_(sum|count)\{route="([^"]+)"\} (\S+)', line)
        if m:
            if m.group(1) == "sum":
                sums[m.group(2)] = float(m.group(3))
            else:
                counts[m.group(2)] = int(float(m.group(3)))
    for route, s in sums.items():
        out[route] = (s, counts.get(route, 0))
    return out


async def run_phase(session: Any, server: Server, pg: PgCluster | None, plan: Plan,
                    clients: int, max_orders: int, seconds: float, flash: bool,
                    seed: int, rate: float | None = None) -> Stats:
    st = Stats()
    before_metrics = await _server_side(session, server.base)
    pg_pid = pg.postmaster_pid() if pg else None
    s0, c0 = proc_cpu_s(server.pid), self_cpu_s()
    m0, o0 = thread_cpu_s(server.pid)
    p0 = tree_cpu_s(pg_pid) if pg_pid else 0.0
    started = time.monotonic()
    load = Load(max_orders, started + seconds)
    if rate:
        tasks = [asyncio.create_task(_open_loop(session, server, plan, load, st, clients, rate,
                                                seed))]
    else:
        tasks = [asyncio.create_task(_client(i, session, server, plan, load, st, flash, seed))
                 for i in range(clients)]
    # In-flight requests are bounded by the client timeout; this is the last safety net.
    done, pending = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT_S + 10)
    for t in pending:
        t.cancel()
    if pending:
        st.errors["cancelled_at_hard_deadline"] += len(pending)
        await asyncio.gather(*pending, return_exceptions=True)
    for t in done:
        if t.exception() is not None:
            st.errors[f"client crashed: {t.exception()!r}"[:120]] += 1
    st.wall_s = time.monotonic() - started
    st.server_cpu_s = proc_cpu_s(server.pid) - s0
    m1, o1 = thread_cpu_s(server.pid)
    st.server_main_cpu_s, st.server_other_cpu_s = m1 - m0, o1 - o0
    st.pg_measured = bool(pg_pid)
    st.client_cpu_s = self_cpu_s() - c0
    st.pg_cpu_s = (tree_cpu_s(pg_pid) - p0) if pg_pid else 0.0
    after = await _server_side(session, server.base)
    for route, (s, c) in after.items():
        s_prev, c_prev = before_metrics.get(route, (0.0, 0))
        if c - c_prev > 0:
            st.server_side[route] = (s - s_prev, c - c_prev)
    return st


# ---------------------------------------------------------------------------------------
# Set-up and the oversell check (direct database reads, tortoise)
# ---------------------------------------------------------------------------------------


async def make_plan(url: str, flash_sku: str | None, n_keys: int = 0) -> Plan:
    """What to order, and one API key per client (role integration, like an ERP's), issued
    on the server's database as `python bot.py keys create` does."""
    from storage import api_keys, db
    from storage.models import Customer, Product, Stock, Warehouse

    await db.init(url, create=False)
    try:
        rows = await Customer.all().order_by("code").values_list(
            "code", "active", "credit_limit", "exposure")
        customers, inactive, tight = [], 0, 0
        for code, active, limit, exposure in rows:
            if not active:
                inactive += 1
            elif limit - exposure < MIN_CUSTOMER_HEADROOM:
                tight += 1
            else:
                customers.append(code)
        whs = {w.id: w for w in await Warehouse.all()}
        products = {pid: (sku, cat) for pid, sku, cat, active in await Product.all().values_list(
            "id", "sku", "category", "active") if active}
        servable: dict[int, int] = defaultdict(int)
        flash_rows: list[tuple[int, str, int, int]] = []
        for wid, pid, on_hand, reserved, safety in await Stock.all().values_list(
                "warehouse_id", "product_id", "on_hand", "reserved", "safety_stock"):
            if pid not in products:
                continue
            wh = whs[wid]
            kind = wh.kind.value if hasattr(wh.kind, "value") else str(wh.kind)
            if kind == "virtual":
                if wh.code == FLASH_CODE and on_hand - reserved > 0:
                    flash_rows.append((on_hand - reserved, products[pid][0], wid, pid))
                continue
            floor = max(safety, 50 if products[pid][1] == "BRK" else 0)  # the BRK rule
            servable[pid] += max(0, on_hand - reserved - floor)
        skus = sorted(products[pid][0] for pid, n in servable.items() if n >= MIN_SKU_SERVABLE)
        chosen = None
        if flash_rows:
            flash_rows.sort()
            chosen = next((r for r in flash_rows if r[1] == flash_sku), None) if flash_sku \
                else flash_rows[0]
            if flash_sku and chosen is None:
                raise SystemExit(f"--flash-sku {flash_sku}: no available stock in {FLASH_CODE}")
        keys = [(await api_keys.create(f"bench-{i}", "integration"))[1] for i in range(n_keys)]
        return Plan(customers, skus, chosen[1] if chosen else None,
                    chosen[0] if chosen else 0, (chosen[2], chosen[3]) if chosen else None,
                    inactive, tight, keys)
    finally:
        await db.close()


@dataclass
class Check:
    rows: int = 0
    touched: int = 0
    bad_bounds: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    orphan_reserved_shipments: int = 0
    row_drift: list[str] = field(default_factory=list)  # reserved vs reservation rows
    flash_row: tuple[int, int] | None = None  # on_hand, reserved
    orders_by_status: dict[str, int] = field(default_factory=dict)

    @property
    def oversell(self) -> int:
        return (len(self.bad_bounds) + len(self.mismatches) + self.orphan_reserved_shipments
                + len(self.row_drift))


async def oversell_check(url: str, flash_key: tuple[int, int] | None) -> Check:
    from tortoise.functions import Count

    from storage import db, reservations
    from storage.models import Order, OrderStatus, Product, Shipment, Stock, Warehouse

    await db.init(url, create=False)
    try:
        ck = Check()
        skus = dict(await Product.all().values_list("id", "sku"))
        whc = dict(await Warehouse.all().values_list("id", "code"))
        stock = {(w, p): (on_hand, reserved) for w, p, on_hand, reserved in
                 await Stock.all().values_list("warehouse_id", "product_id", "on_hand",
                                               "reserved")}
        ck.rows = len(stock)
        expected: dict[tuple[int, int], int] = defaultdict(int)
        touched: set[tuple[int, int]] = set()
        for wid, lines, reserved, status in await Shipment.all().values_list(
                "warehouse_id", "lines", "reserved", "order__status"):
            for ln in lines or []:
                key = (wid, int(ln["product_id"]))
                touched.add(key)
                if reserved and str(getattr(status, "value", status)) == OrderStatus.allocated:
                    expected[key] += int(ln["qty"])
                elif reserved:
                    ck.orphan_reserved_shipments += 1
        for key, (on_hand, reserved) in stock.items():
            if reserved != 0:
                touched.add(key)
            if not 0 <= reserved <= on_hand:
                ck.bad_bounds.append(f"{whc.get(key[0])}/{skus.get(key[1])}: "
                                     f"on_hand {on_hand}, reserved {reserved}")
        ck.touched = len(touched)
        for key in sorted(touched):
            got = stock.get(key, (0, 0))[1]
            if got != expected.get(key, 0):
                ck.mismatches.append(f"{whc.get(key[0])}/{skus.get(key[1])}: reserved {got}, "
                                     f"reserved shipments of allocated orders "
                                     f"{expected.get(key, 0)}")
        ck.row_drift = [f"{d.warehouse}/{d.sku}: reserved {d.counter}, reservation rows "
                        f"{d.rows}" for d in await reservations.drift()]
        if flash_key:
            ck.flash_row = stock.get(flash_key)
        for status, n in await Order.all().group_by("status").annotate(
                n=Count("id")).values_list("status", "n"):
            ck.orders_by_status[str(getattr(status, "value", status))] = n
        return ck
    finally:
        await db.close()


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def _lat_row(name: str, v: Sequence[float]) -> str:
    if not v:
        return f"    {name:<22}{0:>7}"
    mean = sum(v) / len(v)
    return (f"    {name:<22}{len(v):>7}{pct(v, 50):>9.1f}{pct(v, 90):>9.1f}"
            f"{pct(v, 99):>9.1f}{max(v):>9.1f}{mean:>9.1f}")


def _counts(c: Counter[Any]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(c.items(), key=lambda kv: str(kv[0]))) \
        or "none"


def report_phase(name: str, st: Stats, clients: int, ncpu: int, engine: str) -> list[str]:
    wall = st.wall_s or 1e-9
    out = [
        f"  [{name}] {clients} {'connections' if 'open' in name else 'clients'}, "
        f"wall {st.wall_s:.2f} s, "
        f"orders attempted {st.attempted}",
        f"    confirmed orders/s:        {st.confirmed / wall:8.1f}   "
        f"({st.confirmed} confirmed, {st.units_confirmed} units)",
        f"    create+confirm pairs/s:    {st.pairs / wall:8.1f}   ({st.pairs} pairs; "
        f"held 409: {st.held}; create not 201: {st.attempted - st.pairs})",
        "    latency ms             n      p50      p90      p99      max     mean",
        _lat_row("create", st.create_ms),
        _lat_row("confirm", st.confirm_ms),
        _lat_row("order (create+confirm)", st.order_ms),
        f"    status create:  {_counts(st.create_status)}",
        f"    status confirm: {_counts(st.confirm_status)}",
    ]
    if st.create_gates:
        out.append(f"    422 failed gates: {_counts(st.create_gates)}")
    if st.confirm_gates:
        out.append(f"    409 failed gates: {_counts(st.confirm_gates)}")
    n5xx = sum(n for s, n in (st.create_status + st.confirm_status).items() if s >= 500)
    if n5xx:
        out.append(f"    !!!!! {n5xx} 5xx RESPONSES !!!!! "
                   f"create: {_counts(Counter({s: n for s, n in st.create_status.items() if s >= 500}))}; "  # noqa: E501
                   f"confirm: {_counts(Counter({s: n for s, n in st.confirm_status.items() if s >= 500}))}")  # noqa: E501
        out += [f"      {s}" for s in st.samples_5xx]
    else:
        out.append("    5xx: none")
    if st.errors:
        out.append(f"    !!!!! transport errors: {_counts(st.errors)}")
    busy = st.server_cpu_s + st.client_cpu_s + st.pg_cpu_s
    cpu = (f"    CPU s (% of one core): server {st.server_cpu_s:.1f} "
           f"({100 * st.server_cpu_s / wall:.0f}%), bench client {st.client_cpu_s:.1f} "
           f"({100 * st.client_cpu_s / wall:.0f}%)")
    if st.pg_measured:
        cpu += f", postgres {st.pg_cpu_s:.1f} ({100 * st.pg_cpu_s / wall:.0f}%)"
    cpu += f"; all {busy:.1f} = {100 * busy / (wall * ncpu):.0f}% of {ncpu} cores"
    out.append(cpu)
    out.append(f"    server threads: event loop {st.server_main_cpu_s:.1f} s "
               f"({100 * st.server_main_cpu_s / wall:.0f}%), other threads "
               f"{st.server_other_cpu_s:.1f} s ({100 * st.server_other_cpu_s / wall:.0f}%)"
               + ("; postgres CPU not measured (cluster given by --db)"
                  if engine == "postgres" and not st.pg_measured else ""))
    if st.pairs:
        out.append(f"    server CPU per create+confirm pair: "
                   f"{1000 * st.server_cpu_s / st.pairs:.2f} ms"
                   + (f" (+ postgres {1000 * st.pg_cpu_s / st.pairs:.2f} ms)"
                      if st.pg_measured else "")
                   + f"; client CPU per pair {1000 * st.client_cpu_s / st.pairs:.2f} ms")
    side = []
    for route, label in (("/api/orders", "create"), ("/api/orders/{no}/confirm", "confirm")):
        if route in st.server_side:
            s, c = st.server_side[route]
            side.append(f"{label} {1000 * s / c:.1f} ms (n={c})")
    if side:
        out.append("    server-side mean handler time (/metrics; excludes waiting for the "
                   "event loop): " + ", ".join(side))
    return out


# ---------------------------------------------------------------------------------------
# One engine
# ---------------------------------------------------------------------------------------


async def run_engine(engine: str, args: argparse.Namespace) -> tuple[bool, dict[str, Any]]:
    import aiohttp

    workdir = tempfile.mkdtemp(prefix=f"lvyue-bench-{engine}-")
    pg: PgCluster | None = None
    server: Server | None = None
    ok = True
    summary: dict[str, Any] = {"engine": engine}
    ncpu = len(os.sched_getaffinity(0))
    print(f"\n=== engine: {engine} ===")
    try:
        if args.db:
            url = args.db
            print("  using the given database (--db): not created, not deleted")
        elif engine == "sqlite":
            url = f"sqlite://{workdir}/bench.db"
        else:
            pg = PgCluster()
            t = time.monotonic()
            pg.start()
            url = await pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
            print(f"  PostgreSQL cluster started in {time.monotonic() - t:.1f} s "
                  f"(scripts/pg; fsync=off, synchronous_commit=off)")
        port = args.port or free_port()
        server = Server(url, port, workdir)
        connector = aiohttp.TCPConnector(limit=args.clients)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         trust_env=False) as session:
            server.start()
            took = await server.wait_healthy(session)
            print(f"  db {url}")
            print(f"  server pid {server.pid} on {server.base}: healthy after {took:.1f} s "
                  "(includes loading the demo data)")
            plan = await make_plan(url, args.flash_sku, max(args.clients, args.flash_clients))
            print(f"  API keys: {len(plan.keys)} (role integration), one per client, each "
                  "request with `Authorization: Bearer`")
            print(f"  customers: {len(plan.customers)} used round-robin "
                  f"({plan.active_skipped} inactive skipped, {plan.headroom_skipped} with "
                  f"< {MIN_CUSTOMER_HEADROOM} credit left skipped); SKUs: {len(plan.skus)} "
                  f"with >= {MIN_SKU_SERVABLE} servable units")
            if not plan.customers or not plan.skus:
                raise RuntimeError("no usable customers or SKUs in the database")
            # Warm-up: the first request loads the product catalogue snapshot (18k rows).
            warm = Stats()
            t = time.perf_counter()
            await _one_order(session, server.base, {"customer": plan.customers[0], "lines": [
                {"sku": plan.skus[0], "qty": 1}]}, 1, warm, plan.key(0))
            print(f"  warm-up order (loads the catalogue snapshot): "
                  f"{1000 * (time.perf_counter() - t):.0f} ms, create {dict(warm.create_status)}"
                  f", confirm {dict(warm.confirm_status)}")
            phases = ["normal", "flash"] if args.phase == "both" else [args.phase]
            for phase in phases:
                if phase == "normal":
                    st = await run_phase(session, server, pg, plan, args.clients, args.orders,
                                         args.duration, False, args.seed, args.rate)
                    lines = report_phase(f"normal, open loop {args.rate:g} orders/s"
                                         if args.rate else "normal, closed loop", st,
                                         args.clients, ncpu, engine)
                    summary["normal"] = st
                else:
                    if not plan.flash_sku:
                        print(f"  [flash] skipped: no {FLASH_CODE} stock in the database")
                        continue
                    k = plan.flash_available
                    print(f"  [flash] SKU {plan.flash_sku} @ {FLASH_CODE}: K = {k} available; "
                          f"{args.flash_clients} clients, campaign orders of qty 1 until sold "
                          f"out (bounded: {k + 20 * args.flash_clients} orders, "
                          f"{args.flash_seconds:.0f} s)")
                    st = await run_phase(session, server, pg, plan, args.flash_clients,
                                         k + 20 * args.flash_clients, args.flash_seconds,
                                         True, args.seed)
                    lines = report_phase("flash, closed loop", st, args.flash_clients, ncpu,
                                         engine)
                    lines.append(f"    flash sale: {st.units_confirmed} of K={k} units sold by "
                                 f"confirmed orders; {'SOLD OUT' if st.units_confirmed >= k else 'not sold out'}"  # noqa: E501
                                 f"; sold > K would be oversell: "
                                 f"{'NO' if st.units_confirmed <= k else 'YES!!!'}")
                    if st.units_confirmed > k:
                        ok = False
                    summary["flash"] = st
                    summary["flash_k"] = k
                for ln in lines:
                    print(ln)
                sys.stdout.flush()
                n5xx = sum(n for s, n in (st.create_status + st.confirm_status).items()
                           if s >= 500)
                if n5xx or st.errors:
                    ok = False
        # Stop load, then the server, then read the database directly.
        rc = server.stop()
        print(f"  server stopped (exit code {rc})")
        errs = server.log_errors()
        if errs:
            print(f"  !!!!! server log has errors/warnings (first {len(errs)} lines):")
            for ln in errs:
                print(f"      {ln}")
        ck = await oversell_check(url, plan.flash_key)
        print(f"  oversell check (database read directly after the server stopped): "
              f"{ck.rows} stock rows, {ck.touched} touched (warehouse, sku)")
        print(f"    orders by status: {ck.orders_by_status}")
        print(f"    0 <= reserved <= on_hand on every row: "
              f"{'ok' if not ck.bad_bounds else f'{len(ck.bad_bounds)} BAD'}")
        print(f"    reserved == Σ qty of reserved shipments of allocated orders, every touched "
              f"row: {'ok' if not ck.mismatches else f'{len(ck.mismatches)} MISMATCHES'}")
        print(f"    reserved == Σ qty of active reservation rows, every row: "
              f"{'ok' if not ck.row_drift else f'{len(ck.row_drift)} DRIFT'}")
        if ck.orphan_reserved_shipments:
            print(f"    reserved shipment lines of orders not allocated: "
                  f"{ck.orphan_reserved_shipments}")
        if ck.flash_row and "flash_k" in summary:
            on_hand, reserved = ck.flash_row
            print(f"    flash row {plan.flash_sku}@{FLASH_CODE}: on_hand {on_hand}, reserved "
                  f"{reserved}, available {on_hand - reserved}")
        for ln in (ck.bad_bounds + ck.mismatches + ck.row_drift)[:30]:
            print(f"      {ln}")
        print(f"  oversell: {ck.oversell}" if ck.oversell == 0 else
              f"  !!!!! OVERSELL: {ck.oversell} offending rows/lines !!!!!")
        summary["oversell"] = ck.oversell
        if ck.oversell:
            ok = False
        normal = summary.get("normal")
        if isinstance(normal, Stats) and normal.order_ms:
            rate = normal.confirmed / normal.wall_s
            p99 = pct(normal.order_ms, 99)
            met = rate >= TARGET_ORDERS_PER_S and p99 < TARGET_P99_MS and ck.oversell == 0
            print(f"  target (>= {TARGET_ORDERS_PER_S} confirmed orders/s at 50 clients, order "
                  f"p99 < {TARGET_P99_MS} ms, zero oversell): {'MET' if met else 'NOT MET'} "
                  f"— measured {rate:.1f}/s, p99 {p99:.0f} ms, oversell {ck.oversell}")
    finally:
        if server is not None and server.alive():
            server.stop()
        if pg is not None:
            pg.stop(keep=args.keep)
        if args.keep:
            print(f"  kept: {workdir} (server.log" + (", bench.db)" if engine == "sqlite"
                                                       else ")"))
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return ok, summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--duration", type=float, help="seconds of the normal phase (default 20; "
                   "with --orders alone: a 120 s safety bound)")
    p.add_argument("--orders", type=int, help="stop the normal phase after N orders")
    p.add_argument("--phase", choices=["normal", "flash", "both"], default="both")
    p.add_argument("--flash-clients", type=int, help="clients in the flash phase "
                   "(default --clients)")
    p.add_argument("--flash-seconds", type=float, default=30.0,
                   help="time bound of the flash phase (default 30)")
    p.add_argument("--flash-sku", help=f"SKU of the {FLASH_CODE} warehouse to sell out "
                   "(default: the one with the least stock)")
    p.add_argument("--port", type=int, help="server port (default: a free one)")
    p.add_argument("--rate", type=float, help="open loop: orders due at this rate per second "
                   "(at most --clients in flight) instead of closed-loop clients")
    p.add_argument("--db", help="run against this existing database URL instead of a fresh "
                   "one (demo data loaded only if it is empty); --engine follows the URL")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--keep", action="store_true", help="leave the temp dir (DB, server log)")
    args = p.parse_args(argv)
    if args.clients < 1 or (args.orders is not None and args.orders < 1):
        p.error("--clients and --orders must be positive")
    if args.duration is None:
        args.duration = 120.0 if args.orders else 20.0
    args.orders = args.orders or HARD_ORDER_CAP
    args.flash_clients = args.flash_clients or args.clients
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    if args.db:
        from storage.db import engine as engine_of

        host = re.sub(r"^[a-z]+://([^@/]*@)?", "", args.db).split("/", 1)[0].split(":")[0]
        if engine_of(args.db) == "postgres" and host not in (HOST, "localhost"):
            p.error(f"--db must point at {HOST}")
        engines = [engine_of(args.db)]

    print("== lvyue intake bench ==")
    for ln in machine_lines():
        print(ln)
    print(f"run: engines {engines}, {args.clients} clients, normal phase "
          f"{args.duration:.0f} s" + (f" or {args.orders} orders" if args.orders <
                                      HARD_ORDER_CAP else "") + f", phases {args.phase}"
          + (f", open loop at {args.rate:g} orders/s" if args.rate else ", closed loop"))
    print("note: server (one process) and this load generator share the same cores")
    all_ok = True
    for engine in engines:
        ok, _ = asyncio.run(run_engine(engine, args))
        all_ok = all_ok and ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
