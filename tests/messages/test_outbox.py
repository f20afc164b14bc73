"""The outbox on both engines: transactional enqueue, claims, retries, dead letters, no
double sends, and several dispatchers sharing one database."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from messages.channels import Permanent, Retry, Throttled
from messages.notify import dead_letter_hook
from messages.outbox import ChannelLimit, OutboxDispatcher, RetryPolicy
from messages.render import load
from storage import outbox
from storage.models import Customer
from storage.outbox import Notification, OutboxNotification, OutboxStatus
from tests.messages.helpers import (
    NOON,
    Clock,
    RecordingChannel,
    china,
    config,
    make_order,
)

CTX = {"客户姓名": "王师傅", "客户名称": "恒通汽修", "单号": "SO1", "快递公司": "顺丰速运",
       "运单号": "SF1", "预计送达时间": "11月26日 15:00", "时间": "11月26日 15:00",
       "地址": "杭州***", "跟踪链接": "https://x/t/1", "包裹": "", "状态": "已出库",
       "事件时间": "11月25日 12:00", "发货仓": "杭州仓"}
RENDERER = load()


def note(i: int, *, channel: str = "console", quiet: bool = False, **kw: Any) -> Notification:
    return Notification(dedup_key=f"shipped:SO{i}:1:u{i}:{channel}", event="shipped",
                        channel=channel, recipient=f"u{i}", template="shipped.wechat_oa",
                        context=CTX | {"单号": f"SO{i}"}, quiet=quiet, **kw)


def dispatcher(channel: Any, clock: Clock, *, worker: str = "w1", **kw: Any) -> OutboxDispatcher:
    return OutboxDispatcher({"console": channel}, clock, worker, renderer=RENDERER,
                            rng=random.Random(7), **kw)


async def row(key_part: str) -> OutboxNotification:
    return await OutboxNotification.get(dedup_key__contains=key_part)


# ---- enqueue ---------------------------------------------------------------------------------

async def test_enqueue_rolls_back_with_the_state_change(db: str) -> None:
    async def change_that_fails() -> None:
        async with in_transaction():
            await outbox.enqueue([note(1), note(2)], NOON)
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    assert await OutboxNotification.all().count() == 0
    async with in_transaction():
        await outbox.enqueue([note(1), note(2)], NOON)
    assert await OutboxNotification.all().count() == 2


async def test_duplicates_are_skipped_inside_a_transaction(db: str) -> None:
    async with in_transaction():
        await outbox.enqueue([note(1)], NOON)
        await outbox.enqueue([note(1), note(2)], NOON)  # no IntegrityError, no abort
        await OutboxNotification.all().count()
    assert await OutboxNotification.all().count() == 2


# ---- dispatch --------------------------------------------------------------------------------

async def test_dispatch_sends_renders_and_records(db: str) -> None:
    clock, ch = Clock(), RecordingChannel()
    await outbox.enqueue([note(1), note(2)], clock())
    assert await dispatcher(ch, clock).run_once() == 2
    assert sorted(m.recipient for m in ch.sent) == ["u1", "u2"]
    r = await row("SO1:")
    assert r.status == OutboxStatus.sent and r.remote_id == f"r-{r.id}" and r.attempts == 1
    assert r.rendered == "王师傅，您的订单SO1已由顺丰速运承运，预计11月26日 15:00送达杭州***。"
    assert r.next_attempt_ms is None and r.claimed_by is None
    assert await dispatcher(ch, clock).run_once() == 0  # nothing sent twice
    assert await outbox.counts() == {"pending": 0, "sending": 0, "sent": 2, "dead": 0}


async def test_transient_errors_back_off_exponentially_with_jitter(db: str) -> None:
    clock, ch = Clock(), RecordingChannel(script=[Retry("接口繁忙"), Retry("接口繁忙")])
    policy = RetryPolicy(first_seconds=10, factor=2, jitter=0.5)
    d = dispatcher(ch, clock, policy=policy)
    await outbox.enqueue([note(1)], clock())
    await d.run_once()
    r = await row("SO1:")
    wait = r.next_attempt_ms / 1000 - clock().timestamp()  # type: ignore[operator]
    assert r.status == OutboxStatus.pending and r.last_error == "接口繁忙"
    assert 5 <= wait <= 15  # 10 s, spread by up to half either way
    assert await d.run_once() == 0  # not due yet
    clock.advance(15)
    await d.run_once()
    r = await row("SO1:")
    wait = r.next_attempt_ms / 1000 - clock().timestamp()  # type: ignore[operator]
    assert 10 <= wait <= 30 and r.attempts == 2
    clock.advance(30)
    await d.run_once()
    r = await row("SO1:")
    assert r.status == OutboxStatus.sent and r.attempts == 3 and len(ch.sent) == 1


async def test_out_of_attempts_is_a_dead_letter(db: str) -> None:
    clock = Clock()
    ch = RecordingChannel(script=[Retry("超时")] * 3)
    d = dispatcher(ch, clock, policy=RetryPolicy(first_seconds=1, max_attempts=3, jitter=0))
    await outbox.enqueue([note(1)], clock())
    for _ in range(3):
        await d.run_once()
        clock.advance(10)
    r = await row("SO1:")
    assert r.status == OutboxStatus.dead and r.last_error == "重试3次仍失败：超时"
    assert r.next_attempt_ms is None and ch.sent == []


async def test_rate_limited_waits_and_keeps_its_attempts(db: str) -> None:
    clock, ch = Clock(), RecordingChannel(script=[Throttled("公众号限流（45009）", 30.0)])
    d = dispatcher(ch, clock)
    await outbox.enqueue([note(1)], clock())
    await d.run_once()
    r = await row("SO1:")
    assert r.status == OutboxStatus.pending and r.attempts == 0
    assert r.next_attempt_ms == int((clock().timestamp() + 30) * 1000)
    clock.advance(30)
    await d.run_once()
    assert (await row("SO1:")).status == OutboxStatus.sent


async def test_permanent_error_is_a_dead_letter_with_its_reason_and_an_alert(
        world: dict[str, Any]) -> None:
    await Customer.filter(code="C0001").update(openid="oX")
    order = await make_order(world)
    clock = Clock()
    ch = RecordingChannel(fail_for={"oX": Permanent("用户拒收公众号消息（43101）")})
    d = OutboxDispatcher({"console": ch}, clock, "w1", renderer=RENDERER,
                         on_dead=dead_letter_hook(config(staff_channel="console")))
    await outbox.enqueue([
        Notification(dedup_key="shipped:x:oX:console", event="shipped", channel="console",
                     recipient="oX", template="shipped.wechat_oa", context=CTX,
                     order_no=order.no)], clock())
    await d.run_once()
    dead = await OutboxNotification.get(dedup_key="shipped:x:oX:console")
    assert dead.status == OutboxStatus.dead and dead.last_error == "用户拒收公众号消息（43101）"
    alert = await OutboxNotification.get(event="push_failed")
    assert (alert.recipient, alert.status) == ("zhangwei", OutboxStatus.pending)
    await d.run_once()  # the alert goes out; a dead alert would not alert again
    assert [m.recipient for m in ch.sent] == ["zhangwei"]
    assert "用户拒收公众号消息（43101）" in ch.sent[0].rendered.text


async def test_unexpected_exceptions_are_retried(db: str) -> None:
    clock, ch = Clock(), RecordingChannel(script=[RuntimeError("boom")])
    await outbox.enqueue([note(1)], clock())
    await dispatcher(ch, clock).run_once()
    r = await row("SO1:")
    assert r.status == OutboxStatus.pending and r.last_error == "RuntimeError: boom"


async def test_render_failure_is_a_dead_letter(db: str) -> None:
    clock, ch = Clock(), RecordingChannel()
    bad = Notification(dedup_key="k:bad", event="shipped", channel="console", recipient="u",
                       template="shipped.wechat_oa", context={"单号": "SO1"})
    await outbox.enqueue([bad], clock())
    await dispatcher(ch, clock).run_once()
    r = await row("k:bad")
    assert r.status == OutboxStatus.dead
    assert (r.last_error or "").startswith("模板渲染失败：UndefinedError")


async def test_operator_retries_a_dead_letter(db: str) -> None:
    clock, ch = Clock(), RecordingChannel(script=[Permanent("openid无效（40003）")])
    d = dispatcher(ch, clock)
    await outbox.enqueue([note(1)], clock())
    await d.run_once()
    r = await row("SO1:")
    assert r.status == OutboxStatus.dead
    [listed] = await outbox.list(OutboxStatus.dead, 10)
    assert listed.id == r.id and listed.last_error == "openid无效（40003）"
    assert await outbox.retry_dead(r.id, clock()) is True
    assert await outbox.retry_dead(r.id, clock()) is False  # pending now, not dead
    await d.run_once()
    r = await row("SO1:")
    assert r.status == OutboxStatus.sent and r.attempts == 1 and len(ch.sent) == 1


async def test_retry_all_dead(db: str) -> None:
    clock = Clock()
    ch = RecordingChannel(script=[Permanent("x"), Permanent("x")])
    await outbox.enqueue([note(1), note(2)], clock())
    await dispatcher(ch, clock).run_once()
    assert (await outbox.counts())["dead"] == 2
    assert await outbox.retry_all_dead(clock()) == 2
    await dispatcher(ch, clock).run_once()
    assert (await outbox.counts())["sent"] == 2


# ---- time: not_before, quiet hours on retries ------------------------------------------------

async def test_not_before_is_respected(db: str) -> None:
    clock, ch = Clock(), RecordingChannel()
    await outbox.enqueue([note(1, not_before=clock() + timedelta(hours=1))], clock())
    d = dispatcher(ch, clock)
    assert await d.run_once() == 0
    clock.advance(3600)
    assert await d.run_once() == 1


async def test_a_retry_that_falls_into_quiet_hours_waits_for_morning(db: str) -> None:
    clock = Clock(china(2026, 11, 25, 23, 10))
    ch = RecordingChannel()
    await outbox.enqueue([note(1, quiet=True), note(2, quiet=False)], clock())
    await dispatcher(ch, clock).run_once()
    quiet, loud = await row("SO1:"), await row("SO2:")
    assert loud.status == OutboxStatus.sent
    assert quiet.status == OutboxStatus.pending and quiet.attempts == 0
    assert quiet.next_attempt_ms == int(china(2026, 11, 26, 8).timestamp() * 1000)


# ---- leases, fencing, recovery -------------------------------------------------------------

async def test_an_expired_lease_is_claimed_again_and_the_old_holder_is_fenced(db: str) -> None:
    clock = Clock()
    await outbox.enqueue([note(1)], clock())
    [a] = await outbox.claim(10, "A", 60, clock(), ["console"])
    assert await outbox.claim(10, "B", 60, clock(), ["console"]) == []  # held
    clock.advance(61)
    [b] = await outbox.claim(10, "B", 60, clock(), ["console"])
    assert (b.id, b.attempts) == (a.id, 2)
    assert await outbox.mark_retry(a, clock(), "late") is False  # A lost the row
    assert await outbox.mark_dead(a, "late") is False
    assert await outbox.mark_sent(b, "m1", "text", clock()) is True
    assert await outbox.mark_sent(a, "m0", "text", clock()) is False  # already sent
    assert (await row("SO1:")).remote_id == "m1"


async def test_recover_frees_the_rows_of_a_restarted_worker(db: str) -> None:
    clock = Clock()
    await outbox.enqueue([note(1), note(2)], clock())
    await outbox.claim(10, "host:8080", 600, clock(), ["console"])
    assert await outbox.claim(10, "other", 600, clock(), ["console"]) == []
    assert await outbox.recover("host:8080") == 2
    assert len(await outbox.claim(10, "other", 600, clock(), ["console"])) == 2


async def test_rows_of_channels_a_dispatcher_lacks_stay_pending(db: str) -> None:
    clock, ch = Clock(), RecordingChannel()
    await outbox.enqueue([note(1, channel="wechat_oa"), note(2)], clock())
    assert await dispatcher(ch, clock).run_once() == 1
    assert (await outbox.counts())["pending"] == 1


# ---- limits and concurrency ---------------------------------------------------------------

async def drain(*dispatchers: OutboxDispatcher, limit: float = 30.0) -> None:
    stop = asyncio.Event()
    runs = [asyncio.create_task(d.run_forever(stop, idle=0.05)) for d in dispatchers]
    try:
        async with asyncio.timeout(limit):
            while True:
                c = await outbox.counts()
                if c["pending"] == 0 and c["sending"] == 0:
                    break
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*runs)


async def test_channel_limit_and_concurrency_are_honoured(db: str) -> None:
    ch = RecordingChannel(latency=0.01)
    times: list[float] = []
    real_send = ch.send

    async def timed(message: Any) -> Any:
        times.append(asyncio.get_running_loop().time())
        return await real_send(message)

    ch.send = timed  # type: ignore[method-assign]
    limit = ChannelLimit(count=10, period=0.5, concurrency=3)
    d = OutboxDispatcher({"console": ch}, None, "w1", renderer=RENDERER,
                         limits={"console": limit})
    await outbox.enqueue([note(i) for i in range(25)])
    started = asyncio.get_running_loop().time()
    await drain(d)
    assert len(ch.sent) == 25 and ch.max_in_flight <= 3
    assert asyncio.get_running_loop().time() - started >= 1.0  # 25 at 10 per 0.5 s
    for i, t in enumerate(times):  # never more than 10 in any 0.5 s
        assert sum(1 for u in times[i:] if u < t + 0.5 - 1e-3) <= 10


async def test_two_dispatchers_share_the_outbox_without_double_sends(db: str, engine: str
                                                                     ) -> None:
    ch = RecordingChannel(latency=0.005)
    n = 300
    await outbox.enqueue([note(i) for i in range(n)])
    limit = {"console": ChannelLimit(1000, 1.0, 8)}
    a = OutboxDispatcher({"console": ch}, None, "A", renderer=RENDERER, limits=limit)
    b = OutboxDispatcher({"console": ch}, None, "B", renderer=RENDERER, limits=limit)
    await drain(a, b)
    per_key = ch.per_key()
    assert len(per_key) == n and set(per_key.values()) == {1}
    assert a.stats["sent"] + b.stats["sent"] == n
    claimed = await OutboxNotification.all().values_list("attempts", flat=True)
    assert set(claimed) == {1}  # nobody claimed a row twice
    if engine == "postgres":  # SKIP LOCKED: both really worked side by side
        assert a.stats["sent"] > 0 and b.stats["sent"] > 0


async def test_run_forever_wakes_on_notify(db: str) -> None:
    ch = RecordingChannel()
    d = OutboxDispatcher({"console": ch}, None, "w1", renderer=RENDERER)
    stop = asyncio.Event()
    run = asyncio.create_task(d.run_forever(stop, idle=30))
    await asyncio.sleep(0.05)  # idle now, for up to 30 s
    await outbox.enqueue([note(1)])
    d.notify()
    async with asyncio.timeout(2):
        while not ch.sent:  # noqa: ASYNC110 - polling a fake's list is the point
            await asyncio.sleep(0.01)
    stop.set()
    await run


async def test_operator_list_and_counts(db: str) -> None:
    clock = Clock()
    await outbox.enqueue([note(i, order_no=f"SO{i}") for i in range(3)], clock())
    rows = await outbox.list_rows(limit=2)
    assert [r.order_no for r in rows] == ["SO2", "SO1"]  # newest first
    assert [r.id for r in await outbox.list_rows(order_no="SO0")] == [rows[-1].id - 1]
    assert (await outbox.counts())["pending"] == 3
