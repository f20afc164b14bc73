"""The atomic stock and credit queries. Call them inside a transaction; each raises on conflict
so the caller's transaction rolls back whole (all lines or none)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain import credit
from storage import sql
from storage.models import Customer
from storage.sql import Stmt


@dataclass(frozen=True)
class StockMove:
    warehouse_id: int
    product_id: int
    qty: int
    floor: int = 0  # leave at least this much available (safety stock the rule protects)
    sku: str = ""
    warehouse: str = ""


class OutOfStock(Exception):
    def __init__(self, move: StockMove) -> None:
        self.move = move
        super().__init__(f"{move.sku or move.product_id} @ {move.warehouse or move.warehouse_id}")


class CreditExceeded(Exception):
    pass


def _ordered(moves: Iterable[StockMove]) -> list[StockMove]:
    # A fixed lock order keeps concurrent PostgreSQL transactions from deadlocking.
    return sorted(moves, key=lambda m: (m.warehouse_id, m.product_id))


# Raw SQL (storage/sql.py): these run on every confirmation, where the ORM's query building
# cost more than the statements. Each UPDATE is conditional, so it is atomic on its own.
_RESERVE = Stmt("UPDATE stock SET reserved = reserved + ? "
                "WHERE warehouse_id = ? AND product_id = ? AND on_hand >= reserved + ?")
_RELEASE = Stmt("UPDATE stock SET reserved = reserved - ? "
                "WHERE warehouse_id = ? AND product_id = ? AND reserved >= ?")
_DEDUCT = Stmt("UPDATE stock SET on_hand = on_hand - ?, reserved = reserved - ? "
               "WHERE warehouse_id = ? AND product_id = ? AND reserved >= ? AND on_hand >= ?")
_CREDIT_READ = Stmt("SELECT exposure, credit_limit FROM customers WHERE id = ?",
                    pg="SELECT exposure, credit_limit FROM customers WHERE id = $1 FOR UPDATE")
_CREDIT_SET = Stmt("UPDATE customers SET exposure = ? WHERE id = ?")
_CREDIT_CAS = Stmt("UPDATE customers SET exposure = ? "
                   "WHERE id = ? AND exposure = ? AND credit_limit = ?")
CENT = Decimal("0.01")


async def reserve(moves: Sequence[StockMove]) -> None:
    """reserved += qty where on_hand - reserved - qty >= floor, for every move, or raise."""
    for m in _ordered(moves):
        n = await sql.execute(_RESERVE, (m.qty, m.warehouse_id, m.product_id, m.qty + m.floor))
        if n != 1:
            raise OutOfStock(m)


async def release(moves: Sequence[StockMove]) -> None:
    """Give reserved stock back (cancellation)."""
    for m in _ordered(moves):
        n = await sql.execute(_RELEASE, (m.qty, m.warehouse_id, m.product_id, m.qty))
        if n != 1:
            raise OutOfStock(m)


async def deduct(moves: Sequence[StockMove]) -> None:
    """Shipping: on_hand -= qty and reserved -= qty together."""
    for m in _ordered(moves):
        n = await sql.execute(_DEDUCT, (m.qty, m.qty, m.warehouse_id, m.product_id, m.qty, m.qty))
        if n != 1:
            raise OutOfStock(m)


@dataclass(frozen=True)
class CreditSeen:
    """The customer's exposure and limit as stored when the caller read them."""

    exposure: Any
    credit_limit: Any


async def charge_credit(customer_id: int, amount: Decimal, tolerance: float,
                        force: bool = False, seen: CreditSeen | None = None) -> Decimal:
    """Add `amount` to the customer's open exposure if the limit allows (or `force`).

    With `seen` (values read earlier, outside the transaction) it is one compare-and-set
    UPDATE that only lands if neither value changed since; otherwise, or without `seen`, the
    row is read locked (FOR UPDATE on PostgreSQL; SQLite transactions are serialised) and
    written. Either way two racing confirmations cannot both pass. Returns the credit left.
    """
    if seen is not None:
        exposure, limit = Decimal(seen.exposure), Decimal(seen.credit_limit)
        after = _charged(exposure, credit.allowed(limit, tolerance), amount, force)
        if await sql.execute(_CREDIT_CAS, (after, customer_id, seen.exposure,
                                           seen.credit_limit)) == 1:
            return credit.left(limit, after, tolerance)
    rows = await sql.fetch(_CREDIT_READ, (customer_id,))
    exposure, limit = Decimal(rows[0][0]), Decimal(rows[0][1])
    after = _charged(exposure, credit.allowed(limit, tolerance), amount, force)
    await sql.execute(_CREDIT_SET, (after, customer_id))
    return credit.left(limit, after, tolerance)


def _charged(exposure: Decimal, allowed: Decimal, amount: Decimal, force: bool) -> Decimal:
    if not force and exposure + amount > allowed:
        raise CreditExceeded(f"exposure {exposure} + {amount} > {allowed}")
    return (exposure + amount).quantize(CENT)


async def refund_credit(customer_id: int, amount: Decimal) -> None:
    c = await Customer.filter(id=customer_id).select_for_update().get()
    c.exposure = max(Decimal(0), c.exposure - amount)
    await c.save(update_fields=["exposure"])
