"""Tracking storage: carrier events (stored once), per-shipment poll state, the poller lock.

`TrackingEventRow.dedupe_key` is unique, built by bot.domain.tracking.event_key from
(waybill, status, occurred_at, description): a node pushed twice and polled again is one row.
`ShipmentTracking` is one row per shipment the sweep knows; `next_poll_at` NULL means "not
polled any more" (delivered or returned).

The sweep applies tens of thousands of shipments in a row, each in a transaction of ~10
statements, so those statements are plain SQL here (as storage/orders_sql.py does for
intake: pypika and model building cost more than SQLite spends running them), written the
way tortoise writes them (UTC datetimes, JSON text, enum values). `AdvisoryLock` is raw SQL
too: on PostgreSQL only the instance holding a session advisory lock runs the scheduled
polls (DESIGN.md §6).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import asyncpg
from tortoise import fields
from tortoise.fields.data import JSON_DUMPS
from tortoise.models import Model

from bot.domain.parcels import CommonStatus
from storage import sql
from storage.sql import Stmt

log = logging.getLogger(__name__)
DESCRIPTION_MAX = 500
LOCATION_MAX = 128


class TrackingEventRow(Model):
    """One carrier event of one shipment, normalised; append-only in practice."""

    id = fields.BigIntField(primary_key=True)
    shipment: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.Shipment", related_name="tracking_events", db_index=True)
    shipment_id: int
    carrier = fields.CharField(16)
    waybill = fields.CharField(40)
    status = fields.CharEnumField(CommonStatus, max_length=20)
    occurred_at = fields.DatetimeField()
    location = fields.CharField(LOCATION_MAX, default="")
    description = fields.CharField(DESCRIPTION_MAX, default="")
    # `raw` is taken by tortoise's Model.raw(): the attribute is `payload`, the column `raw`.
    payload: Any = fields.JSONField(default=dict, source_field="raw")
    received_at = fields.DatetimeField(auto_now_add=True)
    dedupe_key = fields.CharField(64, unique=True)

    class Meta:
        table = "tracking_events"


class ShipmentTracking(Model):
    """Poll state of one shipment: when next to ask, what was last seen, alerts sent."""

    id = fields.IntField(primary_key=True)
    shipment: fields.OneToOneRelation[Any] = fields.OneToOneField(
        "models.Shipment", related_name="tracking")
    shipment_id: int
    next_poll_at = fields.DatetimeField(null=True, db_index=True)
    last_polled_at = fields.DatetimeField(null=True)
    last_event_at = fields.DatetimeField(null=True)
    status = fields.CharField(20, default="")  # CommonStatus value, "" before any event
    stuck_alerted_at = fields.DatetimeField(null=True)
    subscribed = fields.BooleanField(default=False)  # the carrier pushes this one to us

    class Meta:
        table = "shipment_tracking"


# ---- the apply path's statements (call inside a transaction where they write) -------------

EVENT_COLS = ("shipment_id", "carrier", "waybill", "status", "occurred_at", "location",
              "description", "raw", "received_at", "dedupe_key")
TRACKING_COLS = frozenset({"next_poll_at", "last_polled_at", "last_event_at", "status",
                           "stuck_alerted_at", "subscribed"})
EVENTS_PER_INSERT = 50
_LOCK_SHIPMENT = Stmt("SELECT status, carrier, waybill_no FROM shipments WHERE id = ?",
                      pg="SELECT status, carrier, waybill_no FROM shipments WHERE id = $1 "
                         "FOR UPDATE")
_LOCK_ORDER = Stmt("SELECT no, status FROM orders WHERE id = ?",
                   pg="SELECT no, status FROM orders WHERE id = $1 FOR UPDATE")
_ORDER_SHIPMENTS = Stmt("SELECT status, delivered_at FROM shipments "
                        "WHERE order_id = ? AND status <> 'cancelled'")
_SET_SHIPMENT = Stmt("UPDATE shipments SET status = ?, delivered_at = ? WHERE id = ?")


def utc(at: datetime | None) -> datetime | None:
    """Datetimes are written in UTC: SQLite compares the stored ISO text."""
    return at.astimezone(UTC) if at is not None else None


def _time(value: Any) -> datetime:
    # SQLite hands back the ISO text that was written, PostgreSQL a datetime.
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@lru_cache(maxsize=64)
def _in_stmt(prefix: str, n: int, suffix: str = "") -> Stmt:
    return Stmt(f"{prefix} IN ({', '.join('?' * n)}){suffix}")


@lru_cache(maxsize=64)
def _rows_stmt(table: str, cols: tuple[str, ...], n: int, tail: str = "") -> Stmt:
    row = "(" + ", ".join("?" * len(cols)) + ")"
    return Stmt(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                + ", ".join([row] * n) + tail)


async def stored_checkpoints(shipment_ids: Sequence[int]
                             ) -> dict[int, list[tuple[str, str, datetime]]]:
    """(dedupe_key, status, occurred_at) of every stored event, per shipment."""
    out: dict[int, list[tuple[str, str, datetime]]] = {i: [] for i in shipment_ids}
    if not shipment_ids:
        return out
    stmt = _in_stmt("SELECT shipment_id, dedupe_key, status, occurred_at FROM tracking_events "
                    "WHERE shipment_id", len(shipment_ids))
    for sid, key, status, at in await sql.fetch(stmt, list(shipment_ids)):
        out[sid].append((key, status, _time(at)))
    return out


async def lock_shipment(shipment_id: int) -> tuple[str, str | None, str | None]:
    """(status, carrier, waybill_no), row-locked on PostgreSQL until the transaction ends."""
    row = (await sql.fetch(_LOCK_SHIPMENT, (shipment_id,)))[0]
    return str(row[0]), row[1], row[2]


async def lock_order(order_id: int) -> tuple[str, str]:
    """(no, status), row-locked on PostgreSQL until the transaction ends."""
    row = (await sql.fetch(_LOCK_ORDER, (order_id,)))[0]
    return str(row[0]), str(row[1])


async def insert_events(rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert event rows (keys: EVENT_COLS minus received_at); the dedupe key is unique."""
    now = datetime.now(UTC)
    for i in range(0, len(rows), EVENTS_PER_INSERT):
        chunk = rows[i:i + EVENTS_PER_INSERT]
        args: list[Any] = []
        for r in chunk:
            args += (r["shipment_id"], r["carrier"], r["waybill"], str(r["status"]),
                     utc(r["occurred_at"]), r["location"], r["description"],
                     JSON_DUMPS(dict(r["raw"])), now, r["dedupe_key"])
        await sql.execute(_rows_stmt("tracking_events", EVENT_COLS, len(chunk)), args)


async def update_tracking(shipment_id: int, values: Mapping[str, Any]) -> bool:
    """Set poll-state columns of one shipment; False when it has no row yet."""
    cols = tuple(sorted(values))
    if not set(cols) <= TRACKING_COLS:
        raise ValueError(f"not a shipment_tracking column: {sorted(set(cols) - TRACKING_COLS)}")
    stmt = _update_stmt(cols)
    return bool(await sql.execute(stmt, [*(_db(values[c]) for c in cols), shipment_id]))


async def insert_tracking(shipment_id: int, values: Mapping[str, Any]) -> None:
    """Create the poll-state row unless another transaction just did."""
    row = {"next_poll_at": None, "last_polled_at": None, "last_event_at": None, "status": "",
           "stuck_alerted_at": None, "subscribed": False, **values}
    cols = ("shipment_id", *sorted(row))
    await sql.execute(_rows_stmt("shipment_tracking", cols, 1,
                                 " ON CONFLICT (shipment_id) DO NOTHING"),
                      [shipment_id, *(_db(row[c]) for c in cols[1:])])


async def mark_polled(tracking_ids: Sequence[int], at: datetime, next_at: datetime) -> None:
    stmt = _in_stmt("UPDATE shipment_tracking SET last_polled_at = ?, next_poll_at = ? "
                    "WHERE id", len(tracking_ids))
    await sql.execute(stmt, [utc(at), utc(next_at), *tracking_ids])


async def set_shipment(shipment_id: int, status: str, delivered_at: datetime | None) -> None:
    await sql.execute(_SET_SHIPMENT, (status, utc(delivered_at), shipment_id))


async def order_shipments(order_id: int) -> list[tuple[str, datetime | None]]:
    """(status, delivered_at) of the order's shipments that are not cancelled."""
    rows = await sql.fetch(_ORDER_SHIPMENTS, (order_id,))
    return [(str(s), _time(at) if at is not None else None) for s, at in rows]


@lru_cache(maxsize=64)
def _update_stmt(cols: tuple[str, ...]) -> Stmt:
    sets = ", ".join(f"{c} = ?" for c in cols)
    return Stmt(f"UPDATE shipment_tracking SET {sets} WHERE shipment_id = ?")


def _db(value: Any) -> Any:
    return utc(value) if isinstance(value, datetime) else value


# ---- the poller lock (PostgreSQL) ----------------------------------------------------------

def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock(bigint)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """A PostgreSQL session advisory lock held on a connection of its own.

    Session locks belong to the connection that took them, and tortoise's pool hands each
    statement whichever connection is free, so the lock gets a dedicated asyncpg
    connection. It is released when that connection closes, including when the process
    dies, so another instance takes over at its next attempt.
    """

    def __init__(self, dsn: str, name: str = "lvyue:scheduler") -> None:
        self._dsn = dsn.replace("asyncpg://", "postgres://", 1)
        self.key = lock_key(name)
        self._conn: Any = None
        self.held = False

    async def acquire(self) -> bool:
        """True while this process holds the lock (tries to take it when it does not)."""
        try:
            if self.held and await self._alive():
                return True
            await self._reset()
            self._conn = await asyncpg.connect(self._dsn)
            self.held = bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)",
                                                       self.key))
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("scheduler lock: cannot reach PostgreSQL: %s", exc)
            await self._reset()
        if not self.held:
            await self._reset()  # do not keep an idle connection while another instance leads
        return self.held

    async def _alive(self) -> bool:
        try:
            await self._conn.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def _reset(self) -> None:
        conn, self._conn, self.held = self._conn, None, False
        if conn is not None:
            try:
                await conn.close(timeout=5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()

    async def release(self) -> None:
        await self._reset()
