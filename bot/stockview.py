"""Read-only stock figures for people: per warehouse, and what an order line can draw on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.catalog import Catalog
from storage.models import Stock


@dataclass(frozen=True)
class WarehouseStock:
    warehouse: str
    name: str
    virtual: bool
    on_hand: int
    reserved: int
    safety_stock: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


async def by_warehouse(sku: str, cat: Catalog) -> list[WarehouseStock]:
    p = cat.products.get(sku)
    if p is None:
        return []
    rows = await Stock.filter(product_id=p.id).order_by("warehouse_id")
    out = []
    for r in rows:
        code = cat.warehouse_codes.get(r.warehouse_id, "")
        wh = cat.warehouses.get(code)
        out.append(WarehouseStock(code, wh.name if wh else code, bool(wh and wh.virtual),
                                  r.on_hand, r.reserved, r.safety_stock))
    return out


async def servable(skus: Iterable[str], cat: Catalog, campaign: str | None = None
                   ) -> dict[str, int]:
    """Units each SKU can still be ordered from: main stock, or the campaign's warehouse."""
    out = {}
    for sku in set(skus):
        rows = await by_warehouse(sku, cat)
        pool = [r for r in rows if (r.warehouse == campaign if campaign else not r.virtual)]
        out[sku] = sum(max(0, r.available - r.safety_stock) for r in pool)
    return out
