"""SQLite shared with another process: while an outside process holds the write lock (an
import, a script: BEGIN IMMEDIATE and nothing else for as long as it likes), /healthz says
`degraded` instead of hanging, WeCom callbacks are still answered (kept in memory, within a
bound, then refused with 503 so WeCom retries), and once the lock is released every
acknowledged message is stored, worked and answered once. No durations are asserted beyond
"answered before WeCom's 5 s window" style client timeouts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from storage.inbox_models import InboxMessage
from storage.models import Counter as CounterRow
from tests.fakes.wecom_server import FakeWeCom
from tests.server_process import ServerProcess

WECOM_WINDOW = 4.5  # seconds: a client timeout inside WeCom's 5 s, not a measured duration
LOCKER = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("INSERT INTO counters (name, value) VALUES ('outside', 1)")
print("locked", flush=True)
sys.stdin.readline()
c.execute("COMMIT")
print("released", flush=True)
"""


class OutsideLock:
    """Another process holding SQLite's write lock until `release()`."""

    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", LOCKER, path], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        assert self.proc.wait(timeout=10) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sqlite_file(url: str) -> str:
    return url.split("://", 1)[1].split("?", 1)[0]


async def health(http: httpx.AsyncClient, base: str) -> dict:
    r = await http.get(f"{base}/healthz", timeout=WECOM_WINDOW)
    assert r.status_code == 200
    return r.json()


async def until(condition, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not await condition():
        assert time.monotonic() < deadline, "the server did not catch up after the lock"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("engine", ["sqlite"])
async def test_an_outside_write_lock_degrades_health_and_loses_no_callback(world, db, tmp_path):
    users = [f"lk{i}" for i in range(4)]
    async with FakeWeCom() as fake, httpx.AsyncClient(trust_env=False) as http:
        server = ServerProcess(db, fake, tmp_path)
        await server.start()
        lock = OutsideLock(sqlite_file(db))
        try:
            state = await health(http, server.base)
            assert state["status"] == "degraded" and any("写锁" in r for r in state["reasons"])
            for i, user in enumerate(users):
                body, query = server.callback(user, "帮助", 9_000 + i)
                r = await http.post(f"{server.base}/wecom/callback", params=query,
                                    content=body, timeout=WECOM_WINDOW)
                assert r.status_code == 200  # answered in time, though nothing can be stored
            state = await health(http, server.base)
            assert any("暂存内存" in r for r in state["reasons"]), state
            assert fake.delivered() == []  # nothing is worked before it is stored
            lock.release()

            async def answered() -> bool:
                return all(fake.delivered(u) for u in users)

            await until(answered)

            async def healthy() -> bool:
                return (await health(http, server.base))["status"] == "ok"

            await until(healthy)
            await asyncio.sleep(0.5)  # time for a wrong second answer to show
        finally:
            lock.kill()
            server.stop()
    assert Counter(d.user for d in fake.delivered()) == dict.fromkeys(users, 1)
    assert await InboxMessage.filter(status="done").count() == len(users)
    assert await CounterRow.filter(name="outside").exists()  # the other process's write too


@pytest.mark.parametrize("engine", ["sqlite"])
async def test_beyond_the_memory_bound_wecom_is_asked_to_retry(world, db, aiohttp_client,
                                                               monkeypatch, tmp_path):
    from dataclasses import replace

    from bot.app import build
    from bot.config import Secret, defaults
    from handlers import wecom_callback

    monkeypatch.setattr(wecom_callback, "BUFFER_MAX", 2)
    async with FakeWeCom() as fake:
        server = ServerProcess(db, fake, tmp_path)  # only for its envelopes and settings
        env = {k: Secret(v) for k, v in server.env().items() if k.startswith("WECOM_")}
        client = await aiohttp_client(build(replace(defaults(), env=env), manage_db=False))
        lock = OutsideLock(sqlite_file(db))
        try:
            statuses = []
            for i in range(3):
                body, query = server.callback(f"bf{i}", "帮助", 9_100 + i)
                resp = await client.post("/wecom/callback", params=query, data=body)
                statuses.append(resp.status)
            assert statuses == [200, 200, 503]  # the third is WeCom's to retry
        finally:
            lock.release()
            lock.kill()

        async def answered() -> bool:
            return bool(fake.delivered("bf0") and fake.delivered("bf1"))

        await until(answered)
    keys = set(await InboxMessage.all().values_list("key", flat=True))
    assert keys == {"app:msg:9100", "app:msg:9101"}  # the refused one was never stored

