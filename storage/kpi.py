"""The dashboard's reads (bot/kpi.py computes from them): a few statements, narrow rows.

Sized for ~4,000 orders a day over 30–90 days: one statement reads the orders of the
period (three epoch numbers a row), one the shipments (carrier plus four epoch numbers, the
order's creation time joined in), and the rest are grouped counts. Times come back as epoch
seconds computed by the database (SQLite's julianday on the stored UTC text, PostgreSQL's
date_part), so Python parses no datetimes. Days and months are China time (UTC+8).

The periods are filtered on orders.created_at/shipped_at/delivered_at and
shipments.shipped_at/delivered_at; without indexes on them each of the two row reads is one
scan of its table, and the repeat-purchase figures scan the orders of all time (they need
every customer's earlier purchases): bench/dashboard.py measures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from storage import sql
from storage.models import Order, OrderStatus
from storage.sql import Stmt

QUESTION_KINDS = ("logistics", "order")  # 查物流, 查单: people asking where their goods are
# Orders whose promise may still be missed: confirmed, not delivered, not cancelled.
OPEN_STATUSES = ("confirmed", "allocated", "shipped", "in_transit", "out_for_delivery",
                 "on_hold", "exception")


def _epoch(col: str) -> tuple[str, str]:
    """(SQLite, PostgreSQL) expressions for a timestamp column as epoch seconds."""
    return f"(julianday({col}) - 2440587.5) * 86400.0", f"date_part('epoch', {col})"


def _both(template: str, **cols: str) -> Stmt:
    """A statement whose {name} slots are epoch expressions of the named columns."""
    lite = template.format(**{k: _epoch(c)[0] for k, c in cols.items()})
    pg = template.format(**{k: _epoch(c)[1] for k, c in cols.items()})
    return Stmt(lite, pg=Stmt(pg).pg)


# An order counts as placed once submitted: never a draft, nor a draft that was cancelled
# (bot/kpi.py "placed"; messages/facts.py's daily report uses the same rule).
PLACED_SQL = ("status <> 'draft' AND (status <> 'cancelled' OR confirmed_at IS NOT NULL)")


def placed(query: QuerySet[Order]) -> QuerySet[Order]:
    """PLACED_SQL for an ORM query (看板, the daily report)."""
    return query.exclude(status=OrderStatus.draft).exclude(
        Q(status=OrderStatus.cancelled) & Q(confirmed_at__isnull=True))

_ORDERS = _both(
    "SELECT {c}, {s}, {d}, CASE WHEN " + PLACED_SQL + " THEN 1 ELSE 0 END FROM orders "
    "WHERE created_at >= ? OR shipped_at >= ? OR delivered_at >= ?",
    c="created_at", s="shipped_at", d="delivered_at")
# CROSS JOIN: SQLite then scans shipments and looks each order up by its key, instead of
# scanning every order and searching its shipments (PostgreSQL plans it as a plain join).
# Then the imported delivery history (bot.py import deliveries): parcels shipped and
# delivered, with no promise (so in no deviation figure).
_SHIPMENTS = _both(
    "SELECT s.carrier, {o}, {p}, {s}, {d} FROM shipments s CROSS JOIN orders o "
    "WHERE o.id = s.order_id AND (s.shipped_at >= ? OR s.delivered_at >= ?) "
    "UNION ALL SELECT carrier, {hc}, NULL, {hs}, {hd} FROM delivery_history "
    "WHERE shipped_at >= ? OR delivered_at >= ?",
    o="o.created_at", p="s.promised_at", s="s.shipped_at", d="s.delivered_at",
    hc="confirmed_at", hs="shipped_at", hd="delivered_at")
_KINDS = ", ".join(f"'{k}'" for k in QUESTION_KINDS)
_QUESTIONS = Stmt(
    "SELECT date(at, '+8 hours'), kind, COUNT(*) FROM chat_questions "
    f"WHERE at >= ? AND at < ? AND kind IN ({_KINDS}) GROUP BY 1, 2",
    pg="SELECT to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'), kind, COUNT(*) "
       f"FROM chat_questions WHERE at >= $1 AND at < $2 AND kind IN ({_KINDS}) GROUP BY 1, 2")
_HELD = Stmt("SELECT COUNT(*) FROM orders WHERE status = 'on_hold'")
# Orders written by `bot.py demo` as history (bot/demo_history.py DEMO_CHANNEL)
_DEMO = Stmt("SELECT COUNT(*) FROM orders WHERE channel = 'demo' AND created_at >= ?")
_OPEN = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
_LATE = Stmt(
    "SELECT COUNT(*) FROM orders o JOIN shipments s ON s.order_id = o.id "
    f"WHERE o.status IN ({_OPEN}) AND o.confirmed_at IS NOT NULL "
    "AND s.status NOT IN ('delivered', 'cancelled') AND s.promised_at < ?")


@lru_cache(maxsize=4)
def _purchases(months: int) -> Stmt:
    """(month bucket, customer) of every purchase: bucket i ≥ 1 when placed on or after the
    i-th month boundary given (oldest first), 0 before the first. A purchase is an order
    that was confirmed and not cancelled. One scan of orders, with plain comparisons (no
    date functions) and a DISTINCT over a few thousand pairs: the cheapest form on SQLite."""
    case = " ".join(f"WHEN created_at >= ? THEN {months - i}" for i in range(months))
    return Stmt(f"SELECT DISTINCT CASE {case} ELSE 0 END, +customer_id FROM orders "
                "WHERE confirmed_at IS NOT NULL AND status <> 'cancelled'",
                pg=Stmt(f"SELECT DISTINCT CASE {case} ELSE 0 END, customer_id FROM orders "
                        "WHERE confirmed_at IS NOT NULL AND status <> 'cancelled'").pg)


# created, shipped, delivered (epoch seconds), placed (1: counts as an order, see PLACED_SQL)
OrderRow = tuple[float | None, float | None, float | None, int]
# carrier, its order's creation, promised, shipped, delivered (epoch seconds)
ShipmentRow = tuple[str | None, float | None, float | None, float | None, float | None]


@dataclass(frozen=True)
class Raw:
    orders: Sequence[OrderRow]
    shipments: Sequence[ShipmentRow]
    questions: dict[tuple[date, str], int]
    held_now: int
    late_now: int
    purchases: list[tuple[int, int]]  # (bucket, customer), see _purchases
    demo_orders: int = 0  # demo history orders placed in the period


def _statements(start: datetime, now: datetime, months: Sequence[datetime]
                ) -> dict[str, tuple[Stmt, tuple[Any, ...]]]:
    return {"orders": (_ORDERS, (start, start, start)), "shipments": (_SHIPMENTS, (start,) * 4),
            "questions": (_QUESTIONS, (start, now)), "held": (_HELD, ()), "late": (_LATE, (now,)),
            "purchases": (_purchases(len(months)), tuple(reversed(months))),
            "demo": (_DEMO, (start,))}


async def read(start: datetime, now: datetime, months: Sequence[datetime]) -> Raw:
    """Everything the dashboard needs for [start, now), and the purchases bucketed by the
    month starts `months` (oldest first).

    One snapshot, off the event loop on SQLite (storage/sql.py `read_snapshot`).
    """
    rows = await sql.read_snapshot(_statements(start, now, months))
    # Rows stay as the driver's tuples/records: SQLite's REAL and PostgreSQL's
    # double precision both arrive as float, and 100,000s of rows are not copied again.
    return Raw(rows["orders"], rows["shipments"],
               {(date.fromisoformat(str(d)), str(k)): int(n) for d, k, n in rows["questions"]},
               int(rows["held"][0][0]), int(rows["late"][0][0]),
               [(int(b), int(c)) for b, c in rows["purchases"]], int(rows["demo"][0][0]))
