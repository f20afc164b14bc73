"""The inbox's queries: store a callback before answering it, claim, settle, prune.

* `insert` is one statement (INSERT … ON CONFLICT (key) DO NOTHING RETURNING id): the unique
  key decides races, so of N concurrent callbacks with one key (a WeCom retry arriving while
  the first is still handled, or on another instance) exactly one is stored as new.
* A stored message is leased to the instance that received it (`claimed_by`, `due_ms` = the
  lease end). `claim` takes messages whose lease ran out (their instance died) or that wait
  for a retry; on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, on SQLite under its single
  writer lock. `recover` takes back this instance's own unfinished messages at start-up.
* `finish` marks a message done in the caller's transaction, with the replies it wrote to
  the outbox, so a message's replies exist exactly when it counts as worked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage import sql
from storage.inbox_models import INBOX_KEY_MAX, InboxMessage
from storage.sql import Stmt

__all__ = ["InboxMessage", "Stored", "claim", "counts", "fail", "finish", "get_result",
           "insert", "insert_many", "prune", "recover", "retry_later", "stored_key"]


@dataclass(frozen=True)
class Stored:
    """A message this instance holds; `attempts` counts the attempt about to be made."""

    id: int
    key: str
    source: str
    payload: dict[str, Any]
    attempts: int


def stored_key(key: str) -> str:
    from storage.seen import stored_key as shorten

    return shorten(key) if len(key) > INBOX_KEY_MAX else key


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


_COLS = "key, source, payload, status, attempts, due_ms, claimed_by, received_at"
_INSERT = Stmt(f"INSERT INTO callback_inbox ({_COLS}) VALUES (?, ?, ?, 'pending', 1, ?, ?, ?) "
               "ON CONFLICT (key) DO NOTHING RETURNING id")


async def insert(key: str, source: str, payload: dict[str, Any], worker: str, lease: float,
                 now: datetime | None = None) -> int | None:
    """Store a new message leased to `worker`; its id, or None if the key was stored before."""
    at = now or datetime.now(UTC)
    rows = await sql.fetch(_INSERT, (stored_key(key), source, _dumps(payload),
                                     ms(at) + int(lease * 1000), worker, at))
    return int(rows[0][0]) if rows else None


async def insert_many(items: Sequence[tuple[str, str, dict[str, Any]]], worker: str,
                      lease: float) -> dict[str, int]:
    """Store several messages in one transaction (the caller's); key → id of those new."""
    out = {}
    for key, source, payload in items:
        new = await insert(key, source, payload, worker, lease)
        if new is not None:
            out[key] = new
    return out


_FINISH = Stmt("UPDATE callback_inbox SET status = ?, due_ms = NULL, claimed_by = NULL, "
               "result = ?, last_error = ?, finished_at = ? WHERE id = ?")


async def finish(message_id: int, result: Any = None, now: datetime | None = None) -> None:
    """Done (call in the transaction that wrote the message's replies)."""
    await sql.execute(_FINISH, ("done", None if result is None else _dumps(result), None,
                                now or datetime.now(UTC), message_id))


async def fail(message_id: int, error: str, now: datetime | None = None) -> None:
    """Given up after its attempts: kept with the error for the operator, never retried."""
    await sql.execute(_FINISH, ("failed", None, error[:2000], now or datetime.now(UTC),
                                message_id))


_RETRY = Stmt("UPDATE callback_inbox SET due_ms = ?, claimed_by = NULL, last_error = ? "
              "WHERE id = ? AND status = 'pending'")


async def retry_later(message_id: int, error: str, delay: float,
                      now: datetime | None = None) -> None:
    """Let any instance try again after `delay` seconds."""
    due = ms(now or datetime.now(UTC)) + int(delay * 1000)
    await sql.execute(_RETRY, (due, error[:2000], message_id))


_RETURNING = "id, key, source, payload, attempts"
_CLAIM = Stmt(
    "UPDATE callback_inbox SET claimed_by = ?, due_ms = ?, attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM callback_inbox WHERE status = 'pending' AND due_ms <= ? "
    f"ORDER BY due_ms, id LIMIT ?) RETURNING {_RETURNING}",
    pg="WITH due AS (SELECT id FROM callback_inbox WHERE status = 'pending' AND due_ms <= $3 "
       "ORDER BY due_ms, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
       "UPDATE callback_inbox i SET claimed_by = $1, due_ms = $2, attempts = i.attempts + 1 "
       "FROM due WHERE i.id = due.id RETURNING "
       + ", ".join(f"i.{c.strip()}" for c in _RETURNING.split(",")))
_RECOVER = Stmt(
    "UPDATE callback_inbox SET due_ms = ?, attempts = attempts + 1 "
    f"WHERE status = 'pending' AND claimed_by = ? RETURNING {_RETURNING}")


async def claim(worker: str, lease: float, limit: int = 100,
                now: datetime | None = None) -> list[Stored]:
    """Messages nobody holds any more (lease ran out, or waiting for a retry), for `worker`."""
    at = ms(now or datetime.now(UTC))
    rows = await sql.fetch(_CLAIM, (worker, at + int(lease * 1000), at, limit))
    return sorted((_stored(r) for r in rows), key=lambda s: s.id)


async def recover(worker: str, lease: float, now: datetime | None = None) -> list[Stored]:
    """This worker's unfinished messages (it restarted: their work died with it)."""
    due = ms(now or datetime.now(UTC)) + int(lease * 1000)
    rows = await sql.fetch(_RECOVER, (due, worker))
    return sorted((_stored(r) for r in rows), key=lambda s: s.id)


async def get_result(key: str) -> tuple[str, Any] | None:
    """(status, stored result) of a message, or None if there is no such key."""
    row = await InboxMessage.get_or_none(key=stored_key(key)).only("status", "result")
    return None if row is None else (row.status, row.result)


async def prune(older_than_days: float, now: datetime | None = None, limit: int = 5000
                ) -> int:
    """Forget finished messages older than `older_than_days` (WeCom retries within seconds,
    so a few days of dedupe memory is plenty); pending ones stay. Deletes in chunks."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    total = 0
    while True:
        ids = await InboxMessage.filter(finished_at__lt=cutoff).order_by("id") \
            .limit(limit).values_list("id", flat=True)
        if not ids:
            return total
        total += await InboxMessage.filter(id__in=[*ids]).delete()


async def counts() -> dict[str, int]:
    """Messages per status."""
    from tortoise.functions import Count

    rows = await InboxMessage.all().annotate(n=Count("id")).group_by("status") \
        .values_list("status", "n")
    out = {"pending": 0, "done": 0, "failed": 0}
    out.update({str(s): int(n) for s, n in rows})
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _stored(r: Sequence[Any]) -> Stored:
    payload = r[3]
    if isinstance(payload, str | bytes):
        payload = json.loads(payload)
    return Stored(id=int(r[0]), key=str(r[1]), source=str(r[2]), payload=dict(payload),
                  attempts=int(r[4]))
