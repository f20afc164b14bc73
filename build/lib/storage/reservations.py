"""Reservations as rows: who holds which stock (order line × warehouse × quantity).

`stock.reserved` is the fast counter the conditional UPDATEs check (storage/stock.py); each
`Reservation` row says which order line holds how much of it, like Saleor's `Allocation`.
The counter and the rows always move in one transaction:

- `reserve` raises every counter (all or nothing, OutOfStock otherwise) and inserts the
  rows, state ``active``;
- `release` (cancellation, re-allocation) lowers the counters by the order's active rows
  and marks them ``released``;
- `consume` (shipping) lowers on-hand and reserved by them and marks them ``consumed``.

Rows are kept after they close, so the stock can be audited: `drift` compares every
stock row's counter with the sum of the active rows (`python bot.py stock reconcile`), and
`fix` sets the counter to that sum. Orders reserved before the rows existed hold their
stock in the JSON lines of their reserved shipments; `backfill` writes rows for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from storage import sql
from storage import stock as stock_q
from storage.sql import Stmt


class ReservationState(StrEnum):
    active = "active"  # holds stock now
    released = "released"  # given back (order cancelled, or re-allocated)
    consumed = "consumed"  # shipped: on-hand went down by it


class Reservation(Model):
    """`qty` of a product held in a warehouse for one order line."""

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.Order", related_name="reservations", db_index=True)
    order_id: int
    order_line: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.OrderLine", related_name="reservations")
    order_line_id: int
    warehouse: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.Warehouse", related_name="reservations")
    warehouse_id: int
    product: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.Product", related_name="reservations")
    product_id: int
    qty = fields.IntField()
    state = fields.CharEnumField(ReservationState, max_length=10,
                                 default=ReservationState.active, db_index=True)
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "reservations"


@dataclass(frozen=True)
class Hold:
    """One reservation: the stock move (warehouse, product, qty) held for an order line."""

    order_line_id: int
    move: stock_q.StockMove


_COLS = ("order_id", "order_line_id", "warehouse_id", "product_id", "qty", "state",
         "created_at")
_ACTIVE = Stmt("SELECT order_line_id, warehouse_id, product_id, qty FROM reservations "
               "WHERE order_id = ? AND state = 'active' ORDER BY id")
_CLOSE = Stmt("UPDATE reservations SET state = ?, closed_at = ? "
              "WHERE order_id = ? AND state = 'active'")


@lru_cache(maxsize=64)
def _insert_stmt(n: int) -> Stmt:
    row = "(" + ", ".join("?" * len(_COLS)) + ")"
    return Stmt(f"INSERT INTO reservations ({', '.join(_COLS)}) VALUES "
                + ", ".join([row] * n))


# ---- the order's life (call inside the order's transaction) --------------------------------

async def reserve(order_id: int, holds: Sequence[Hold], at: datetime) -> None:
    """Raise the counters (raises OutOfStock, all or nothing) and record one row per hold."""
    if not holds:
        return
    await stock_q.reserve([h.move for h in holds])
    await _insert(order_id, holds, at)


async def active(order_id: int) -> list[Hold]:
    """The order's active reservations, oldest first."""
    rows = await sql.fetch(_ACTIVE, (order_id,))
    return [Hold(int(line), stock_q.StockMove(int(wh), int(pid), int(qty)))
            for line, wh, pid, qty in rows]


async def release(order_id: int, at: datetime) -> list[Hold]:
    """Give the order's reserved stock back; returns what was released."""
    holds = await _holding(order_id, at)
    await stock_q.release([h.move for h in holds])
    await _close(order_id, holds, ReservationState.released, at)
    return holds


async def consume(order_id: int, at: datetime) -> list[Hold]:
    """Shipping: on-hand and reserved go down by the order's reservations together."""
    holds = await _holding(order_id, at)
    await stock_q.deduct([h.move for h in holds])
    await _close(order_id, holds, ReservationState.consumed, at)
    return holds


async def _insert(order_id: int, holds: Sequence[Hold], at: datetime) -> None:
    args: list[Any] = []
    when = at.astimezone(UTC)
    for h in holds:
        args += (order_id, h.order_line_id, h.move.warehouse_id, h.move.product_id, h.move.qty,
                 ReservationState.active.value, when)
    await sql.execute(_insert_stmt(len(holds)), args)


async def _close(order_id: int, holds: Sequence[Hold], state: ReservationState,
                 at: datetime) -> None:
    if not holds:
        return
    n = await sql.execute(_CLOSE, (state.value, at.astimezone(UTC), order_id))
    if n != len(holds):  # the order row lock makes this impossible; never close half
        raise RuntimeError(f"order {order_id}: {n} of {len(holds)} reservations closed")


# ---- audit: drift between the counters and the rows ------------------------------------------

@dataclass(frozen=True)
class Drift:
    """A stock row whose counter disagrees with its active reservations."""

    warehouse: str
    sku: str
    counter: int  # stock.reserved
    rows: int  # sum of active reservation rows

    @property
    def difference(self) -> int:
        return self.counter - self.rows


_SUMS = ("SELECT warehouse_id, product_id, SUM(qty) AS held FROM reservations "
         "WHERE state = 'active' GROUP BY warehouse_id, product_id")
# One statement, so one snapshot on PostgreSQL: a confirmation committing meanwhile is seen
# in both the counter and the rows, or in neither. Rows for a (warehouse, product) without a
# stock row are drift too (the counter they should be part of is gone).
_DRIFT = Stmt(
    "SELECT w.code, p.sku, s.reserved, COALESCE(r.held, 0) FROM stock s "
    "JOIN warehouses w ON w.id = s.warehouse_id JOIN products p ON p.id = s.product_id "
    f"LEFT JOIN ({_SUMS}) r ON r.warehouse_id = s.warehouse_id AND r.product_id = s.product_id "
    "WHERE s.reserved <> COALESCE(r.held, 0) "
    f"UNION ALL SELECT w.code, p.sku, 0, r.held FROM ({_SUMS}) r "
    "JOIN warehouses w ON w.id = r.warehouse_id JOIN products p ON p.id = r.product_id "
    "WHERE NOT EXISTS (SELECT 1 FROM stock s WHERE s.warehouse_id = r.warehouse_id "
    "AND s.product_id = r.product_id) ORDER BY 1, 2")
_LOCK_STOCK = Stmt("SELECT id FROM stock WHERE reserved <> 0 OR id IN ("
                   "SELECT s.id FROM stock s JOIN reservations r ON r.warehouse_id = "
                   "s.warehouse_id AND r.product_id = s.product_id WHERE r.state = 'active')",
                   pg="SELECT id FROM stock WHERE reserved <> 0 OR id IN ("
                      "SELECT s.id FROM stock s JOIN reservations r ON r.warehouse_id = "
                      "s.warehouse_id AND r.product_id = s.product_id "
                      "WHERE r.state = 'active') ORDER BY id FOR UPDATE")
_FIX = Stmt(
    "UPDATE stock SET reserved = COALESCE((SELECT SUM(qty) FROM reservations r "
    "WHERE r.warehouse_id = stock.warehouse_id AND r.product_id = stock.product_id "
    "AND r.state = 'active'), 0) WHERE reserved <> COALESCE((SELECT SUM(qty) "
    "FROM reservations r WHERE r.warehouse_id = stock.warehouse_id "
    "AND r.product_id = stock.product_id AND r.state = 'active'), 0)")


async def drift() -> list[Drift]:
    """Every stock row whose `reserved` is not the sum of its active reservations."""
    rows = await sql.fetch(_DRIFT)
    return [Drift(str(code), str(sku), int(counter), int(held))
            for code, sku, counter, held in rows]


async def fix() -> int:
    """Set every drifted counter to the sum of its active rows; returns how many changed.

    The stock rows that hold anything are locked first (FOR UPDATE on PostgreSQL; SQLite
    serialises writers): a confirmation raises the counter before it inserts its rows, in
    one transaction, so once the lock is ours the sums include every committed reservation
    and no new one lands until we commit.
    """
    async with in_transaction():
        await sql.fetch(_LOCK_STOCK)
        return await sql.execute(_FIX)


# ---- orders reserved before the rows existed -------------------------------------------------

_LEGACY_ORDERS = Stmt(
    "SELECT DISTINCT s.order_id FROM shipments s JOIN orders o ON o.id = s.order_id "
    "WHERE s.reserved = ? AND o.status = 'allocated' AND NOT EXISTS ("
    "SELECT 1 FROM reservations r WHERE r.order_id = s.order_id) ORDER BY s.order_id")
_LEGACY_SHIPMENTS = Stmt(
    "SELECT warehouse_id, lines FROM shipments WHERE order_id = ? AND reserved = ? "
    "AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.order_id = ?) ORDER BY seq")
_LINES = Stmt("SELECT id FROM order_lines WHERE order_id = ? ORDER BY id")


async def backfill(at: datetime | None = None) -> int:
    """Rows for allocated orders that reserved stock before reservations were rows; the
    counters already include them. Harmless to run again; returns the rows written."""
    at = at or datetime.now(UTC)
    written = 0
    async with in_transaction():
        for (order_id,) in await sql.fetch(_LEGACY_ORDERS, (True,)):
            written += len(await _backfill_order(int(order_id), at))
    return written


async def _holding(order_id: int, at: datetime) -> list[Hold]:
    """The order's active rows; for an order reserved before the rows existed, written
    first from its reserved shipments' JSON lines (what the counter holds for it)."""
    return await active(order_id) or await _backfill_order(order_id, at)


async def _backfill_order(order_id: int, at: datetime) -> list[Hold]:
    shipments = await sql.fetch(_LEGACY_SHIPMENTS, (order_id, True, order_id))
    if not shipments:
        return []
    line_ids = [int(r[0]) for r in await sql.fetch(_LINES, (order_id,))]
    if not line_ids:
        return []
    holds = [Hold(_line_id(line_ids, ln), stock_q.StockMove(int(wh), int(ln["product_id"]),
                                                            int(ln["qty"]), sku=ln.get("sku", "")))
             for wh, lines in shipments for ln in _json(lines)]
    if holds:
        await _insert(order_id, holds, at)
    return holds


def _line_id(line_ids: Sequence[int], line: Mapping[str, Any]) -> int:
    """The order line a shipment's JSON line belongs to: its index among the order's lines
    (the first line when the index is out of range; the quantities are what count)."""
    index = int(line.get("line", 0))
    return line_ids[index] if 0 <= index < len(line_ids) else line_ids[0]


def _json(value: Any) -> list[dict[str, Any]]:
    parsed = json.loads(value) if isinstance(value, str | bytes) else value
    return list(parsed or [])
