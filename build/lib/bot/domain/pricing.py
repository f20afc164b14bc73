"""The discount rule: a unit price below the price list needs a manager, unless it stays
within `[pricing] max_discount` (0.2 = up to 20 % below list).

Pure: the REST API refuses such an order (403 naming the rule) unless the key's role is in
bot.domain.roles.APPROVERS; chat shows on the card that a manager must approve the price.
Both ask `below_floor` which lines break the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

RULE = "pricing.max_discount"


@dataclass(frozen=True)
class PricingPolicy:
    max_discount: float = 0.2  # fraction below the list price anyone may give

    def floor(self, list_price: Decimal) -> Decimal:
        """The lowest unit price allowed without a manager (rounded up to the cent)."""
        share = Decimal(1) - Decimal(str(self.max_discount))
        return (list_price * share).quantize(Decimal("0.01"), rounding=ROUND_CEILING)


@dataclass(frozen=True)
class PriceLine:
    index: int
    sku: str
    list_price: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class BelowFloor:
    """A line whose price needs a manager."""

    index: int
    sku: str
    list_price: Decimal
    unit_price: Decimal
    floor: Decimal

    @property
    def message(self) -> str:
        return (f"{self.sku}单价{self.unit_price}低于价目表{self.list_price}的最低可给价"
                f"{self.floor}（{RULE}），需经理审批价格")


def below_floor(lines: Iterable[PriceLine], policy: PricingPolicy) -> list[BelowFloor]:
    """The lines priced below what anyone but a manager may give."""
    out = []
    for ln in lines:
        floor = policy.floor(ln.list_price)
        if ln.unit_price < floor:
            out.append(BelowFloor(ln.index, ln.sku, ln.list_price, ln.unit_price, floor))
    return out
