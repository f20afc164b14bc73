"""The reads and writes notifications make inside a state change's transaction, in plain SQL
(storage/sql.py): planning runs in the order-confirm hot path, where tortoise's ORM
round-trips cost more than the confirmation itself (bench/intake.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage import sql
from storage.sql import Stmt

_ORDER_FACTS = Stmt(
    "SELECT o.no, c.code, c.name, c.contact, c.phone, o.address_raw, c.address, c.openid, "
    "o.salesperson, c.sales_owner, o.promised_at, "
    "s.id, s.seq, s.carrier, s.waybill_no, w.name, s.promised_at "
    "FROM orders o JOIN customers c ON c.id = o.customer_id "
    "LEFT JOIN shipments s ON s.order_id = o.id "
    "LEFT JOIN warehouses w ON w.id = s.warehouse_id "
    "WHERE o.no = ? ORDER BY s.seq")
_TIMES = (10, 16)


async def order_facts(order_no: str) -> list[list[Any]]:
    """One row per shipment (or one with NULL shipment columns); times as datetimes."""
    rows = [list(r) for r in await sql.fetch(_ORDER_FACTS, (order_no,))]
    for r in rows:
        for i in _TIMES:
            if isinstance(r[i], str):
                r[i] = datetime.fromisoformat(r[i])
    return rows


_TOLD = Stmt("SELECT 1 FROM outbox WHERE order_no = ? AND event = ? AND status <> 'dead' "
             "LIMIT 1")


async def told(order_no: str, event: str) -> bool:
    """Whether a notification of `event` about the order was sent or is on its way (any
    row but a dead letter)."""
    return bool(await sql.fetch(_TOLD, (order_no, event)))


OUTBOX_COLS = ("dedup_key", "event", "channel", "recipient", "template", "context",
               "order_no", "status", "quiet", "attempts", "not_before", "next_attempt_ms",
               "created_at", "updated_at")
_ONE = "(" + ", ".join("?" * len(OUTBOX_COLS)) + ")"


def _insert(n: int) -> Stmt:
    values = ", ".join([_ONE] * n)
    text = f"INSERT INTO outbox ({', '.join(OUTBOX_COLS)}) VALUES {values}"
    return Stmt(f"{text} ON CONFLICT (dedup_key) DO NOTHING",
                pg=Stmt(f"{text} ON CONFLICT (dedup_key) DO NOTHING").pg)


_STATEMENTS = {n: _insert(n) for n in range(1, 9)}


async def insert_outbox(rows: Sequence[Sequence[Any]]) -> None:
    """Insert outbox rows (values in OUTBOX_COLS order, context already a dict); a row whose
    dedup_key is stored already is skipped by the database."""
    for i in range(0, len(rows), 8):
        chunk = rows[i:i + 8]
        args = [v for row in chunk for v in _encode(row)]
        await sql.execute(_STATEMENTS[len(chunk)], args)


def _encode(row: Sequence[Any]) -> list[Any]:
    out = list(row)
    out[5] = json.dumps(out[5], ensure_ascii=False)
    return out
