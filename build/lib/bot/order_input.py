"""The checks an order's input passes before anything is read or written, whichever adapter it
came through (REST, chat, console): the limits of bot/domain/limits.py and the discount rule of
bot/domain/pricing.py. Failures are InputError (422 / a Chinese chat reply) naming the field;
a price below the floor without approval is PriceNotApproved (403 on the API).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from bot.domain import limits, pricing


class InputError(ValueError):
    """Bad input, named by field (maps to 422 problem+json or a Chinese chat reply)."""

    def __init__(self, field_name: str, code: str, message: str) -> None:
        self.field, self.code, self.message = field_name, code, message
        super().__init__(f"{field_name}: {message}")


class PriceNotApproved(InputError):
    """Unit prices below the discount floor, placed by someone who may not approve them."""

    def __init__(self, lines: Sequence[pricing.BelowFloor]) -> None:
        self.lines = list(lines)
        first = self.lines[0]
        super().__init__(f"lines[{first.index}].price", "below_floor",
                         "；".join(b.message for b in self.lines))


class _Line(Protocol):
    @property
    def sku(self) -> str: ...
    @property
    def qty(self) -> int: ...
    @property
    def price(self) -> Decimal | None: ...


class _Order(Protocol):  # bot.ordering.PlaceOrder (which imports this module)
    @property
    def customer(self) -> str: ...
    @property
    def lines(self) -> Sequence[_Line]: ...
    @property
    def address(self) -> str | None: ...
    @property
    def invoice(self) -> Mapping[str, str] | None: ...
    @property
    def channel(self) -> str: ...
    @property
    def campaign(self) -> str | None: ...
    @property
    def idempotency_key(self) -> str | None: ...
    @property
    def warehouse(self) -> str | None: ...


def check_order(cmd: _Order) -> None:
    """Raise InputError for the first value outside the limits."""
    if r := limits.lines_refusal(len(cmd.lines)):
        raise InputError("lines", r.code, r.message)
    texts: list[tuple[str, Any]] = [
        ("customer", cmd.customer), ("address", cmd.address), ("channel", cmd.channel),
        ("campaign", cmd.campaign), ("idempotency_key", cmd.idempotency_key),
        ("warehouse", cmd.warehouse),
        *((f"invoice.{k}", v) for k, v in (cmd.invoice or {}).items()),
        *((f"lines[{i}].sku", ln.sku) for i, ln in enumerate(cmd.lines))]
    for field, value in texts:
        if isinstance(value, str) and (r := limits.text_refusal(field, value)):
            raise InputError(field, r.code, r.message)
    for i, ln in enumerate(cmd.lines):
        if r := limits.qty_refusal(ln.qty):
            raise InputError(f"lines[{i}].qty", r.code, r.message)
        if ln.price is not None and (r := limits.price_refusal(ln.price)):
            raise InputError(f"lines[{i}].price", r.code, r.message)


def check_prices(lines: Sequence[tuple[int, str, Decimal, Decimal]],
                 policy: pricing.PricingPolicy, approved: bool) -> None:
    """(index, sku, list price, unit price) per line: PriceNotApproved unless `approved`."""
    if approved:
        return
    low = pricing.below_floor([pricing.PriceLine(i, sku, lp, up) for i, sku, lp, up in lines],
                              policy)
    if low:
        raise PriceNotApproved(low)
