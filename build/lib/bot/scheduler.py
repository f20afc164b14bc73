"""Scheduled jobs: the tracking sweep and the stuck-shipment check (APScheduler 3.x).

Both jobs are `"interval"` jobs with `max_instances=1, coalesce=True`: a sweep that runs
long is never doubled, and missed runs collapse into one.

Several instances on PostgreSQL (DESIGN.md §6): every instance schedules the jobs, but
each run first asks `Leader.acquire()`, which holds `pg_try_advisory_lock(<key of
"lvyue:scheduler">)` on a dedicated connection (storage.tracking_models.AdvisoryLock). The
instance that got the lock keeps it as long as that connection lives and runs the jobs; the
others skip theirs. When the leader dies its connection closes, PostgreSQL frees the lock,
and the next instance to try takes over within one interval. On SQLite the one process
runs them.

Use `running(...)` around the application's lifetime, e.g. in an aiohttp cleanup_ctx.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.domain.vocab import CST
from bot.tracking import StuckShipment, TrackingService
from storage.db import engine
from storage.tracking_models import AdvisoryLock

log = logging.getLogger(__name__)
OnStuck = Callable[[Sequence[StuckShipment]], Awaitable[None]]
SWEEP_JOB = "tracking.sweep"
STUCK_JOB = "tracking.stuck"
_LEADERS: weakref.WeakKeyDictionary[AsyncIOScheduler, Leader] = weakref.WeakKeyDictionary()


class Leader:
    """Whether this process runs the scheduled jobs: always on SQLite, lock holder on PG."""

    def __init__(self, lock: AdvisoryLock | None = None) -> None:
        self._lock = lock

    @classmethod
    def for_url(cls, db_url: str) -> Leader:
        return cls(AdvisoryLock(db_url) if engine(db_url) == "postgres" else None)

    async def acquire(self) -> bool:
        return True if self._lock is None else await self._lock.acquire()

    async def release(self) -> None:
        if self._lock is not None:
            await self._lock.release()


def build_scheduler(tracking: TrackingService, settings: Any, *,
                    interval_minutes: float | None = None, leader: Leader | None = None,
                    on_stuck: OnStuck | None = None,
                    jobs: Sequence[tuple[str, Callable[[], Awaitable[None]], float]] = ()
                    ) -> AsyncIOScheduler:
    """The sweep every `interval_minutes` (default: the shortest interval of the clients in
    use, 15 min for real carriers), the stuck check every `stuck_check_minutes`, and each
    of `jobs` (id, coroutine function, minutes), all led by the same lock."""
    leader = leader or Leader.for_url(settings.db_url)
    minutes = interval_minutes or tracking.tick_minutes()
    scheduler = AsyncIOScheduler(timezone=CST)
    common = {"trigger": "interval", "max_instances": 1, "coalesce": True}
    # name=: APScheduler logs a job by its name ("Running job "tracking.sweep (trigger: …"),
    # which is otherwise the function's qualname (_led.<locals>.run for all of them).
    scheduler.add_job(_led(leader, SWEEP_JOB, _sweep(tracking)), id=SWEEP_JOB,
                      name=SWEEP_JOB, minutes=minutes, **common)
    scheduler.add_job(_led(leader, STUCK_JOB, _stuck(tracking, on_stuck)), id=STUCK_JOB,
                      name=STUCK_JOB, minutes=tracking.config.stuck_check_minutes, **common)
    for job_id, job, minutes in jobs:
        scheduler.add_job(_led(leader, job_id, job), id=job_id, name=job_id, minutes=minutes,
                          **common)
    _LEADERS[scheduler] = leader
    return scheduler


@asynccontextmanager
async def running(scheduler: AsyncIOScheduler) -> AsyncIterator[AsyncIOScheduler]:
    """Start the scheduler; on exit stop it and release its lock (if it took one)."""
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
        leader = _LEADERS.pop(scheduler, None)
        if leader is not None:
            await leader.release()


def _led(leader: Leader, name: str, job: Callable[[], Awaitable[None]]
         ) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        if not await leader.acquire():
            log.debug("%s: another instance holds the scheduler lock", name)
            return
        try:
            await job()
        except Exception:  # a failed run must not kill the schedule
            log.exception("%s failed", name)

    return run


def _sweep(tracking: TrackingService) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await tracking.sweep()

    return job


def _stuck(tracking: TrackingService, on_stuck: OnStuck | None
           ) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        found = await tracking.find_stuck()
        if not found:
            return
        if on_stuck is not None:
            await on_stuck(found)
            return
        for s in found:
            log.warning("物流停滞：订单%s 运单%s（%s）%s起无更新，请%s跟进", s.order_no, s.waybill,
                        s.status.value, s.since.isoformat(), s.salesperson or "销售")

    return job
