"""kill -9 of a real server (`python bot.py serve`, WeCom app callback against the fake
WeCom) 0, 0.5 and 1 s after the last callback of a burst was acknowledged, and while the
replies are on their way to WeCom: after each restart every acknowledged message gets
exactly one answer, every order text exactly one draft, and the inbox is worked off.

One server lives through the four kills in turn (a restart per kill, on the same port, so
with the same worker id), to keep the test's time reasonable.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from storage.inbox_models import InboxMessage
from storage.models import Order
from tests.fakes.wecom_server import FakeWeCom
from tests.server_process import ServerProcess

N = 30
MSGID = 8_100_000_000_000_000_000
MOMENTS = {"0s": 0.0, "0.5s": 0.5, "1s": 1.0, "mid-send": 0.0}


def text_for(i: int) -> str:
    kind = i % 3
    if kind == 0:
        return "帮助"
    if kind == 1:
        return "查库存 OIL00001"
    return "C0001 OIL00001 x1 送浙江省杭州市西湖区文三路100号"


async def burst(server: ServerProcess, ids: range) -> dict[int, int | None]:
    async with httpx.AsyncClient(trust_env=False) as http:
        statuses = await asyncio.gather(*(server.post(http, f"u{i:03d}", text_for(i), MSGID + i)
                                          for i in ids))
    return dict(zip(ids, statuses, strict=True))


async def until(condition, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        await asyncio.sleep(0.01)


async def answered_all(fake: FakeWeCom, users: list[str], limit: float = 40.0) -> None:
    deadline = time.monotonic() + limit
    while any(not fake.delivered(u) for u in users):
        if time.monotonic() > deadline:
            missing = [u for u in users if not fake.delivered(u)]
            pytest.fail(f"{len(missing)} acknowledged messages never answered: {missing[:5]}")
        await asyncio.sleep(0.1)


async def test_kill_9_after_acknowledging_loses_nothing_and_answers_once(world, db, tmp_path):
    users: list[str] = []
    async with FakeWeCom() as fake:
        server = ServerProcess(db, fake, tmp_path)
        await server.start()
        try:
            for n, (moment, wait) in enumerate(MOMENTS.items()):
                ids = range(n * N, (n + 1) * N)
                if moment == "mid-send":
                    fake.stall("message/send", 1.0, times=N)  # replies reach WeCom late
                sends_before = len(fake.requests("message/send"))
                statuses = await burst(server, ids)
                if moment == "mid-send":  # kill while replies are on their way to WeCom
                    await until(lambda n=sends_before: len(fake.requests("message/send")) > n)
                await asyncio.sleep(wait)
                server.kill9()
                assert set(statuses.values()) == {200}, (moment, statuses)
                await server.start()
                # WeCom retries a few of them (their 200 was lost on its side)
                async with httpx.AsyncClient(trust_env=False) as http:
                    again = [await server.post(http, f"u{i:03d}", text_for(i), MSGID + i)
                             for i in list(ids)[:3]]
                assert again == [200] * 3, moment
                users += [f"u{i:03d}" for i in ids]
                await answered_all(fake, users)
            await asyncio.sleep(1.0)  # time for a wrong second answer to show
        finally:
            server.stop()
    assert fake.suppressed  # the replies in flight at the mid-send kill, resent and absorbed
    per_user = Counter(d.user for d in fake.delivered())
    assert {u: per_user[u] for u in users} == dict.fromkeys(users, 1)
    assert fake.dropped() == []
    assert Counter(d.msgtype for d in fake.delivered()) == {"text": 80, "template_card": 40}
    keys = [f"chat:{MSGID + i}" for i in range(len(users)) if i % 3 == 2]
    assert await Order.filter(idempotency_key__in=keys).count() == len(keys) == 40
    assert Counter(await InboxMessage.all().values_list("status", flat=True)) == \
        {"done": len(users)}
