"""Persistent dedupe of inbound callbacks: WeCom retries a callback up to 3 times (wecom.md §1.6).

`first_time(key)` answers "is this key new?"; the unique index on `seen_callbacks.key` decides
races: of N concurrent calls with one key exactly one returns True. The WeCom callbacks no longer
ask it: their transactional inbox (storage/inbox.py) stores the message with its key before
answering. Old keys are pruned with the inbox (handlers.wecom_inbox.prune_finished, hourly).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage.wecom_models import SEEN_KEY_MAX, SeenCallback


def stored_key(key: str) -> str:
    """The key as stored: itself if it fits, else a readable prefix plus its sha256."""
    if not key:
        raise ValueError("dedupe key is empty")
    if len(key) <= SEEN_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[:SEEN_KEY_MAX - len(digest) - 1]}#{digest}"


async def first_time(key: str) -> bool:
    """Record `key`; True if it was new, False if it had been seen before."""
    try:
        # A savepoint when called inside a transaction, so a duplicate does not poison it.
        async with in_transaction():
            await SeenCallback.create(key=stored_key(key))
    except IntegrityError:
        return False
    return True


async def prune(older_than_days: float = 7.0, now: datetime | None = None) -> int:
    """Forget keys received more than `older_than_days` ago; returns how many were deleted.

    WeCom's retries come within seconds, so a few days of memory is plenty.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    return await SeenCallback.filter(received_at__lt=cutoff).delete()
