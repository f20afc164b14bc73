"""The tracking jobs' schedule and the PostgreSQL leader lock."""

from __future__ import annotations

from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings
from bot.scheduler import STUCK_JOB, SWEEP_JOB, Leader, _led, build_scheduler
from bot.tracking import TrackingService
from integrations.carriers.sandbox import SandboxCarrier
from storage.tracking_models import AdvisoryLock
from tests.conftest import pg_base_url


class No(Leader):
    async def acquire(self) -> bool:
        return False


def test_jobs_run_every_interval_never_twice_at_once(settings: Settings) -> None:
    tracking = TrackingService(settings, {})
    scheduler = build_scheduler(tracking, settings, leader=Leader())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {SWEEP_JOB, STUCK_JOB}
    # logged by name ("Running job "tracking.sweep …"), not as _led.<locals>.run
    assert {job.name for job in jobs.values()} == {SWEEP_JOB, STUCK_JOB}
    for job in jobs.values():
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.max_instances == 1 and job.coalesce is True
    assert jobs[SWEEP_JOB].trigger.interval.total_seconds() == 15 * 60
    assert jobs[STUCK_JOB].trigger.interval.total_seconds() == 30 * 60


def test_the_sandbox_is_swept_every_minute(settings: Settings) -> None:
    tracking = TrackingService(settings, {"sandbox": SandboxCarrier()})
    scheduler = build_scheduler(tracking, settings, leader=Leader())
    assert scheduler.get_job(SWEEP_JOB).trigger.interval.total_seconds() == 60


async def test_only_the_leader_runs_and_a_failing_run_does_not_escape() -> None:
    ran: list[str] = []

    async def job() -> None:
        ran.append("x")
        raise RuntimeError("boom")

    await _led(No(), "t", job)()
    assert ran == []
    await _led(Leader(), "t", job)()  # SQLite: always the leader; the error is logged
    assert ran == ["x"]


async def test_one_instance_holds_the_postgres_lock_until_it_lets_go() -> None:
    url = pg_base_url()
    first, second = AdvisoryLock(url, "lvyue:test"), AdvisoryLock(url, "lvyue:test")
    try:
        assert await first.acquire() is True
        assert await first.acquire() is True  # still held, same connection
        assert await second.acquire() is False
        await first.release()
        assert await second.acquire() is True
        assert await first.acquire() is False
    finally:
        await first.release()
        await second.release()


def test_leader_for_url_picks_the_engine() -> None:
    sqlite: Any = Leader.for_url("sqlite://lvyue.db")
    pg: Any = Leader.for_url("postgres://u@127.0.0.1:5432/db")
    assert sqlite._lock is None and isinstance(pg._lock, AdvisoryLock)
