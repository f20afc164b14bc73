"""WeCom callback bench: a burst of encrypted app callbacks against a real `python bot.py serve`.

    python bench/callback.py [--rate 200] [--duration 10] [--dupes 0.1]
                             [--mix help=3,stock=3,order=4] [--connections 100]
                             [--drain-timeout 30] [--port P] [--seed 2026] [--keep]

The script:

1. starts the fake WeCom API (tests/fakes/wecom_server.FakeWeCom) in a child process on
   127.0.0.1, so its CPU is neither the server's nor the load generator's;
2. starts `python bot.py serve` as a subprocess on a fresh SQLite file (the demo data loads
   on the first start) with WECOM_CORP_ID/AGENT_ID/SECRET/TOKEN/AES_KEY set and
   WECOM_API_BASE pointing at the fake, so POST /wecom/callback is mounted and every reply
   goes out through the fake's message/send;
3. builds every callback up front (AppCrypto.seal, the same envelope WeCom sends): text
   messages 帮助, 查库存 SKU, and order texts "C0002 OIL00001 x1 送上海市…", one message
   per user id (the fake's 30 msgs/min/member limit is not what is measured), and a share
   of re-sends of an earlier MsgId (a WeCom retry, re-sealed with a new nonce);
4. warms up (one message of each kind: catalogue snapshot, access token), then sends the
   burst open loop: callback i is due at i / rate whatever the answers. Time to HTTP 200
   counts from the due time, so a wait for a connection or the event loop is included;
5. waits (bounded) until the fake has recorded an answer for every distinct MsgId, plus
   a grace period for late doubles, and checks: exactly one delivered message per
   distinct MsgId, none silently dropped by the fake's rate limit, duplicates answered
   once. After the server stops, the database is read for orders and inbox rows (every
   distinct MsgId stored once and worked: status done).

Target: p99 time-to-200 < 50 ms at 200 msg/s, zero lost, zero doubled. Exit 1 otherwise.
Only 127.0.0.1 is contacted. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
BENCH = str(Path(__file__).resolve().parent)
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

from intake import (  # noqa: E402  (bench/intake.py)
    HOST,
    Server,
    _server_side,
    free_port,
    machine_lines,
    make_plan,
    pct,
    proc_cpu_s,
    self_cpu_s,
    thread_cpu_s,
)

TARGET_P99_MS = 50.0
TOKEN = "lvyueBenchToken"
ALNUM = string.ascii_letters + string.digits
MSGID_BASE = 7_300_000_000_000_000_000  # WeCom MsgIds are 64-bit integers
REQUEST_TIMEOUT_S = 10.0
GRACE_S = 1.0  # after the last expected answer: time for a wrongly doubled one to show
ADDRESSES = ("上海市嘉定区莘松路135号", "浙江省杭州市西湖区文三路100号",
             "江苏省苏州市工业园区星湖街328号", "上海市闵行区漕宝路1500号",
             "浙江省宁波市鄞州区天童南路588号")
KINDS = ("help", "stock", "order")


# ---------------------------------------------------------------------------------------
# The fake WeCom API, in a child process
# ---------------------------------------------------------------------------------------

def serve_fake(conn: Any) -> None:
    asyncio.run(_serve_fake(conn))


async def _serve_fake(conn: Any) -> None:
    from tests.fakes.wecom_server import FakeWeCom

    fake = await FakeWeCom().start()
    conn.send({"url": fake.url, "corp_id": fake.corp_id, "secret": fake.secret,
               "agent_id": fake.agent_id, "pid": os.getpid()})
    loop = asyncio.get_running_loop()
    try:
        while (cmd := await loop.run_in_executor(None, conn.recv)) != "stop":
            if isinstance(cmd, tuple) and cmd[0] == "progress":
                # (distinct users with this prefix sent to, time of the last send to them)
                prefix = cmd[1]
                users, last = set(), 0.0
                for c in fake.calls:
                    if c.path == "message/send" and isinstance(c.body, dict) \
                            and str(c.body.get("touser", "")).startswith(prefix):
                        users.add(c.body["touser"])
                        last = c.at
                conn.send((len(users), last))
            elif cmd == "report":
                per_user: dict[str, list[tuple[str, bool]]] = defaultdict(list)
                for d in fake.deliveries:
                    per_user[d.user].append((d.msgtype, d.dropped))
                paths = Counter(c.path for c in fake.calls)
                first_at: dict[str, float] = {}
                for c in fake.calls:
                    if c.path == "message/send" and isinstance(c.body, dict):
                        first_at.setdefault(str(c.body.get("touser", "")), c.at)
                conn.send({"per_user": dict(per_user), "paths": dict(paths),
                           "first_at": first_at,
                           "updates": len(fake.updates), "webhook": len(fake.webhook_messages)})
    finally:
        await fake.close()


class Fake:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve_fake, args=(child,), daemon=True)
        self.proc.start()
        self.info: dict[str, Any] = self.pipe.recv()

    def ask(self, cmd: Any) -> Any:
        self.pipe.send(cmd)
        return self.pipe.recv()

    async def aask(self, cmd: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, self.ask, cmd)

    def stop(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(OSError):
                self.pipe.send("stop")
            self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)


class WeComServer(Server):
    """bench/intake.py's Server with the WeCom app credentials in its environment."""

    def __init__(self, url: str, port: int, workdir: str, wecom_env: dict[str, str]) -> None:
        super().__init__(url, port, workdir)
        self.wecom_env = wecom_env

    def start(self) -> None:
        log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WECOM_", "WECHAT_", "KUAIDI100_", "SF_", "ZTO_", "JD_"))
               and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.pop("LVYUE_DB", None)
        env.update(self.wecom_env)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        self.proc = subprocess.Popen(
            [sys.executable, "bot.py", "serve", "--db", self.url, "--host", HOST,
             "--port", str(self.port)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()


# ---------------------------------------------------------------------------------------
# The callbacks
# ---------------------------------------------------------------------------------------

@dataclass
class Msg:
    n: int
    kind: str
    user: str
    msg_id: int
    text: str


@dataclass
class Send:
    due: float  # seconds after the burst start
    msg: Msg
    dupe: bool
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)


def _text_xml(corp_id: str, agent_id: int, m: Msg) -> str:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{m.user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{m.text}]]></Content><MsgId>{m.msg_id}</MsgId>"
            f"<AgentID>{agent_id}</AgentID></xml>")


def seal(crypto: Any, corp_id: str, agent_id: int, m: Msg) -> tuple[bytes, dict[str, str]]:
    """The encrypted envelope WeCom POSTs, with a fresh nonce (a retry is re-sealed too)."""
    nonce = secrets.token_hex(8)
    enc, sig, ts = crypto.seal(_text_xml(corp_id, agent_id, m), nonce, str(int(time.time())))
    body = (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{enc}]]></Encrypt><AgentID>{agent_id}</AgentID></xml>")
    return body.encode(), {"msg_signature": sig, "timestamp": ts, "nonce": nonce}


def message_text(kind: str, rng: random.Random, customers: Sequence[str],
                 skus: Sequence[str]) -> str:
    if kind == "help":
        return "帮助"
    if kind == "stock":
        return f"查库存 {rng.choice(skus)}"
    return (f"{rng.choice(customers)} {rng.choice(skus)} x{rng.randint(1, 3)} "
            f"送{rng.choice(ADDRESSES)}")


def plan_burst(args: argparse.Namespace, prefix: str, customers: Sequence[str],
               skus: Sequence[str]) -> tuple[list[Send], list[Msg]]:
    """rate × duration sends; a --dupes share of them re-send a MsgId sent 0-3 s earlier."""
    rng = random.Random(args.seed)
    kinds, weights = zip(*args.mix.items(), strict=True)
    total = max(1, round(args.rate * args.duration))
    sends: list[Send] = []
    originals: list[Send] = []
    for i in range(total):
        due = i / args.rate
        recent = [s for s in originals[-int(3 * args.rate) - 1:] if s.due >= due - 3.0]
        if recent and rng.random() < args.dupes:
            sends.append(Send(due, rng.choice(recent).msg, True))
            continue
        n = len(originals)
        kind = rng.choices(kinds, weights)[0]
        m = Msg(n, kind, f"{prefix}{n:05d}", MSGID_BASE + n,
                message_text(kind, rng, customers, skus))
        s = Send(due, m, False)
        originals.append(s)
        sends.append(s)
    return sends, [s.msg for s in originals]


# ---------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------

@dataclass
class Result:
    ms: list[float] = field(default_factory=list)  # time to answer, from the due time
    ms_by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    status: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    bodies: Counter[str] = field(default_factory=Counter)
    lag_ms: list[float] = field(default_factory=list)  # send start - due (load generator)
    wall_s: float = 0.0
    t_start: float = 0.0  # wall clock (time.time) of due time 0
    t_end: float = 0.0  # wall clock (time.time) of the last answer


async def post_one(session: Any, url: str, s: Send, due_abs: float, res: Result) -> None:
    import aiohttp

    res.lag_ms.append((time.perf_counter() - due_abs) * 1000)
    label = "dupe" if s.dupe else s.msg.kind
    try:
        async with session.post(url, params=s.query, data=s.body,
                                headers={"Content-Type": "text/xml"}) as r:
            raw = await r.read()
            ms = (time.perf_counter() - due_abs) * 1000
            res.status[r.status] += 1
            if r.status == 200:
                res.ms.append(ms)
                res.ms_by_kind[label].append(ms)
                if raw:
                    res.bodies[raw[:40].decode(errors="replace")] += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        res.errors[type(exc).__name__] += 1


async def burst(session: Any, base: str, sends: list[Send]) -> Result:
    res = Result()
    url = f"{base}/wecom/callback"
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter() + 0.05
    res.t_start = time.time() + (start - time.perf_counter())  # wall clock of due time 0
    for s in sends:
        due_abs = start + s.due
        delay = due_abs - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post_one(session, url, s, due_abs, res)))
    await asyncio.gather(*tasks)
    res.wall_s = time.perf_counter() - start
    res.t_end = time.time()
    return res


def _row(name: str, v: Sequence[float]) -> str:
    if not v:
        return f"    {name:<14}{0:>6}"
    return (f"    {name:<14}{len(v):>6}{pct(v, 50):>9.1f}{pct(v, 90):>9.1f}{pct(v, 99):>9.1f}"
            f"{max(v):>9.1f}{sum(v) / len(v):>9.1f}")


async def warm_up(session: Any, base: str, fake: Fake, crypto: Any, prefix: str,
                  customers: Sequence[str], skus: Sequence[str]) -> str:
    """One message of each kind; waits for the three answers (catalogue, token, parser)."""
    rng = random.Random(1)
    info = fake.info
    t = time.perf_counter()
    for i, kind in enumerate(KINDS):
        m = Msg(i, kind, f"{prefix}{i}", MSGID_BASE - 1000 + i,
                message_text(kind, rng, customers, skus))
        body, query = seal(crypto, info["corp_id"], info["agent_id"], m)
        async with session.post(f"{base}/wecom/callback", params=query, data=body) as r:
            if r.status != 200:
                raise RuntimeError(f"warm-up callback answered {r.status}: {await r.text()}")
    deadline = time.monotonic() + 60
    while (await fake.aask(("progress", prefix)))[0] < len(KINDS):
        if time.monotonic() > deadline:
            raise RuntimeError("warm-up: the bot did not answer 3 messages within 60 s")
        await asyncio.sleep(0.05)
    return f"{1000 * (time.perf_counter() - t):.0f} ms"


async def drain(fake: Fake, prefix: str, expected: int, since: float, limit_s: float
                ) -> tuple[bool, int, float]:
    """Wait (bounded) until the fake has sent to `expected` of our users.

    Returns (all answered in time, users answered, wall time of the last send to them).
    """
    deadline = time.monotonic() + limit_s
    n, last = await fake.aask(("progress", prefix))
    while n < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        n, last = await fake.aask(("progress", prefix))
    return n >= expected, n, max(last, since)


async def db_check(url: str, msgs: list[Msg]) -> dict[str, Any]:
    """After the server stopped: orders placed from chat and inbox rows worked."""
    from storage import db
    from storage.inbox_models import InboxMessage
    from storage.models import Order

    await db.init(url, create=False)
    try:
        keys = {f"chat:{m.msg_id}" for m in msgs}
        orders = await Order.filter(idempotency_key__in=list(keys)).values_list(
            "idempotency_key", "status")
        seen = await InboxMessage.filter(
            key__in=[f"app:msg:{m.msg_id}" for m in msgs], status="done").count()
        return {"orders": len(orders), "distinct_order_keys": len({k for k, _ in orders}),
                "by_status": dict(Counter(str(getattr(s, "value", s)) for _, s in orders)),
                "seen": seen}
    finally:
        await db.close()


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

async def run(args: argparse.Namespace, workdir: str) -> bool:
    import aiohttp

    from integrations.wecom_crypto import AppCrypto

    ncpu = len(os.sched_getaffinity(0))
    fake = Fake()
    server: WeComServer | None = None
    ok = True
    try:
        info = fake.info
        aes = "".join(secrets.choice(ALNUM) for _ in range(43))
        env = {"WECOM_CORP_ID": info["corp_id"], "WECOM_AGENT_ID": str(info["agent_id"]),
               "WECOM_SECRET": info["secret"], "WECOM_TOKEN": TOKEN, "WECOM_AES_KEY": aes,
               "WECOM_API_BASE": info["url"]}
        crypto = AppCrypto(TOKEN, aes, info["corp_id"])
        url = f"sqlite://{workdir}/bench.db"
        server = WeComServer(url, args.port or free_port(), workdir, env)
        print(f"fake WeCom: {info['url']} (child process pid {info['pid']})")
        connector = aiohttp.TCPConnector(limit=args.connections)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         trust_env=False) as session:
            server.start()
            took = await server.wait_healthy(session)
            print(f"server pid {server.pid} on {server.base}, db {url}: healthy after "
                  f"{took:.1f} s (includes loading the demo data)")
            plan = await make_plan(url, None)
            customers, skus = plan.customers, plan.skus
            if not customers or not skus:
                raise RuntimeError("no usable customers or SKUs in the demo database")
            run_id = secrets.token_hex(2)
            prefix = f"bench{run_id}u"
            sends, msgs = plan_burst(args, prefix, customers, skus)
            for s in sends:
                s.body, s.query = seal(crypto, info["corp_id"], info["agent_id"], s.msg)
            kinds = Counter(m.kind for m in msgs)
            ndupe = sum(s.dupe for s in sends)
            print(f"burst: {len(sends)} callbacks at {args.rate:g}/s over {args.duration:g} s "
                  f"(open loop, at most {args.connections} connections): {len(msgs)} distinct "
                  f"MsgIds ({', '.join(f'{k} {kinds[k]}' for k in KINDS)}), {ndupe} re-sends "
                  f"of a MsgId sent 0-3 s earlier; one user id per MsgId; "
                  f"{len(customers)} customers, {len(skus)} SKUs")
            print(f"warm-up (3 messages, catalogue snapshot, access token): "
                  f"{await warm_up(session, server.base, fake, crypto, f'warm{run_id}u', customers, skus)}")  # noqa: E501
            metrics0 = await _server_side(session, server.base)
            cpu0 = proc_cpu_s(server.pid), thread_cpu_s(server.pid)[0]
            fake0, self0 = proc_cpu_s(info["pid"]), self_cpu_s()
            t0 = time.perf_counter()
            res = await burst(session, server.base, sends)
            cpu_burst = proc_cpu_s(server.pid), thread_cpu_s(server.pid)[0]
            done, n_sent, last_at = await drain(fake, prefix, len(msgs), res.t_end,
                                                args.drain_timeout)
            cpu1 = proc_cpu_s(server.pid), thread_cpu_s(server.pid)[0]
            fake1, self1 = proc_cpu_s(info["pid"]), self_cpu_s()
            cpu_wall = time.perf_counter() - t0
            await asyncio.sleep(GRACE_S)  # time for a wrongly doubled answer to show
            n_sent, last_at = await fake.aask(("progress", prefix))
            last_at = max(last_at, res.t_end)
            drain_s = last_at - res.t_end
            metrics1 = await _server_side(session, server.base)
            report = await fake.aask("report")
        rc = server.stop()

        # ---- answers ----
        per_user: dict[str, list[tuple[str, bool]]] = report["per_user"]
        lost, doubled, dropped = [], [], 0
        answer_types: dict[str, Counter[str]] = defaultdict(Counter)
        for m in msgs:
            got = per_user.get(m.user, [])
            dropped += sum(1 for _, d in got if d)
            delivered = [t for t, d in got if not d]
            if not delivered:
                lost.append(m)
            elif len(delivered) > 1:
                doubled.append(m)
            answer_types[m.kind].update(delivered)
        first_due: dict[str, float] = {}
        for s in sends:
            first_due.setdefault(s.msg.user, s.due)
        reply_ms = [1000 * (report["first_at"][m.user] - res.t_start - first_due[m.user])
                    for m in msgs if m.user in report["first_at"]]
        reply_by_kind: dict[str, list[float]] = defaultdict(list)
        for m in msgs:
            if m.user in report["first_at"]:
                reply_by_kind[m.kind].append(
                    1000 * (report["first_at"][m.user] - res.t_start - first_due[m.user]))
        others = {u: v for u, v in per_user.items()
                  if not u.startswith((prefix, f"warm{run_id}u"))}

        # ---- print ----
        print(f"\n[burst] wall {res.wall_s:.2f} s, {sum(res.status.values())} answered, "
              f"status {dict(res.status) or 'none'}"
              + (f", non-empty bodies {dict(res.bodies)}" if res.bodies else ""))
        if res.errors:
            print(f"    !!!!! transport errors: {dict(res.errors)}")
        print("    time to HTTP 200, ms (from the due time)")
        print(f"    {'':<14}{'n':>6}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'mean':>9}")
        print(_row("all", res.ms))
        for k in (*KINDS, "dupe"):
            print(_row(k, res.ms_by_kind.get(k, [])))
        print(f"    load generator lag (send start - due): p50 {pct(res.lag_ms, 50):.1f} ms, "
              f"p99 {pct(res.lag_ms, 99):.1f} ms, max {max(res.lag_ms, default=0):.1f} ms")
        side = []
        for route in ("/wecom/callback",):
            if route in metrics1:
                s1, c1 = metrics1[route]
                s0, c0 = metrics0.get(route, (0.0, 0))
                if c1 > c0:
                    side.append(f"{route} {1000 * (s1 - s0) / (c1 - c0):.2f} ms (n={c1 - c0})")
        if side:
            print("    server-side mean handler time (/metrics; excludes waiting for the event "
                  "loop): " + ", ".join(side))

        print(f"\n[drain] last callback answered -> last reply at the fake: "
              f"{1000 * drain_s:.0f} ms"
              f"{'' if done else f'  !!!!! NOT DRAINED within {args.drain_timeout:g} s'}; "
              f"users answered: {n_sent} of {len(msgs)} (one user id per MsgId)")
        print("    time to the reply at the fake (message/send), ms from the due time")
        print(f"    {'':<14}{'n':>6}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'mean':>9}")
        print(_row("all", reply_ms))
        for k in KINDS:
            print(_row(k, reply_by_kind.get(k, [])))
        print("    replies by message kind: " + "; ".join(
            f"{k}: {', '.join(f'{t} x{n}' for t, n in sorted(answer_types[k].items()))}"
            for k in KINDS if answer_types[k]))
        print(f"    fake WeCom calls: {report['paths']}"
              + (f"; card updates {report['updates']}" if report["updates"] else "")
              + (f"; webhook {report['webhook']}" if report["webhook"] else ""))
        if others:
            print(f"    messages to other users (notifications): "
                  f"{sum(len(v) for v in others.values())} to {len(others)} users")
        print(f"    lost (no answer): {len(lost)}; doubled (>1 answer): {len(doubled)}; "
              f"silently dropped by the fake's rate limit: {dropped}")
        for m in (lost + doubled)[:10]:
            got = per_user.get(m.user, [])
            print(f"      {m.user} MsgId {m.msg_id} {m.kind} {m.text!r}: {got}")

        wall = cpu_wall
        srv, main_s = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        other_s = max(0.0, srv - main_s)
        burst_srv, burst_main = cpu_burst[0] - cpu0[0], cpu_burst[1] - cpu0[1]
        print(f"\n[cpu] burst + drain {wall:.2f} s: server {srv:.2f} s "
              f"({100 * srv / wall:.0f}% of one core; event loop {main_s:.2f} s = "
              f"{100 * main_s / wall:.0f}%, other threads {other_s:.2f} s), "
              f"{1000 * srv / max(1, len(msgs)):.2f} ms per MsgId")
        print(f"    server during the burst alone: {burst_srv:.2f} s of {res.wall_s:.2f} s "
              f"({100 * burst_srv / res.wall_s:.0f}%; event loop "
              f"{100 * burst_main / res.wall_s:.0f}%)")
        print(f"    fake WeCom {fake1 - fake0:.2f} s, load generator {self1 - self0:.2f} s; "
              f"all = {100 * (srv + fake1 - fake0 + self1 - self0) / (wall * ncpu):.0f}% "
              f"of {ncpu} cores")
        print(f"    load avg now {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other "
              f"processes on these cores lengthen the tail)")
        print(f"server stopped (exit code {rc})")
        errs = server.log_errors()
        if errs:
            print(f"    server log errors/warnings (first {len(errs)} lines):")
            for ln in errs:
                print(f"      {ln}")
        ck = await db_check(url, msgs)
        n_orders = kinds["order"]
        print(f"[db] inbox rows worked (done) for the burst: {ck['seen']} of {len(msgs)} MsgIds; "
              f"orders from the burst's order texts: {ck['orders']} for {n_orders} order "
              f"messages, by status {ck['by_status']}")

        p99 = pct(res.ms, 99) if res.ms else float("inf")
        not_ok = sum(n for s, n in res.status.items() if s != 200) + sum(res.errors.values())
        met = (p99 < TARGET_P99_MS and not lost and not doubled and not dropped and done
               and not not_ok and ck["seen"] == len(msgs)
               and ck["orders"] == ck["distinct_order_keys"])
        print(f"\ntarget (p99 time-to-200 < {TARGET_P99_MS:g} ms at {args.rate:g} msg/s, zero "
              f"lost, zero doubled): {'MET' if met else 'NOT MET'} — measured p99 "
              f"{p99:.1f} ms, lost {len(lost)}, doubled {len(doubled)}, dropped {dropped}, "
              f"non-200/errors {not_ok}, drain {drain_s:.2f} s")
        ok = met
    finally:
        if server is not None and server.alive():
            server.stop()
        fake.stop()
    return ok


def _mix(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        if k.strip() not in KINDS:
            raise argparse.ArgumentTypeError(f"unknown kind {k!r}; use {', '.join(KINDS)}")
        out[k.strip()] = float(v)
    if not any(out.values()):
        raise argparse.ArgumentTypeError("the mix is empty")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=200.0, help="callbacks per second (200)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of burst (10)")
    p.add_argument("--dupes", type=float, default=0.1,
                   help="share of callbacks that re-send an earlier MsgId (0.1)")
    p.add_argument("--mix", type=_mix, default=_mix("help=3,stock=3,order=4"),
                   help="weights of the message kinds (help=3,stock=3,order=4)")
    p.add_argument("--connections", type=int, default=100,
                   help="at most this many connections in flight (100)")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="wait at most this long for the replies after the burst (30 s)")
    p.add_argument("--port", type=int, help="server port (default: a free one)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--keep", action="store_true", help="leave the temp dir (DB, server log)")
    args = p.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or not 0 <= args.dupes < 1:
        p.error("--rate and --duration must be positive, --dupes in [0, 1)")
    if args.rate * args.duration > 20_000:
        p.error("at most 20,000 callbacks per run (one user id each)")

    print("== lvyue WeCom callback bench ==")
    for ln in machine_lines():
        print(ln)
    print("note: server, fake WeCom and this load generator share the same cores")
    workdir = tempfile.mkdtemp(prefix="lvyue-bench-callback-")
    try:
        ok = asyncio.run(run(args, workdir))
    finally:
        if args.keep:
            print(f"kept: {workdir} (server.log, bench.db)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
