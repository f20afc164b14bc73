"""kill -9 during dispatch: a real dispatcher process is killed while the 公众号 has accepted
messages it never answered (the window between send and mark_sent); after a restart every
notification is delivered, and

* with WeChat's client_msg_id protection (the real API's behaviour [C]): exactly once on
  the customer's phone;
* without it (a channel that has none, like the group robot): at most once more, and only
  for the sends in flight at the kill, which is the bound messages/outbox.py documents.

Recovery is tested both ways: the same worker id restarts (its old claims are freed at
once) and a different worker takes over after the dead worker's lease runs out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from storage import outbox
from storage.outbox import Notification, OutboxNotification, OutboxStatus
from tests.fakes.wechat_oa_server import FakeWeChatOA

ROOT = Path(__file__).resolve().parents[2]
N = 60
CONCURRENCY = 4
HOLD_FROM = 20
CTX = {"客户姓名": "王师傅", "客户名称": "恒通汽修", "单号": "SO1", "快递公司": "顺丰速运",
       "运单号": "SF1", "预计送达时间": "11月26日 15:00", "时间": "11月26日 15:00",
       "地址": "杭州***", "跟踪链接": "https://x/t/1", "包裹": "", "状态": "已出库",
       "事件时间": "11月25日 12:00", "发货仓": "杭州仓"}


def pushes(n: int) -> list[Notification]:
    return [Notification(dedup_key=f"shipped:SO{i}:1:o{i}:wechat_oa", event="shipped",
                         channel="wechat_oa", recipient=f"o{i}", template="shipped.wechat_oa",
                         context=CTX | {"单号": f"SO{i}"}, order_no=f"SO{i}") for i in range(n)]


async def start_worker(db: str, oa: str, worker: str, lease: float) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.messages.outbox_worker", "--db", db, "--oa", oa,
        "--worker", worker, "--lease", str(lease), "--concurrency", str(CONCURRENCY),
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if line.strip() != b"ready":
        err = await proc.stderr.read() if proc.stderr else b""
        pytest.fail(f"worker did not start: {line!r} {err.decode()[-2000:]}")
    return proc


async def until_settled(limit: float) -> float:
    started = time.perf_counter()
    async with asyncio.timeout(limit):
        while True:
            c = await outbox.counts()
            if c["pending"] == 0 and c["sending"] == 0:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(("restart_as", "lease", "dedupe"), [
    ("same", 60.0, True),  # same worker id: its claims are freed at start
    ("other", 2.0, True),  # another worker: waits for the dead worker's lease
    ("same", 60.0, False),  # a channel without resend protection: the bound
], ids=["same-worker", "lease-expiry", "no-channel-dedupe"])
async def test_kill_9_mid_dispatch_then_restart(db: str, restart_as: str, lease: float,
                                                dedupe: bool) -> None:
    await outbox.enqueue(pushes(N))
    async with FakeWeChatOA(latency=0.01, honour_client_msg_id=dedupe) as fake:
        fake.hold_from(HOLD_FROM)
        first = await start_worker(db, fake.url, "worker-1", lease)
        try:
            await asyncio.wait_for(fake.held.wait(), 30)
            await asyncio.sleep(0.3)  # let every lane fill up: several sends hang in flight
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
        finally:
            await stop(first)
        held = set(fake.held_msgids)
        in_flight = {s.client_msg_id for s in fake.sent if s.msgid in held}
        counts = await outbox.counts()
        assert counts["sent"] < N and counts["sending"] >= len(in_flight) >= 1
        assert len(in_flight) <= CONCURRENCY

        lease_ends = {r.id: r.claimed_until_ms for r in await OutboxNotification.filter(
            status=OutboxStatus.sending)}
        fake.hold_from(None)
        worker = "worker-1" if restart_as == "same" else "worker-2"
        second = await start_worker(db, fake.url, worker, lease)
        try:
            await until_settled(60)
        finally:
            await stop(second)

        per_id = fake.per_client_msg_id()
        assert len(per_id) == N  # every notification reached WeChat
        if dedupe:
            assert set(per_id.values()) == {1}  # exactly once on the phones
            assert set(fake.suppressed) == in_flight  # the in-flight ones were resent, absorbed
        else:
            twice = {k for k, n in per_id.items() if n > 1}
            assert twice == in_flight and max(per_id.values()) == 2
        if restart_as == "other":  # another worker had to wait for the dead one's lease
            assert lease_ends and all(lease_ends.values())
            assert fake.suppressed_at.keys() == in_flight
            assert min(fake.suppressed_at.values()) * 1000 >= min(lease_ends.values())
    rows = await OutboxNotification.all()
    assert {r.status for r in rows} == {OutboxStatus.sent}
    assert all(r.attempts == 2 for r in rows if r.claimed_by is None and r.remote_id
               and int(r.remote_id) in held)
