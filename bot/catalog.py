"""In-memory snapshot of the slow-changing master data (products, warehouses).

Orders look products and warehouses up on every request; reading 18,000 products per
order would dominate intake. Imports and the demo loader bump the `catalog` counter in the
database; every `check_every` seconds the snapshot reads that one row and reloads only when
it moved (also when the change came from another process, e.g. `bot.py import`).
The learnt transit times (`transit`, from bot/calibration.py) ride on the same check: their
own counter, read in the same query, reloads just that small table.
"""

from __future__ import annotations

import asyncio
import time as _time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.config import Settings, parse_hhmm
from bot.domain import eta
from bot.domain.allocation import Destination, WarehouseInfo
from bot.domain.coverage import TransitTable
from integrations.geocode import short_name
from storage import meta, transit_models
from storage.models import Product, Warehouse


@dataclass(frozen=True)
class ProductInfo:
    id: int
    sku: str
    name: str
    category: str
    brand: str
    unit: str
    price: Decimal
    models: str
    active: bool


class Catalog:
    def __init__(self, settings: Settings, check_every: float = 2.0) -> None:
        self._settings = settings
        self._check_every = check_every
        self._checked_at = -1e18
        self.version = -1
        self._lock = asyncio.Lock()
        self.products: dict[str, ProductInfo] = {}
        self.products_by_id: dict[int, ProductInfo] = {}
        self.warehouses: dict[str, WarehouseInfo] = {}
        self.warehouse_ids: dict[str, int] = {}
        self.warehouse_codes: dict[int, str] = {}
        self.transit = TransitTable()
        self.transit_version = -1

    @property
    def settings(self) -> Settings:
        return self._settings

    def apply_settings(self, settings: Settings) -> None:
        self._settings = settings
        self.invalidate()  # cut-off overrides live in the warehouse snapshot

    def invalidate(self) -> None:
        self._checked_at, self.version = -1e18, -1

    def _current(self) -> bool:
        return bool(self.products) and _time.monotonic() - self._checked_at <= self._check_every

    async def fresh(self) -> Catalog:
        if self._current():
            return self
        async with self._lock:  # one check at a time; the others wait for its result
            if not self._current():
                versions = await meta.values(meta.CATALOG, meta.TRANSIT)
                version = versions[meta.CATALOG]
                if version != self.version or not self.products:
                    await self.reload()
                    self.version, self.transit_version = version, -1
                if versions[meta.TRANSIT] != self.transit_version:
                    self.transit = await self.load_transit()
                    self.transit_version = versions[meta.TRANSIT]
                self._checked_at = _time.monotonic()
        return self

    async def reload(self) -> None:
        rows = await Product.all().values_list(
            "id", "sku", "name", "category", "brand", "unit", "price", "models", "active")
        products = {r[1]: ProductInfo(*r) for r in rows}
        whs = await Warehouse.all()
        cutoffs = self._settings.promise.cutoffs
        self.warehouses = {
            w.code: WarehouseInfo(
                code=w.code, name=w.name, kind=str(w.kind.value if hasattr(w.kind, "value")
                                                   else w.kind),
                province=w.province, city=_short_city(w.city), lat=w.lat, lon=w.lon,
                cutoff=cutoffs.get(w.code) or parse_hhmm(w.cutoff or "16:00",
                                                         f"warehouse {w.code}.cutoff"),
                active=w.active)
            for w in whs}
        self.warehouse_ids = {w.code: w.id for w in whs}
        self.warehouse_codes = {w.id: w.code for w in whs}
        self.products = products
        self.products_by_id = {p.id: p for p in products.values()}

    def promise_share(self, carrier: str, warehouse_id: int, province: str, city: str,
                      confirmed_at: datetime) -> float | None:
        """The learnt share of deliveries within the window for a shipment's promise (its
        lane's wave for the planned departure's weekday), None without a learnt wave."""
        wh = self.warehouses.get(self.warehouse_codes.get(warehouse_id, ""))
        if wh is None or not self.transit.waves:
            return None
        weekday = eta.departure_day(confirmed_at, wh.cutoff,
                                    self._settings.promise).isoweekday()
        wave = self.transit.wave(carrier, wh, Destination(short_name(province),
                                                          short_name(city)), weekday)
        return wave[1] if wave else None

    async def load_transit(self) -> TransitTable:
        cfg = self._settings.promise.calibration
        if not cfg.enabled:
            return TransitTable(max_change=cfg.max_change)
        return TransitTable({(x.carrier, x.warehouse, x.province, x.city): float(x.hours)
                             for x in await transit_models.lanes()}, cfg.max_change,
                            {(x.carrier, x.warehouse, x.province, x.city, x.weekday):
                             (x.minute, x.within) for x in await transit_models.waves()})


def _short_city(city: str) -> str:
    return city[:-1] if city.endswith("市") else city
