"""The one writer of order status and of the order log.

Ordering (confirm, hold, cancel, ship), tracking and anything else that changes
`orders.status` calls `move` inside its transaction: every step is checked against the
state machine (bot/domain/orders.py; an illegal step raises IllegalTransition), the final
status is written by one conditional UPDATE (storage/orders_sql.set_status: only if the
order is still in the status the check was made from), and each step is appended to the
order log in the same transaction. Entries that change nothing (a credit release, 加急)
go through `note`, a new order's first entry through `created`; nothing else writes the
order log.

When the order changed between the caller's read and the UPDATE (another confirmation,
a carrier event), the steps are checked again from the status it has now, as if the two
had run one after the other: still legal → written from there; no longer legal → raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain import orders as sm
from storage import orders_sql
from storage.models import OrderStatus

INITIAL = frozenset({OrderStatus.draft})
_ATTEMPTS = 4  # re-checks after racing changes before giving up


@dataclass(frozen=True)
class Seen:
    """An order as the caller read it: the status its move is checked from."""

    id: int
    no: str
    status: OrderStatus


@dataclass(frozen=True)
class Step:
    """One transition and its log entry."""

    to: OrderStatus
    action: str
    detail: Mapping[str, Any] = field(default_factory=dict)


async def move(order: Seen, steps: Step | Sequence[Step], *, actor: str, at: datetime,
               columns: Mapping[str, Any] | None = None) -> OrderStatus:
    """Move the order through `steps` (checked, written, logged); returns the status it
    was moved from. Call inside a transaction; `columns` are written with the status."""
    path = [steps] if isinstance(steps, Step) else list(steps)
    if not path:
        raise ValueError("move needs at least one step")
    seen = OrderStatus(order.status)
    for _ in range(_ATTEMPTS):
        _check(order.no, seen, path)
        if await orders_sql.set_status(order.id, seen, path[-1].to, columns):
            await orders_sql.insert_log(order.id, at, _entries(actor, seen, path))
            return seen
        seen = await orders_sql.order_status(order.id)
    raise sm.IllegalTransition(order.no, seen, path[0].to)


async def note(order: Seen, *, actor: str, action: str, at: datetime,
               detail: Mapping[str, Any] | None = None) -> None:
    """A log entry that changes no status (from = to = the current status)."""
    status = OrderStatus(order.status).value
    await orders_sql.insert_log(order.id, at, [
        orders_sql.LogEntry(actor, action, status, status, dict(detail or {}))])


async def created(order: Seen, *, actor: str, action: str, at: datetime,
                  detail: Mapping[str, Any] | None = None) -> None:
    """The first entry of a new order (written with its row, in the same transaction)."""
    status = OrderStatus(order.status)
    if status not in INITIAL:
        raise ValueError(f"order {order.no}: a new order starts as draft, not {status.value}")
    await orders_sql.insert_log(order.id, at, [
        orders_sql.LogEntry(actor, action, None, status.value, dict(detail or {}))])


def _check(no: str, current: OrderStatus, path: Sequence[Step]) -> None:
    for step in path:
        sm.check(no, current, step.to)
        current = step.to


def _entries(actor: str, seen: OrderStatus, path: Sequence[Step]
             ) -> list[orders_sql.LogEntry]:
    out = []
    current = seen
    for step in path:
        out.append(orders_sql.LogEntry(actor, step.action, current.value, step.to.value,
                                       step.detail))
        current = step.to
    return out
