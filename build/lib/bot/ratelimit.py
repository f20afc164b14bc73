"""Token-bucket rate limits per key (an API key, a source address), in memory, per process.

`[limits]` in config.toml sets them (bot/config.py → `RateLimits`); handlers/edge.py and
handlers/auth.py ask `Limiter.take(key)` and answer 429 with Retry-After when it says no.
Memory is bounded: a limiter keeps at most `max_keys` buckets and, when full, forgets the
least recently seen caller.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """`per_second` sustained, up to `burst` at once; per_second 0 switches the limit off."""

    per_second: float
    burst: float

    @property
    def off(self) -> bool:
        return self.per_second <= 0


@dataclass(frozen=True)
class RateLimits:
    """[limits]: per API key on /api; per source address on the public listener."""

    api_per_key: Rate = Rate(500, 1000)
    pages_per_address: Rate = Rate(10, 60)  # /t/* and the signed dashboard
    pushes_per_address: Rate = Rate(100, 500)  # /carriers/*/push


class Limiter:
    """One token bucket per key."""

    def __init__(self, rate: Rate, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        """0 when the request may go; else the seconds until it may (for Retry-After)."""
        if self.rate.off:
            return 0.0
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.rate.burst, now))
        tokens = min(self.rate.burst, tokens + (now - at) * self.rate.per_second)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return 0.0
        self._store(key, tokens, now)
        return (1 - tokens) / self.rate.per_second

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            # The least recently seen caller goes (buckets are kept in order of use).
            self._buckets.popitem(last=False)


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
