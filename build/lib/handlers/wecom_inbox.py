"""The transactional inbox of the WeCom callbacks: a callback is stored (dedupe key and
payload, one statement) before WeCom gets its 200; workers take messages from it; at
start-up this instance's unfinished messages are taken up again, and a sweep takes those
whose instance died (lease) or that wait for a retry. The work itself (`Work`) finishes the
message in the transaction that writes its replies, so it counts as worked exactly once.

While the database cannot take a write (another process holds SQLite's write lock), an
accepted message is kept in memory, up to `buffer_max`, and stored as soon as it can be;
beyond that bound the callback is refused with 503 so WeCom retries it. Messages only in
memory are the one thing a crash in that window loses; `/healthz` says `degraded` meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from storage import inbox as store
from storage.inbox import Stored

log = logging.getLogger(__name__)
Work = Callable[[Stored], Awaitable[Any]]
T = TypeVar("T")


class InboxFull(Exception):
    """Too much is waiting: answer so that WeCom retries later."""


@dataclass(frozen=True)
class Limits:
    workers: int = 12  # a fixed pool works the backlog (bench/callback.py)
    backlog: int = 5000  # messages accepted but not yet worked, in this process
    buffer_max: int = 1000  # of those, kept only in memory while the database is locked
    persist_wait: float = 0.5  # seconds a callback waits for its row before buffering
    lease: float = 300.0  # seconds before another instance may take over a message
    max_attempts: int = 5  # then the message is kept as failed, with the error
    sweep_every: float = 15.0


class Inbox:
    """See the module docstring. `work` does one message (and must finish it)."""

    def __init__(self, work: Work, worker_id: str, limits: Limits = Limits()) -> None:
        self.work = work
        self.worker_id = worker_id
        self.limits = limits
        self._queue: asyncio.Queue[Stored] = asyncio.Queue()
        self._buffer: dict[str, tuple[str, dict[str, Any]]] = {}
        self._working = 0
        self._stored = asyncio.Event()  # the database takes writes (cleared while it does not)
        self._stored.set()
        self._flushing: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rng = random.Random()

    # ---- accepting -------------------------------------------------------------------------

    def backlog(self) -> int:
        return self._queue.qsize() + len(self._buffer) + self._working

    def degraded(self) -> str | None:
        """Why the inbox cannot store what it accepts right now, or None."""
        if self._buffer:
            return f"{len(self._buffer)} 条消息暂存内存，数据库暂不可写（等待写锁）"
        return None

    async def accept(self, key: str, source: str, payload: dict[str, Any],
                     *, queue: bool = True) -> Stored | None:
        """Take a callback: the stored message (queued for the workers unless `queue` is
        False), a Stored with id 0 while it is only buffered, or None for a duplicate.
        Raises InboxFull when the backlog or the memory buffer is at its bound."""
        if key in self._buffer:
            return None
        if self.backlog() >= self.limits.backlog:
            raise InboxFull(f"{self.backlog()} messages waiting")
        try:
            # asyncio.timeout, not wait_for: no task of its own, so no extra trips around
            # a busy event loop before the 200 (they cost 100+ ms under load).
            async with asyncio.timeout(self.limits.persist_wait):
                new = await self._insert(key, source, payload)
        except (TimeoutError, OperationalError) as exc:
            return self._hold(key, source, payload, exc)
        if new is None:
            return None
        item = Stored(new, key, source, payload, 1)
        if queue:
            self._queue.put_nowait(item)
        return item

    async def _insert(self, key: str, source: str, payload: dict[str, Any]) -> int | None:
        if not self._stored.is_set():  # keep the order: the buffer goes first
            raise OperationalError("inbox buffer not yet stored")
        return await store.insert(key, source, payload, self.worker_id, self.limits.lease)

    def _hold(self, key: str, source: str, payload: dict[str, Any], why: Exception
              ) -> Stored:
        if len(self._buffer) >= self.limits.buffer_max:
            raise InboxFull(f"database not writable ({why}) and {len(self._buffer)} buffered")
        if not self._buffer:
            log.warning("inbox: the database takes no writes (%s); keeping callbacks in "
                        "memory until it does", why or type(why).__name__)
        self._buffer[key] = (source, payload)
        self._stored.clear()
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return Stored(0, key, source, payload, 1)

    async def _flush(self) -> None:
        """Store the buffered messages as soon as the database takes them, then queue them."""
        delay = 0.05
        while self._buffer:
            batch = list(self._buffer.items())
            try:
                async with in_transaction():
                    new = await store.insert_many([(k, s, p) for k, (s, p) in batch],
                                                  self.worker_id, self.limits.lease)
            except Exception as exc:  # still locked (or away): try again shortly
                log.debug("inbox: buffer not stored yet: %s", exc)
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
                continue
            for key, (source, payload) in batch:
                del self._buffer[key]
                if key in new:  # (a robot message's reply waits in its row for the retry)
                    self._queue.put_nowait(Stored(new[key], key, source, payload, 1))
            log.warning("inbox: %d buffered callback(s) stored", len(batch))
        self._stored.set()

    # ---- working ---------------------------------------------------------------------------

    async def run_one(self, item: Stored, work: Callable[[Stored], Awaitable[T]] | None = None
                      ) -> T | None:
        """Work one message (with `work`, default the inbox's); a failure is retried later
        (by any instance), then kept as failed with its error. Never raises: None then."""
        self._working += 1
        try:
            return await (work or self.work)(item)  # type: ignore[return-value]
        except Exception as exc:
            await self._failed(item, exc)
            return None
        finally:
            self._working -= 1

    async def _failed(self, item: Stored, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        try:
            if item.attempts >= self.limits.max_attempts:
                log.error("inbox: message %s failed %d times, kept as failed: %s",
                          item.key, item.attempts, error)
                await store.fail(item.id, error)
            else:
                delay = min(300.0, 5.0 * 2 ** (item.attempts - 1)) * (0.5 + self._rng.random())
                log.warning("inbox: message %s failed (attempt %d), retrying in %.0f s: %s",
                            item.key, item.attempts, delay, error)
                await store.retry_later(item.id, error, delay)
        except Exception:  # the database is away: the lease brings the message back
            log.exception("inbox: could not record the failure of %s", item.key)

    async def _worker(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._stored.wait()  # no point working while nothing can be written
                await self.run_one(item)
            finally:
                self._queue.task_done()

    async def _sweep(self) -> None:
        """Take messages nobody holds (an instance died, or a retry is due)."""
        while True:
            await asyncio.sleep(self.limits.sweep_every)
            if self._queue.qsize() > self.limits.workers * 4:
                continue
            try:
                for item in await store.claim(self.worker_id, self.limits.lease):
                    self._queue.put_nowait(item)
            except Exception as exc:
                log.warning("inbox: sweep failed: %s", exc)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> int:
        """Take up this instance's unfinished messages, then start the workers and the
        sweep. Returns how many messages were taken up."""
        resumed = await store.recover(self.worker_id, self.limits.lease)
        if resumed:
            log.warning("inbox: %d message(s) were not finished when %s stopped; working "
                        "them now", len(resumed), self.worker_id)
        for item in resumed:
            self._queue.put_nowait(item)
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.limits.workers)]
        self._tasks.append(asyncio.create_task(self._sweep()))
        return len(resumed)

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Let the backlog drain (bounded), then stop; what is left stays in the database
        and is taken up at the next start."""
        if not self.limits.workers:
            drain_seconds = 0.0
        try:
            async with asyncio.timeout(drain_seconds):
                if self._flushing is not None:
                    await self._flushing
                await self._queue.join()
        except TimeoutError:
            log.warning("inbox: %d message(s) left for the next start", self.backlog())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# ---- pruning (a scheduled job: bot/app.py) -------------------------------------------------

KEEP_DAYS = 7.0  # WeCom retries within seconds; a week of dedupe memory is plenty


async def prune_finished(keep_days: float = KEEP_DAYS) -> int:
    """Forget worked messages (and the previous release's dedupe keys) older than
    `keep_days`; unfinished ones stay. Returns how many rows were deleted."""
    from storage import seen

    n = await store.prune(keep_days) + await seen.prune(keep_days)
    if n:
        log.info("inbox: %d finished callback(s) older than %g days pruned", n, keep_days)
    return n


PRUNE_JOB = ("inbox.prune", prune_finished, 60.0)  # (job id, coroutine, every N minutes)
