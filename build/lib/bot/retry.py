"""The two timing policies of calls to the outside world, once each.

`RetryPolicy`: how long to wait after a failure. Exponential back-off, capped, with the
delay spread by ± `jitter` (so retries of many rows that failed together do not all come
back in the same second), and giving up after `max_attempts` failures. Used by shipping
(waybill holds, bot/shipping.py) and the notification outbox (messages/outbox.py), each
with its own numbers.

`Pacer`: how to space calls: one every `interval` seconds on the event loop's monotonic
clock, booked in turn (a caller that wakes late does not crowd the next one), and a
`pause` that holds every call while a provider asked us to back off. Used by the tracking
sweep per carrier (bot/tracking.py) and by the outbox per channel.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with ± `jitter` spread, capped; `max_attempts` failures give up."""

    first_seconds: float = 60.0  # the wait after the first failure
    factor: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 8
    jitter: float = 0.2

    def gives_up(self, attempts: int) -> bool:
        """True once `attempts` failures are all there may be."""
        return attempts >= self.max_attempts

    def delay(self, attempts: int, rand: float) -> float:
        """Seconds to wait after `attempts` failures (1-based); `rand` in [0, 1) spreads it
        over [1 - jitter, 1 + jitter] of the nominal delay, never beyond the cap."""
        nominal = min(self.cap_seconds, self.first_seconds * self.factor ** max(0, attempts - 1))
        return min(self.cap_seconds, nominal * (1 + self.jitter * (2 * rand - 1)))

    def retry_at(self, attempts: int, now: datetime, rand: float,
                 at_least: float | None = None) -> datetime | None:
        """When to try again after `attempts` failures, waiting at least `at_least` seconds
        (a provider's Retry-After); None: give up."""
        if self.gives_up(attempts):
            return None
        return now + timedelta(seconds=max(self.delay(attempts, rand), at_least or 0.0))


class Pacer:
    """One call per `interval` seconds, in booking order; `pause` holds them all."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_free = 0.0  # loop time of the next free slot
        self.paused_until = 0.0

    def book(self, now: float) -> float:
        """Take the next slot (loop time), at `now` at the earliest."""
        slot = max(now, self.next_free, self.paused_until)
        self.next_free = slot + self.interval
        return slot

    def pause(self, seconds: float, now: float | None = None) -> None:
        """Back off: no slot starts within `seconds` from now."""
        now = asyncio.get_running_loop().time() if now is None else now
        self.paused_until = max(self.paused_until, now + seconds)

    def pause_left(self, now: float | None = None) -> float:
        now = asyncio.get_running_loop().time() if now is None else now
        return self.paused_until - now

    async def wait(self, max_pause: float = float("inf")) -> bool:
        """Wait for this call's slot; False (at once) while a pause lasts longer than
        `max_pause` (the caller leaves the call for later)."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self.paused_until - now > max_pause:
                return False
            slot = self.book(now)
            if slot > now:
                await asyncio.sleep(slot - now)
            if self.paused_until <= loop.time():
                return True
