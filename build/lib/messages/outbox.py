"""OutboxDispatcher: claim due notifications, render, deliver, settle; retry with back-off.

One dispatcher per process (several per database on PostgreSQL). Per row:

1. Quiet hours: a customer push claimed inside quiet hours goes back until they end
   (the planned `not_before` covers the first attempt; this covers retries).
2. Render (messages/render.py, StrictUndefined). A failure is a dead letter.
3. Send through the row's channel, inside the channel's lane: at most `concurrency` in
   flight and `count` sends per `period`, spread evenly (per process: give each of N
   instances 1/N of a shared limit).
4. Settle: sent (with the remote id and the rendered text); `Throttled` → back after
   `retry_after`, attempt refunded; `Retry` → exponential back-off with jitter
   (bot/retry.py), dead after `max_attempts`; `Permanent` → dead letter with the reason,
   plus an alert to the sales owner for customer pushes (`on_dead`), in one transaction.

Delivery guarantee (kill -9, a lost database connection, an expired lease): a row is
claimed with a lease; if the process dies after the channel accepted the message but before
`mark_sent` committed, the row is claimed and sent again. That window is at-least-once on
our side; the channels absorb the repeat where they can (messages/channels.py): the
公众号 by ``client_msg_id`` (10 minutes), WeCom app messages by ``enable_duplicate_check``
(30 minutes), while the group robot and the console may show it twice. At most the rows in
flight at the moment of the crash (≤ the lanes' concurrency) are repeated; every other row
is sent exactly once, because claims are exclusive (SKIP LOCKED / SQLite's writer lock) and
settled rows are never claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from bot.retry import Pacer, RetryPolicy
from integrations.wecom import SlidingWindow
from messages.channels import Channel, Outgoing, Permanent, Retry, Throttled
from messages.notify import QuietHours
from messages.render import Renderer
from storage import outbox
from storage.outbox import Claimed, Notification

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
OnDead = Callable[[Claimed, str], Awaitable[Sequence[Notification]]]


@dataclass(frozen=True)
class ChannelLimit:
    count: int = 100  # at most `count` sends …
    period: float = 1.0  # … in any `period` seconds (spread evenly)
    concurrency: int = 8  # requests in flight at once


# Per process. 公众号: no per-second limit is documented, only the daily quota [C];
# WeCom app: the client's own member limiter (30/min, 1000/h) refuses beyond WeCom's limits;
# the group robot: 20 messages a minute [D].
DEFAULT_LIMITS: Mapping[str, ChannelLimit] = {
    "wechat_oa": ChannelLimit(200, 1.0, 16),
    "wecom_app": ChannelLimit(100, 1.0, 8),
    "wecom_group": ChannelLimit(20, 60.0, 1),
    "console": ChannelLimit(1000, 1.0, 16),
    # chat replies: WeCom's per-member limit is the client's; this only bounds the requests
    "wecom_chat": ChannelLimit(1000, 1.0, 16),
}


# 5 s before the second attempt, doubling, capped at an hour, dead after 8 attempts; each
# delay spread by ±50 % so a burst of failures does not come back as a burst.
DEFAULT_POLICY = RetryPolicy(first_seconds=5.0, jitter=0.5)
DEFAULT_QUIET = QuietHours()


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Lane:
    """One channel's pace and concurrency, on the loop's monotonic clock.

    Sends are spread evenly, one every `period / count` seconds, rather than allowed in
    bursts of `count`, so arrivals at the provider stay spaced; and a sliding window over
    the actual departure times guarantees that no `period` seconds hold more than `count`
    sends (whether the provider counts a sliding or a fixed window).
    """

    def __init__(self, limit: ChannelLimit, horizon: float) -> None:
        self.horizon = horizon
        self.pacer = Pacer(limit.period / max(1, limit.count))
        self.window = SlidingWindow(limit.count, limit.period)
        self.inflight = 0
        self.apply(limit)

    def apply(self, limit: ChannelLimit) -> None:
        """New limits (config reload), from the next send on. The window keeps the recent
        sends, so the new count holds at once; sends already in flight keep their place."""
        self.limit = limit
        self.pacer.interval = limit.period / max(1, limit.count)
        self.window.limit, self.window.period = limit.count, limit.period
        self.sem = asyncio.Semaphore(limit.concurrency)

    @property
    def interval(self) -> float:
        return self.pacer.interval

    def room(self, now: float) -> int:
        """How many more rows to claim now: as many as can start within the horizon (so no
        claimed row waits near its lease), and at most twice the concurrency in flight."""
        ahead = now + self.horizon - max(now, self.pacer.next_free)
        slots = int(ahead / self.interval) + 1 if ahead >= 0 else 0
        return max(0, min(slots, 2 * self.limit.concurrency - self.inflight))

    def ready_in(self, now: float) -> float | None:
        """Seconds until `room` can be non-zero; None while only a finishing send can."""
        if self.inflight >= 2 * self.limit.concurrency:
            return None
        return max(0.0, self.pacer.next_free - self.horizon - now)

    async def slot(self) -> None:
        """Book the next send time, wait for it, then for the hard window: a task that woke
        late must not crowd the one after it into the same window."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        await asyncio.sleep(self.pacer.book(now) - now)
        for _ in range(1000):  # bounded; each round waits for the window's oldest send
            wait = self.window.wait("c", loop.time())
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self.window.add("c", loop.time())


class OutboxDispatcher:
    """Delivers the outbox; see the module docstring."""

    def __init__(self, channels: Mapping[str, Channel], clock: Clock | None = None,
                 worker_id: str | None = None, *, renderer: Renderer,
                 limits: Mapping[str, ChannelLimit] | None = None,
                 quiet: QuietHours | None = DEFAULT_QUIET, policy: RetryPolicy = DEFAULT_POLICY,
                 lease_seconds: float = 60.0, rng: random.Random | None = None,
                 on_dead: OnDead | None = None) -> None:
        self.channels = dict(channels)
        self.worker_id = worker_id or default_worker_id()
        self.renderer = renderer
        self.policy = policy
        self.lease_seconds = lease_seconds
        self.stats: Counter[str] = Counter()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._quiet = quiet
        self._rng = rng or random.Random()
        self._on_dead = on_dead
        limits = {**DEFAULT_LIMITS, **(limits or {})}
        horizon = lease_seconds / 4
        self._lanes = {name: _Lane(limits.get(name, ChannelLimit()), horizon)
                       for name in self.channels}
        self._wake = asyncio.Event()
        self._direct: set[asyncio.Task[None]] = set()

    def notify(self) -> None:
        """Wake `run_forever` now (call after committing new notifications)."""
        self._wake.set()

    def deliver_claimed(self, rows: Sequence[Claimed]) -> list[asyncio.Task[None]]:
        """Send rows stored already claimed by this worker (storage.outbox.enqueue_claimed),
        now, within their channel's lane; failures settle like any claimed row's."""
        tasks = []
        for row in rows:
            self._lanes[row.channel].inflight += 1
            task = asyncio.create_task(self._deliver(row, direct=True))
            self._direct.add(task)
            task.add_done_callback(self._direct.discard)
            tasks.append(task)
        return tasks

    async def drain_direct(self) -> None:
        """Wait for the sends `deliver_claimed` started (at shutdown)."""
        if self._direct:
            await asyncio.gather(*self._direct, return_exceptions=True)
    def apply_config(self, *, quiet: QuietHours | None,
                     limits: Mapping[str, ChannelLimit] | None = None,
                     renderer: Renderer | None = None) -> None:
        """New quiet hours, channel limits and templates for the running dispatcher (config
        reload): rows claimed from now on follow them; sends in flight finish as they are."""
        self._quiet = quiet
        if renderer is not None:
            self.renderer = renderer
        merged = {**DEFAULT_LIMITS, **(limits or {})}
        for name, lane in self._lanes.items():
            lane.apply(merged.get(name, ChannelLimit()))
        self._wake.set()

    @property
    def quiet(self) -> QuietHours | None:
        return self._quiet

    def limit_of(self, channel: str) -> ChannelLimit:
        """The limit the channel's lane paces by now."""
        return self._lanes[channel].limit

    # ---- loops ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim what is due (within each channel's room), deliver it all; how many rows."""
        rows = await self._claim()
        await asyncio.gather(*(self._deliver(r) for r in rows))
        return len(rows)

    async def run_forever(self, stop: asyncio.Event, idle: float = 5.0,
                          recover: bool = True) -> None:
        """Deliver until `stop` is set, then let the sends in flight finish.

        `recover` first frees rows this worker id still held (it restarted after a crash);
        give each live process its own stable worker id for that to be safe.
        """
        if recover and (n := await outbox.recover(self.worker_id)):
            log.warning("outbox: %d notification(s) were in flight when %s stopped; resending",
                        n, self.worker_id)
        tasks: set[asyncio.Task[None]] = set()
        watcher = asyncio.create_task(self._wake_on(stop))
        try:
            while not stop.is_set():
                await self._fill(tasks, idle)
        finally:
            watcher.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _fill(self, tasks: set[asyncio.Task[None]], idle: float) -> None:
        self._wake.clear()
        try:
            rows = await self._claim()
        except Exception:  # the database is away: try again later, keep what is in flight
            log.exception("outbox: claiming failed")
            rows = []
        for row in rows:
            task = asyncio.create_task(self._deliver(row))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if not rows:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), await self._idle_for(idle))

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _idle_for(self, idle: float) -> float:
        """How long to sleep (unless woken): until a lane can take rows and one is due.

        A lane full of sends in flight needs no timer: each finishing send wakes the loop.
        """
        now = asyncio.get_running_loop().time()
        ready = [r for lane in self._lanes.values() if (r := lane.ready_in(now)) is not None]
        if not ready:
            return idle
        try:
            due = await outbox.next_due([*self._lanes])
        except Exception:
            due = None
        if due is None:
            return idle
        due_in = due / 1000 - self._clock().timestamp()
        return max(0.005, min(idle, max(min(ready), due_in)))

    # ---- one row ---------------------------------------------------------------------------

    async def _claim(self) -> list[Claimed]:
        """Claim per channel what its lane has room for; the rows count as in flight now
        (a claim may not yield to the loop, so the delivery tasks have not started yet)."""
        now_mono = asyncio.get_running_loop().time()
        rows: list[Claimed] = []
        for name, lane in self._lanes.items():
            room = lane.room(now_mono)
            if room:
                got = await outbox.claim(room, self.worker_id, self.lease_seconds,
                                         self._clock(), channels=[name])
                lane.inflight += len(got)
                rows += got
        return rows

    async def _deliver(self, row: Claimed, direct: bool = False) -> None:
        lane = self._lanes[row.channel]
        sent = self.stats["sent"]
        try:
            await self._attempt(row, lane)
        except Exception:  # settling failed (database away): the lease brings it back
            log.exception("outbox: settling notification %s failed", row.id)
            self.stats["unsettled"] += 1
        finally:
            full = lane.inflight >= 2 * lane.limit.concurrency
            lane.inflight -= 1
            # A claimed row's end frees room in its lane: claim more. A direct send that
            # went out needs no claim (waking for each one cost queries per chat reply).
            if not direct or full or self.stats["sent"] == sent:
                self._wake.set()

    async def _attempt(self, row: Claimed, lane: _Lane) -> None:
        quiet_until = self._quiet.until(self._clock()) if row.quiet and self._quiet else None
        if quiet_until is not None:
            self.stats["quiet"] += 1
            await outbox.mark_retry(row, quiet_until, "静默时段，结束后发送", refund=True)
            return
        try:
            rendered = self.renderer.render(row.template, row.context)
        except Exception as exc:
            await self._dead(row, f"模板渲染失败：{type(exc).__name__}: {exc}")
            return
        message = Outgoing(row.id, row.dedup_key, row.event, row.recipient, rendered,
                           row.context)
        try:
            async with lane.sem:
                await lane.slot()
                remote_id = await self.channels[row.channel].send(message)
        except Throttled as exc:
            self.stats["throttled"] += 1
            await outbox.mark_retry(row, self._later(exc.retry_after), exc.reason, refund=True)
        except Permanent as exc:
            await self._dead(row, exc.reason)
        except Retry as exc:
            await self._retry(row, exc.reason)
        except Exception as exc:
            log.exception("outbox: channel %s failed on notification %s", row.channel, row.id)
            await self._retry(row, f"{type(exc).__name__}: {exc}")
        else:
            self.stats["sent"] += 1
            await outbox.mark_sent(row, remote_id, rendered.text, self._clock())

    def _later(self, seconds: float) -> datetime:
        return self._clock() + timedelta(seconds=max(0.0, seconds))

    async def _retry(self, row: Claimed, reason: str) -> None:
        if self.policy.gives_up(row.attempts):
            await self._dead(row, f"重试{row.attempts}次仍失败：{reason}")
            return
        self.stats["retried"] += 1
        delay = self.policy.delay(row.attempts, self._rng.random())
        await outbox.mark_retry(row, self._later(delay), reason)

    async def _dead(self, row: Claimed, reason: str) -> None:
        self.stats["dead"] += 1
        log.warning("outbox: notification %s (%s → %s:%s) is a dead letter: %s",
                    row.id, row.template, row.channel, row.recipient, reason)
        async with in_transaction():
            if await outbox.mark_dead(row, reason) and self._on_dead is not None:
                alerts = await self._on_dead(row, reason)
                await outbox.enqueue(alerts, self._clock())


# ---- configuration ---------------------------------------------------------------------------

def limits_from(table: Mapping[str, object] | None) -> dict[str, ChannelLimit]:
    """config.toml ``[notify.limits.<channel>] count, period, concurrency`` → the lanes'
    limits, on top of DEFAULT_LIMITS; ConfigError names the bad key."""
    from bot.config import ConfigError

    out = dict(DEFAULT_LIMITS)
    for channel, raw in (table or {}).items():
        where = f"notify.limits.{channel}"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a table with count, period, concurrency")
        unknown = set(raw) - {"count", "period", "concurrency"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key "
                              "(known: count, period, concurrency)")
        base = out.get(channel, ChannelLimit())
        values = {k: raw.get(k, getattr(base, k)) for k in ("count", "period", "concurrency")}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{where}.{key}: expected a positive number, got {value!r}")
        out[channel] = ChannelLimit(int(values["count"]), float(values["period"]),
                                    int(values["concurrency"]))
    return out
