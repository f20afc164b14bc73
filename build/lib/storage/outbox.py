"""The outbox's atomic queries: enqueue, claim under a lease, settle, and the operator view.

* `enqueue` runs inside the caller's transaction (the state change that caused the
  notifications), so both commit together or neither does. Duplicates by `dedup_key` are
  skipped by the database (ON CONFLICT DO NOTHING / INSERT OR IGNORE), race-free.
* `claim` is one statement: an UPDATE of the due rows, RETURNING them. On PostgreSQL the
  rows are picked by a ``FOR UPDATE SKIP LOCKED`` sub-select, so several dispatchers
  (several instances) never claim the same row; on SQLite the statement runs under the
  database's single writer lock, which serialises claimers just as well.
* A claim is a lease: the row's due time becomes the lease end, so a dispatcher killed
  mid-send leaves a row that any dispatcher claims again once the lease runs out (or at
  once, by `recover`, when the same worker id restarts).
* `mark_retry`/`mark_dead` are fenced by (worker, attempt): a dispatcher whose lease ran out
  cannot overwrite the row another one has claimed since. `mark_sent` is not fenced: once
  something was delivered, saying so is always right.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import F
from tortoise.functions import Count

from storage import notify_sql, sql
from storage.outbox_models import OutboxNotification, OutboxStatus
from storage.seen import stored_key

__all__ = ["Claimed", "Notification", "OutboxNotification", "OutboxStatus", "claim", "counts",
           "enqueue", "enqueue_claimed", "list", "list_rows", "mark_dead", "mark_retry",
           "mark_sent", "next_due", "purge_sent", "recover", "retry_all_dead", "retry_dead"]


@dataclass(frozen=True)
class Notification:
    """A notification as planned (messages/notify.py), before it is stored."""

    dedup_key: str
    event: str
    channel: str
    recipient: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None  # None: as soon as possible
    quiet: bool = False  # customer push: wait out quiet hours, also on retries
    order_no: str | None = None

    @property
    def critical(self) -> bool:
        return not self.quiet


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds under a lease; `attempts` counts this attempt."""

    id: int
    dedup_key: str
    event: str
    channel: str
    recipient: str
    template: str
    context: dict[str, Any]
    order_no: str | None
    quiet: bool
    attempts: int
    worker_id: str


def ms(t: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    if t.tzinfo is None:
        raise ValueError("outbox times must be timezone-aware")
    return int(t.timestamp() * 1000)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# ---- enqueue ---------------------------------------------------------------------------

async def enqueue(items: Iterable[Notification], now: datetime | None = None) -> int:
    """Store the notifications in the current transaction; returns how many were offered.

    Rows whose dedup_key is already stored (or repeated in `items`) are skipped.
    """
    at = _now(now)
    rows: dict[str, list[Any]] = {}
    for n in items:
        key = stored_key(n.dedup_key)
        if key not in rows:
            rows[key] = _values(n, key, at)
    if rows:
        await notify_sql.insert_outbox([*rows.values()])
    return len(rows)


def _values(n: Notification, key: str, now: datetime) -> list[Any]:
    """A row in notify_sql.OUTBOX_COLS order."""
    due = max(now, n.not_before) if n.not_before is not None else now
    return [key, n.event, n.channel, n.recipient, n.template, dict(n.context), n.order_no,
            OutboxStatus.pending.value, n.quiet, 0, n.not_before, ms(due), now, now]


_INSERT_CLAIMED = sql.Stmt(
    "INSERT INTO outbox (dedup_key, event, channel, recipient, template, context, order_no, "
    "status, quiet, attempts, not_before, next_attempt_ms, claimed_by, claimed_until_ms, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', ?, 1, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING id")


async def enqueue_claimed(items: Iterable[Notification], worker_id: str, lease_seconds: float,
                          now: datetime | None = None) -> builtins.list[Claimed]:
    """Store notifications already claimed by `worker_id`, in the caller's transaction, for
    a sender that delivers them at once (the chat front's replies); a row whose dedup_key
    is stored already is skipped. Should the worker die before settling them, they come
    back like any claimed row (its restart, or the lease)."""
    at = _now(now)
    until = ms(at) + int(lease_seconds * 1000)
    out = []
    for n in items:
        key = stored_key(n.dedup_key)
        rows = await sql.fetch(_INSERT_CLAIMED, (
            key, n.event, n.channel, n.recipient, n.template,
            json.dumps(dict(n.context), ensure_ascii=False), n.order_no, n.quiet,
            n.not_before, until, worker_id, until, at, at))
        if rows:
            out.append(Claimed(id=int(rows[0][0]), dedup_key=key, event=n.event,
                               channel=n.channel, recipient=n.recipient, template=n.template,
                               context=dict(n.context), order_no=n.order_no, quiet=n.quiet,
                               attempts=1, worker_id=worker_id))
    return out


# ---- claim -----------------------------------------------------------------------------

_RETURNING = ("id, dedup_key, event, channel, recipient, template, context, order_no, quiet, "
              "attempts")
_CLAIM_SQLITE = (
    "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until_ms = ?, "
    "next_attempt_ms = ?, attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM outbox WHERE next_attempt_ms <= ? "
    "AND channel IN (SELECT value FROM json_each(?)) "
    "ORDER BY next_attempt_ms, id LIMIT ?) "
    f"RETURNING {_RETURNING}")
_CLAIM_PG = (
    "WITH due AS (SELECT id FROM outbox WHERE next_attempt_ms <= $3 "
    "AND channel = ANY($4::text[]) ORDER BY next_attempt_ms, id LIMIT $5 "
    "FOR UPDATE SKIP LOCKED) "
    "UPDATE outbox o SET status = 'sending', claimed_by = $1, claimed_until_ms = $2, "
    "next_attempt_ms = $2, attempts = o.attempts + 1 FROM due WHERE o.id = due.id "
    "RETURNING " + ", ".join(f"o.{c.strip()}" for c in _RETURNING.split(",")))
_CLAIM = sql.Stmt(_CLAIM_SQLITE, pg=_CLAIM_PG)


async def claim(n: int, worker_id: str, lease_seconds: float, now: datetime | None = None,
                channels: Sequence[str] = ()) -> builtins.list[Claimed]:
    """Claim up to `n` due rows of `channels` for `worker_id` until now + lease_seconds."""
    if n <= 0 or not channels:
        return []
    at = ms(_now(now))
    until = at + int(lease_seconds * 1000)
    if sql.is_postgres():
        args: tuple[Any, ...] = (worker_id, until, at, [*channels], n)
    else:
        args = (worker_id, until, until, at, json.dumps([*channels]), n)
    rows = await sql.fetch(_CLAIM, args)
    return sorted((_claimed(r, worker_id) for r in rows), key=lambda c: c.id)


def _claimed(r: Sequence[Any], worker_id: str) -> Claimed:
    context = r[6]
    if isinstance(context, str | bytes):
        context = json.loads(context)
    return Claimed(id=int(r[0]), dedup_key=r[1], event=r[2], channel=r[3], recipient=r[4],
                   template=r[5], context=dict(context or {}), order_no=r[7],
                   quiet=bool(r[8]), attempts=int(r[9]), worker_id=worker_id)


async def recover(worker_id: str) -> int:
    """Make rows still claimed by `worker_id` due now (it restarted: those sends died).

    Only safe when no other live process uses the same worker id.
    """
    return await OutboxNotification.filter(
        status=OutboxStatus.sending, claimed_by=worker_id,
    ).update(status=OutboxStatus.pending, next_attempt_ms=0, claimed_by=None,
             claimed_until_ms=None, last_error="发送中断（进程重启），重新发送")


async def next_due(channels: Sequence[str]) -> int | None:
    """Epoch ms of the earliest due time among unsettled rows of `channels`."""
    if not channels:
        return None
    row = await (OutboxNotification
                 .filter(channel__in=[*channels], next_attempt_ms__not_isnull=True)
                 .order_by("next_attempt_ms").only("id", "next_attempt_ms").first())
    return row.next_attempt_ms if row is not None else None


# ---- settle ----------------------------------------------------------------------------

def _held(c: Claimed) -> Any:
    return OutboxNotification.filter(id=c.id, status=OutboxStatus.sending,
                                     claimed_by=c.worker_id, attempts=c.attempts)


_MARK_SENT = sql.Stmt(
    "UPDATE outbox SET status = 'sent', sent_at = ?, remote_id = ?, rendered = ?, "
    "next_attempt_ms = NULL, claimed_by = NULL, claimed_until_ms = NULL "
    "WHERE id = ? AND status <> 'sent'")


async def mark_sent(c: Claimed, remote_id: str | None, rendered: str | None,
                    now: datetime | None = None) -> bool:
    """Record the delivery; False if the row was already settled as sent. (Plain SQL: it
    runs once per message sent, chat replies included, and the ORM update cost more CPU
    than the rest of settling.)"""
    changed = await sql.execute(_MARK_SENT, (_now(now), (remote_id or "")[:128] or None,
                                             rendered, c.id))
    return bool(changed)


async def mark_retry(c: Claimed, next_at: datetime, error: str, *, refund: bool = False
                     ) -> bool:
    """Back to pending until `next_at`; `refund` gives the attempt back (rate limit, quiet
    hours: nothing was tried). False if this worker no longer holds the row."""
    values: dict[str, Any] = {"status": OutboxStatus.pending, "next_attempt_ms": ms(next_at),
                              "claimed_by": None, "claimed_until_ms": None,
                              "last_error": error[:2000]}
    if refund:
        values["attempts"] = F("attempts") - 1
    return bool(await _held(c).update(**values))


async def mark_dead(c: Claimed, reason: str) -> bool:
    """A dead letter with its reason; False if this worker no longer holds the row."""
    return bool(await _held(c).update(
        status=OutboxStatus.dead, next_attempt_ms=None, claimed_by=None,
        claimed_until_ms=None, last_error=reason[:2000]))


# ---- operator view ---------------------------------------------------------------------

async def retry_dead(notification_id: int, now: datetime | None = None) -> bool:
    """Send a dead letter again (attempts start over); False if it is not dead."""
    return bool(await OutboxNotification.filter(
        id=notification_id, status=OutboxStatus.dead,
    ).update(status=OutboxStatus.pending, attempts=0, next_attempt_ms=ms(_now(now))))


async def retry_all_dead(now: datetime | None = None, channel: str | None = None) -> int:
    """Send every dead letter (of one channel) again; returns how many."""
    q = OutboxNotification.filter(status=OutboxStatus.dead)
    if channel:
        q = q.filter(channel=channel)
    return await q.update(status=OutboxStatus.pending, attempts=0, next_attempt_ms=ms(_now(now)))


async def purge_sent(before: datetime, limit: int = 10_000) -> int:
    """Delete up to `limit` sent rows older than `before` (dead, pending and sending rows stay:
    they are work or evidence). Returns how many; call again while it returns `limit`."""
    ids = await OutboxNotification.filter(status=OutboxStatus.sent, sent_at__lt=before) \
        .order_by("id").limit(limit).values_list("id", flat=True)
    if not ids:
        return 0
    return await OutboxNotification.filter(id__in=[*ids]).delete()


async def counts() -> dict[str, int]:
    """Rows per status, every status present (zero when none)."""
    rows = await (OutboxNotification.all().annotate(n=Count("id")).group_by("status")
                  .values_list("status", "n"))
    out = dict.fromkeys((s.value for s in OutboxStatus), 0)
    out.update({str(getattr(s, "value", s)): int(n) for s, n in rows})
    return out


async def list_rows(status: OutboxStatus | str | None = None, limit: int = 50,
                    channel: str | None = None, order_no: str | None = None
                    ) -> Sequence[OutboxNotification]:
    """The newest rows, optionally of one status, channel or order."""
    q = OutboxNotification.all()
    if status is not None:
        q = q.filter(status=OutboxStatus(status))
    if channel:
        q = q.filter(channel=channel)
    if order_no:
        q = q.filter(order_no=order_no)
    return await q.order_by("-id").limit(limit)


list = list_rows  # the operator API's name; nothing in this module calls the builtin
