"""storage.seen on SQLite and PostgreSQL: first sight, repeats, races, long keys, pruning."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from storage import seen
from storage.wecom_models import SEEN_KEY_MAX, SeenCallback


async def test_first_time_then_repeat(db):
    assert await seen.first_time("msg:1456453720") is True
    assert await seen.first_time("msg:1456453720") is False
    assert await seen.first_time("msg:1456453721") is True
    assert await SeenCallback.all().count() == 2


async def test_twenty_concurrent_calls_with_one_key_yield_exactly_one_true(db):
    results = await asyncio.gather(*(seen.first_time("evt:lina:1476422779") for _ in range(20)))
    assert results.count(True) == 1
    assert await SeenCallback.filter(key="evt:lina:1476422779").count() == 1


async def test_concurrent_distinct_keys_are_all_new(db):
    results = await asyncio.gather(*(seen.first_time(f"k{i}") for i in range(20)))
    assert all(results)


async def test_a_duplicate_inside_a_transaction_leaves_the_transaction_usable(db):
    await seen.first_time("dup")
    async with in_transaction():
        assert await seen.first_time("dup") is False
        assert await seen.first_time("fresh") is True
    assert await SeenCallback.filter(key="fresh").exists()


async def test_long_keys_are_shortened_but_still_distinct(db):
    base = "evt:lina:1476422779:template_card_event:SO123-confirm-1a2b3c4d:" + "k" * 1000
    first, second = base + "1", base + "2"
    assert await seen.first_time(first) is True
    assert await seen.first_time(second) is True
    assert await seen.first_time(first) is False
    keys = [k for (k,) in await SeenCallback.all().values_list("key")]
    assert all(len(k) <= SEEN_KEY_MAX for k in keys)
    assert all(k.startswith("evt:lina:1476422779:") for k in keys)


async def test_prune_forgets_only_old_keys(db):
    await seen.first_time("old")
    await seen.first_time("new")
    now = datetime.now(UTC)
    await SeenCallback.filter(key="old").update(received_at=now - timedelta(days=8))
    assert await seen.prune(older_than_days=7, now=now) == 1
    assert [k for (k,) in await SeenCallback.all().values_list("key")] == ["new"]
    assert await seen.first_time("old") is True  # forgotten, so new again


def test_empty_key_is_refused():
    with pytest.raises(ValueError, match="empty"):
        seen.stored_key("")
