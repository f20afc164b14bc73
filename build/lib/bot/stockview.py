"""Read-only stock figures for people: per warehouse, and what an order line can draw on.

The figures people see use the same floor as the stock gate (bot/domain/allocation.py): a
physical warehouse keeps the larger of its own safety stock and the matching allocation
rule's, so a card never says 充足 where the gate says nothing is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.catalog import Catalog
from bot.domain.allocation import Destination, WarehouseInfo, candidates, match_rule
from storage.models import Stock


@dataclass(frozen=True)
class WarehouseStock:
    warehouse: str
    name: str
    virtual: bool
    on_hand: int
    reserved: int
    safety_stock: int  # the row's own figure (import column)
    rule_safety_stock: int = 0  # what the allocation rule protects here

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def floor(self) -> int:
        return max(self.safety_stock, 0 if self.virtual else self.rule_safety_stock)

    @property
    def servable(self) -> int:
        return max(0, self.available - self.floor)


def local(wh: WarehouseInfo) -> Destination:
    """A destination in the warehouse's own city: which rule protects its stock by default."""
    return Destination(wh.province, wh.city, wh.lat, wh.lon)


async def by_warehouse(sku: str, cat: Catalog, dest: Destination | None = None
                       ) -> list[WarehouseStock]:
    """Each warehouse's stock of `sku`, with the rule floor for `dest` (for a delivery in
    the warehouse's own city when no destination is given)."""
    p = cat.products.get(sku)
    if p is None:
        return []
    rows = await Stock.filter(product_id=p.id).order_by("warehouse_id")
    out = []
    for r in rows:
        code = cat.warehouse_codes.get(r.warehouse_id, "")
        wh = cat.warehouses.get(code)
        rule_floor = 0
        if wh is not None:
            rule_floor = match_rule(p.category, dest or local(wh), cat.settings).safety_stock
        out.append(WarehouseStock(code, wh.name if wh else code, bool(wh and wh.virtual),
                                  r.on_hand, r.reserved, r.safety_stock, rule_floor))
    return out


async def servable(skus: Iterable[str], cat: Catalog, campaign: str | None = None,
                   dest: Destination | None = None) -> dict[str, int]:
    """Units each SKU can still be ordered from: the warehouses allowed to serve `dest`
    (every physical one without a destination), or the campaign's warehouse."""
    out = {}
    for sku in set(skus):
        rows = await by_warehouse(sku, cat, dest)
        allowed = _allowed(sku, cat, campaign, dest)
        pool = [r for r in rows if r.warehouse in allowed]
        out[sku] = sum(r.servable for r in pool)
    return out


def _allowed(sku: str, cat: Catalog, campaign: str | None, dest: Destination | None
             ) -> set[str]:
    if campaign:
        return {campaign}
    p = cat.products.get(sku)
    if dest is None or p is None:
        return {c for c, w in cat.warehouses.items() if not w.virtual}
    rule = match_rule(p.category, dest, cat.settings)
    return set(candidates(rule, dest, cat.warehouses, None))
