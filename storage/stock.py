"""The atomic stock and credit queries. Call them inside a transaction; each raises on conflict
so the caller's transaction rolls back whole (all lines or none)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tortoise.expressions import F

from storage.models import Customer, Stock


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


async def reserve(moves: Sequence[StockMove]) -> None:
    """reserved += qty where on_hand - reserved - qty >= floor, for every move, or raise."""
    for m in _ordered(moves):
        n = await Stock.filter(
            warehouse_id=m.warehouse_id, product_id=m.product_id,
            on_hand__gte=F("reserved") + (m.qty + m.floor),
        ).update(reserved=F("reserved") + m.qty)
        if n != 1:
            raise OutOfStock(m)


async def release(moves: Sequence[StockMove]) -> None:
    """Give reserved stock back (cancellation)."""
    for m in _ordered(moves):
        n = await Stock.filter(warehouse_id=m.warehouse_id, product_id=m.product_id,
                               reserved__gte=m.qty).update(reserved=F("reserved") - m.qty)
        if n != 1:
            raise OutOfStock(m)


async def deduct(moves: Sequence[StockMove]) -> None:
    """Shipping: on_hand -= qty and reserved -= qty together."""
    for m in _ordered(moves):
        n = await Stock.filter(
            warehouse_id=m.warehouse_id, product_id=m.product_id,
            reserved__gte=m.qty, on_hand__gte=m.qty,
        ).update(on_hand=F("on_hand") - m.qty, reserved=F("reserved") - m.qty)
        if n != 1:
            raise OutOfStock(m)


async def charge_credit(customer_id: int, amount: Decimal, tolerance: float,
                        force: bool = False) -> Decimal:
    """Add `amount` to the customer's open exposure if the limit allows (or `force`).

    The row is locked (FOR UPDATE on PostgreSQL; SQLite transactions are serialised), so two
    racing confirmations cannot both pass. Returns the credit left afterwards.
    """
    c = await Customer.filter(id=customer_id).select_for_update().get()
    allowed = c.credit_limit * (1 + Decimal(str(tolerance)))
    if not force and c.exposure + amount > allowed:
        raise CreditExceeded(f"exposure {c.exposure} + {amount} > {allowed}")
    c.exposure = c.exposure + amount
    await c.save(update_fields=["exposure"])
    return allowed - c.exposure


async def refund_credit(customer_id: int, amount: Decimal) -> None:
    c = await Customer.filter(id=customer_id).select_for_update().get()
    c.exposure = max(Decimal(0), c.exposure - amount)
    await c.save(update_fields=["exposure"])
