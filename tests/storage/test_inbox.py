"""The inbox's queries on both engines: dedupe by key, leases, take-over, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import inbox
from storage.inbox_models import InboxMessage
from storage.wecom_models import SeenCallback

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


async def test_a_key_is_stored_once(db):
    first = await inbox.insert("app:msg:1", "app", {"Content": "帮助"}, "w1", 60, T0)
    assert first is not None
    assert await inbox.insert("app:msg:1", "app", {"Content": "帮助"}, "w2", 60, T0) is None
    assert await InboxMessage.all().count() == 1


async def test_a_lease_keeps_others_off_until_it_runs_out(db):
    mine = await inbox.insert("app:msg:2", "app", {"n": 2}, "w1", 60, T0)
    assert await inbox.claim("w2", 60, now=T0 + timedelta(seconds=59)) == []
    [taken] = await inbox.claim("w2", 60, now=T0 + timedelta(seconds=61))
    assert (taken.id, taken.payload, taken.attempts) == (mine, {"n": 2}, 2)
    assert await inbox.recover("w1", 60) == []  # w1 lost it to w2
    [back] = await inbox.recover("w2", 60)  # w2 restarted
    assert back.id == mine and back.attempts == 3


async def test_finished_and_failed_messages_are_never_taken_again(db):
    done = await inbox.insert("app:msg:3", "app", {}, "w1", 0, T0)
    failed = await inbox.insert("app:msg:4", "app", {}, "w1", 0, T0)
    later = await inbox.insert("app:msg:5", "app", {}, "w1", 0, T0)
    await inbox.finish(done, result={"reply": None})
    await inbox.fail(failed, "boom")
    await inbox.retry_later(later, "database is locked", 30, now=T0)
    assert await inbox.claim("w2", 60, now=T0 + timedelta(seconds=10)) == []
    [retry] = await inbox.claim("w2", 60, now=T0 + timedelta(seconds=31))
    assert retry.id == later
    assert await inbox.get_result("app:msg:3") == ("done", {"reply": None})
    assert await inbox.counts() == {"pending": 1, "done": 1, "failed": 1}


async def test_prune_forgets_only_old_finished_messages(db):
    from handlers.wecom_inbox import prune_finished

    old = await inbox.insert("app:msg:6", "app", {}, "w1", 60)
    recent = await inbox.insert("app:msg:7", "app", {}, "w1", 60)
    waiting = await inbox.insert("app:msg:8", "app", {}, "w1", 60)
    await inbox.finish(old, now=datetime.now(UTC) - timedelta(days=8))
    await inbox.finish(recent, now=datetime.now(UTC) - timedelta(days=6))
    await SeenCallback.create(key="legacy")
    await SeenCallback.filter(key="legacy").update(
        received_at=datetime.now(UTC) - timedelta(days=9))
    assert await prune_finished(7) == 2
    assert set(await InboxMessage.all().values_list("id", flat=True)) == {recent, waiting}
    assert await SeenCallback.all().count() == 0


async def test_the_app_schedules_the_prune(settings, tmp_path, aiohttp_client, monkeypatch):
    from dataclasses import replace

    from bot import app as app_module
    from handlers.wecom_inbox import PRUNE_JOB

    seen_jobs: list[str] = []
    real = app_module.build_scheduler

    def spy(*args, **kwargs):
        seen_jobs.extend(job_id for job_id, _, _ in kwargs.get("jobs", ()))
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "build_scheduler", spy)
    url = f"sqlite://{tmp_path / 'app.db'}"
    await aiohttp_client(app_module.build(replace(settings, db_url=url),
                                          load_demo_if_empty=False))
    assert PRUNE_JOB[0] in seen_jobs
