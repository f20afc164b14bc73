"""bot/retry.py: the one back-off policy and the one pacer (shipping, outbox, tracking)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot import shipping, tracking
from bot.retry import Pacer, RetryPolicy
from messages import outbox

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_back_off_doubles_spreads_both_ways_and_stays_under_the_cap():
    policy = RetryPolicy(first_seconds=10, factor=2, cap_seconds=100, max_attempts=5,
                         jitter=0.5)
    assert [policy.delay(n, 0.5) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 80, 100]
    assert (policy.delay(1, 0.0), policy.delay(1, 0.999)) == (5.0, pytest.approx(14.99))
    assert policy.delay(4, 0.999) == 100  # the spread never passes the cap
    assert [policy.gives_up(n) for n in (4, 5)] == [False, True]
    assert policy.retry_at(2, T0, 0.5) == T0 + timedelta(seconds=20)
    assert policy.retry_at(2, T0, 0.5, at_least=300) == T0 + timedelta(seconds=300)
    assert policy.retry_at(5, T0, 0.5) is None


def test_shipping_the_outbox_and_the_sweep_use_the_one_policy_and_pacer():
    assert shipping.RetryPolicy is RetryPolicy and outbox.RetryPolicy is RetryPolicy
    assert (shipping.DEFAULT_POLICY.first_seconds, outbox.DEFAULT_POLICY.first_seconds) == (
        60.0, 5.0)
    assert tracking.Pacer is Pacer and outbox.Pacer is Pacer
    lane = outbox._Lane(outbox.ChannelLimit(20, 60.0, 1), horizon=15)
    assert isinstance(lane.pacer, Pacer) and lane.interval == 3.0


def test_the_pacer_books_slots_in_turn_and_pauses():
    pacer = Pacer(0.5)
    assert [pacer.book(10.0) for _ in range(3)] == [10.0, 10.5, 11.0]
    assert pacer.book(20.0) == 20.0  # idle time is not saved up for a burst
    pacer.pause(30, now=20.0)
    assert pacer.pause_left(now=25.0) == 25.0
    assert pacer.book(21.0) == 50.0


async def test_the_pacer_waits_and_gives_up_on_a_long_pause():
    pacer = Pacer(0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(3):
        assert await pacer.wait()
    assert pacer.next_free >= start + 0.06
    pacer.pause(60)
    assert await pacer.wait(max_pause=1) is False  # at once: the caller leaves it for later
