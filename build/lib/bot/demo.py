"""A deterministic demo data set: catalogue, warehouses, stock, customers, staff, carriers.

`load_demo(settings)` wipes the master data (and any orders) and loads the same data set
every time for a given seed. `build_demo` is the pure part: it returns plain rows without
touching the database. The static tables live in bot/demo_data.py.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction
from tqdm import tqdm

from bot import demo_data as D
from bot import demo_history
from bot.config import Settings
from bot.domain.invoice import uscc_with_check
from integrations import geocode
from storage import db as storage_db
from storage import meta
from storage.chat_models import ChatCard, ChatQuestion
from storage.models import (
    Carrier,
    CarrierCoverage,
    Customer,
    Order,
    OrderLine,
    OrderLog,
    Product,
    Shipment,
    Staff,
    Stock,
    Warehouse,
    WarehouseKind,
)
from storage.reservations import Reservation
from storage.shipping_models import ShippingHold
from storage.tracking_models import ShipmentTracking, TrackingEventRow
from storage.transit_models import TransitStat

PRODUCT_COUNT = 18_000
CUSTOMER_COUNT = 486
INACTIVE_CUSTOMERS = 3
BATCH_SIZE = 2_000
CENT = Decimal("0.01")
# Every 8th brake SKU is short in Hangzhou but plentiful in Shanghai and Nanjing, so the
# "刹车片长三角就近" rule (safety stock 50) has something to route around.
BRAKE_SHORTAGE_EVERY = 8
_UPPER = "ABCDEFGHJKLMNPRSTUVWXY"
_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_LUXURY = ("奥迪", "宝马", "奔驰")

# Child tables first so foreign keys never dangle.
_CLEAR_ORDER: tuple[type[Model], ...] = (
    ShippingHold, TrackingEventRow, ShipmentTracking, ChatCard, ChatQuestion, TransitStat,
    Reservation, OrderLog, Shipment, OrderLine, Order, Stock, CarrierCoverage, Carrier, Product,
    Customer, Staff, Warehouse,
)

Row = dict[str, Any]


@dataclass
class DemoData:
    """Plain rows, ready to become model instances."""

    warehouses: list[Row] = field(default_factory=list)
    products: list[Row] = field(default_factory=list)
    stock: list[tuple[str, str, int, int]] = field(default_factory=list)  # wh, sku, qty, safety
    staff: list[Row] = field(default_factory=list)
    customers: list[Row] = field(default_factory=list)
    carriers: list[Row] = field(default_factory=list)
    coverage: list[tuple[str, str, bool]] = field(default_factory=list)  # carrier, place, excl

    def row_count(self) -> int:
        return sum(len(rows) for rows in (self.warehouses, self.products, self.stock,
                                          self.staff, self.customers, self.carriers,
                                          self.coverage))


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


async def load_demo(settings: Settings, *, seed: int = 2026, progress: bool = False,
                    history_days: int = demo_history.HISTORY_DAYS,
                    now: datetime | None = None) -> dict[str, int]:
    """Replace all data with the demo data set and `history_days` of demo history up to
    `now` (bot/demo_history.py; 0: none); returns the rows loaded per table."""
    data = build_demo(settings, seed=seed)
    history = (demo_history.build_history(
        settings, data.customers, data.products, data.warehouses, now or datetime.now(UTC),
        days=history_days, seed=seed) if history_days else None)
    with tqdm(total=data.row_count(), desc="demo data", unit="row", file=sys.stderr,
              disable=not progress) as bar:
        async with in_transaction() as conn:
            await clear_all(conn)
            counts = await _write(conn, data, bar)
            if history is not None:
                counts |= await demo_history.write_history(
                    conn, history, await _ids(Customer, "code", conn),
                    await _ids(Product, "sku", conn), await _ids(Warehouse, "code", conn))
            await meta.bump(meta.CATALOG, conn)
            return counts


async def clear_all(conn: BaseDBAsyncClient) -> None:
    """Delete every row of the tables the demo data set fills, and all orders (ids restart
    at 1, so a reload gives the same ids too)."""
    await storage_db.clear_tables(conn, _CLEAR_ORDER)


async def _write(conn: BaseDBAsyncClient, data: DemoData, bar: tqdm) -> dict[str, int]:
    await _bulk(Warehouse, [Warehouse(**r) for r in data.warehouses], conn, bar)
    await _bulk(Product, [Product(**r) for r in data.products], conn, bar)
    wh_ids = await _ids(Warehouse, "code", conn)
    product_ids = await _ids(Product, "sku", conn)
    stock = [Stock(warehouse_id=wh_ids[wh], product_id=product_ids[sku], on_hand=qty,
                   reserved=0, safety_stock=safety)
             for wh, sku, qty, safety in data.stock]
    await _bulk(Stock, stock, conn, bar)
    await _bulk(Staff, [Staff(**r) for r in data.staff], conn, bar)
    await _bulk(Customer, [Customer(**r) for r in data.customers], conn, bar)
    await _bulk(Carrier, [Carrier(**r) for r in data.carriers], conn, bar)
    carrier_ids = await _ids(Carrier, "code", conn)
    coverage = [CarrierCoverage(carrier_id=carrier_ids[code], place=place, excluded=excl)
                for code, place, excl in data.coverage]
    await _bulk(CarrierCoverage, coverage, conn, bar)
    return {
        "warehouses": len(data.warehouses), "products": len(data.products),
        "stock": len(stock), "staff": len(data.staff), "customers": len(data.customers),
        "carriers": len(data.carriers), "carrier_coverage": len(coverage),
    }


async def _bulk(model: type[Model], objs: Sequence[Model], conn: BaseDBAsyncClient,
                bar: tqdm) -> None:
    for start in range(0, len(objs), BATCH_SIZE):
        chunk = objs[start:start + BATCH_SIZE]
        await model.bulk_create(chunk, batch_size=BATCH_SIZE, using_db=conn)
        bar.update(len(chunk))


async def _ids(model: type[Model], key: str, conn: BaseDBAsyncClient) -> dict[str, int]:
    rows = await model.all().using_db(conn).values_list(key, "id")
    return dict(rows)


# ---------------------------------------------------------------------------------------
# Building (pure, deterministic)
# ---------------------------------------------------------------------------------------


def build_demo(settings: Settings, *, seed: int = 2026) -> DemoData:
    """The demo data set as plain rows; the same seed always gives the same rows."""

    def rng(part: str) -> random.Random:
        # One stream per part, so changing one table does not reshuffle the others.
        return random.Random(f"{seed}/{part}")

    staff = build_staff()
    products = build_products(rng("products"))
    sales = [s["userid"] for s in staff if s["role"] == "sales"]
    carriers, coverage = build_carriers(settings)
    return DemoData(
        warehouses=build_warehouses(),
        products=products,
        stock=build_stock(rng("stock"), products),
        staff=staff,
        customers=build_customers(rng("customers"), sales),
        carriers=carriers,
        coverage=coverage,
    )


# --- products --------------------------------------------------------------------------


def build_products(rng: random.Random, count: int = PRODUCT_COUNT) -> list[Row]:
    """`count` products; SKUs are the category code and a 5-digit running number."""
    closed = {
        "OIL": _oil(rng), "TYR": _tyres(rng), "BAT": _batteries(rng), "FLU": _fluids(rng),
    }
    bulbs = _bulbs(rng)
    fitted_total = count - sum(len(rows) for rows in closed.values())
    targets = _apportion(fitted_total, D.FITTED_WEIGHTS)
    products: list[Row] = []
    for category in D.CATEGORIES:
        if category in closed:
            rows = closed[category]
        else:
            seed_rows = bulbs if category == "LMP" else []
            rows = _fitted(rng, category, targets[category], seed_rows)
        products.extend(_with_sku(category, rows))
    return products


def _with_sku(category: str, rows: Iterable[Row]) -> list[Row]:
    return [{**row, "sku": f"{category}{n:05d}", "category": category}
            for n, row in enumerate(rows, start=1)]


def _apportion(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Split `total` by weight (largest remainder), so the parts add up exactly."""
    whole = sum(weights.values())
    shares = {k: total * w / whole for k, w in weights.items()}
    out = {k: int(v) for k, v in shares.items()}
    by_remainder = sorted(weights, key=lambda k: (out[k] - shares[k], k))
    for k in by_remainder[: total - sum(out.values())]:
        out[k] += 1
    return out


def _product(name: str, brand: str, unit: str, price: float, models: str) -> Row:
    return {"name": name, "brand": brand, "unit": unit, "price": money(price),
            "models": models}


def money(value: float) -> Decimal:
    """A shelf price: whole yuan from 100 up, half yuan below."""
    rounded = round(value) if value >= 100 else round(value * 2) / 2
    return Decimal(str(rounded)).quantize(CENT)


def part_number(pattern: str, rng: random.Random) -> str:
    """Fill a pattern: '#' → digit, '%' → non-zero digit, '@' → upper-case letter."""
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(str(rng.randrange(10)))
        elif ch == "%":
            out.append(str(rng.randrange(1, 10)))
        elif ch == "@":
            out.append(rng.choice(_UPPER))
        else:
            out.append(ch)
    return "".join(out)


def _fitted(rng: random.Random, category: str, target: int, seed_rows: list[Row]) -> list[Row]:
    """Vehicle-fitted products: brand, position, type, vehicle, spec and part number."""
    types = [t for t in D.PART_TYPES if t.category == category]
    cum = list(accumulate(t.weight for t in types))
    rows = list(seed_rows)
    seen = {r["name"] for r in rows}
    misses = 0
    while len(rows) < target:
        row = _fitted_one(rng, rng.choices(types, cum_weights=cum)[0])
        if row["name"] in seen:
            misses += 1
            if misses > 10 * target:
                raise RuntimeError(f"demo catalogue: cannot make {target} {category} names")
            continue
        seen.add(row["name"])
        rows.append(row)
    return rows


def _fitted_one(rng: random.Random, t: D.PartType) -> Row:
    brand, pattern = rng.choice(t.brands)
    position = rng.choice(t.positions)
    fitment = rng.choice(D.FITMENTS)
    spec = rng.choice(t.specs)
    parts = (brand, position + t.name, fitment, spec, part_number(pattern, rng))
    price = rng.uniform(*t.price) * D.BRAND_FACTOR.get(brand, 1.0)
    if fitment.startswith(_LUXURY):
        price *= 1.4
    if position.startswith("后"):
        price *= 0.85
    return _product(" ".join(p for p in parts if p), brand, t.unit, price, fitment)


def _oil(rng: random.Random) -> list[Row]:
    rows = []
    for brand, series, grade, viscosities, base in D.OIL_SERIES:
        label = series if series.startswith(brand) else f"{brand} {series}"
        for viscosity in viscosities:
            for size, unit, factor in D.OIL_SIZES:
                price = base * factor * rng.uniform(0.96, 1.04)
                if viscosity == "0W-20":
                    price *= 1.05
                rows.append(_product(f"{label} {grade} {viscosity} {size}", brand, unit,
                                     price, "通用"))
    return rows


def _tyres(rng: random.Random) -> list[Row]:
    rows = []
    for brand, patterns, factor in D.TYRE_PATTERNS:
        for pattern in patterns:
            for size, index, vehicles in D.TYRE_SIZES:
                lo, hi = D.TYRE_PRICE_BY_RIM[int(size.rsplit("R", 1)[1])]
                rows.append(_product(f"{brand} {pattern} {size} {index}", brand, "条",
                                     rng.uniform(lo, hi) * factor, vehicles))
    return rows


def _batteries(rng: random.Random) -> list[Row]:
    rows = []
    for brand, factor in D.BATTERY_BRANDS:
        for kind, group, ah, base, vehicles in D.BATTERY_TYPES:
            price = base * factor * rng.uniform(0.95, 1.05)
            rows.append(_product(f"{brand} {kind} {group} {ah}Ah", brand, "只", price,
                                 vehicles))
    return rows


def _bulbs(rng: random.Random) -> list[Row]:
    rows = []
    for brand, series, kind, sockets, spec, unit, base in D.BULBS:
        for socket in sockets:
            price = base * rng.uniform(0.9, 1.1)
            rows.append(_product(f"{brand} {series}{kind} {socket} {spec}", brand, unit,
                                 price, "通用"))
    return rows


def _fluids(rng: random.Random) -> list[Row]:
    rows = []
    for brand, kind, specs, size, unit, base in D.FLUIDS:
        for spec in specs:
            price = base * rng.uniform(0.95, 1.1)
            rows.append(_product(f"{brand} {kind} {spec} {size}", brand, unit, price, "通用"))
    return rows


# --- warehouses and stock --------------------------------------------------------------


def build_warehouses() -> list[Row]:
    rows = []
    for code, name, kind, city, province, address, cutoff in D.WAREHOUSES:
        point = geocode.city_point(city)
        rows.append({
            "code": code, "name": name, "kind": WarehouseKind(kind), "city": city,
            "province": province, "address": address, "cutoff": cutoff,
            "lat": point[0] if point else None, "lon": point[1] if point else None,
        })
    return rows


def build_stock(rng: random.Random, products: list[Row]) -> list[tuple[str, str, int, int]]:
    """Main stock for the physical warehouses plus the flash-sale warehouse's SKUs."""
    stock: dict[tuple[str, str], tuple[int, int]] = {}
    brakes = 0
    for p in products:
        sku, category = p["sku"], p["category"]
        short = category == "BRK" and brakes % BRAKE_SHORTAGE_EVERY == 0
        brakes += category == "BRK"
        for wh, (share, mean) in D.STOCK_PROFILE.items():
            qty = _stock_qty(rng, wh, share, mean * D.CATEGORY_STOCK_FACTOR[category], short)
            if qty is not None:
                stock[wh, sku] = (qty, _safety_stock(rng))
    for sku in _flash_sale_skus(rng, products):
        stock[D.FLASH_SALE_CODE, sku] = (rng.randint(100, 300), 0)
        if ("HZ01", sku) not in stock or stock["HZ01", sku][0] == 0:
            stock["HZ01", sku] = (rng.randint(40, 200), 0)
    return [(wh, sku, qty, safety) for (wh, sku), (qty, safety) in stock.items()]


def _stock_qty(rng: random.Random, wh: str, share: float, mean: float,
               brake_short: bool) -> int | None:
    """On-hand quantity, or None when the warehouse does not stock the SKU."""
    if brake_short and wh == "HZ01":
        return rng.randint(0, 45)
    if brake_short and wh in ("SH01", "NJ01"):
        return rng.randint(80, 400)
    if rng.random() >= share:
        return None
    if rng.random() < 0.08:
        return 0
    return min(500, 1 + int(rng.expovariate(1 / mean)))


def _safety_stock(rng: random.Random) -> int:
    return rng.randint(5, 20) if rng.random() < 0.15 else 0


def _flash_sale_skus(rng: random.Random, products: list[Row]) -> list[str]:
    skus = []
    for category, n in D.FLASH_SALE_MIX.items():
        pool = [p["sku"] for p in products if p["category"] == category]
        skus.extend(sorted(rng.sample(pool, n)))
    return skus


# --- people ----------------------------------------------------------------------------


def build_staff() -> list[Row]:
    return [{"userid": userid, "name": name, "role": role, "mobile": mobile,
             "group_chat": group, "active": True}
            for userid, name, role, mobile, group in D.STAFF]


def build_customers(rng: random.Random, sales: Sequence[str],
                    count: int = CUSTOMER_COUNT) -> list[Row]:
    inactive = set(rng.sample(range(count), INACTIVE_CUSTOMERS))
    city_cum = list(accumulate(c.weight for c in D.CITIES))
    kind_cum = list(accumulate(k[2] for k in D.SHOP_KINDS))
    names: set[str] = set()
    rows = []
    for i in range(count):
        city = rng.choices(D.CITIES, cum_weights=city_cum)[0]
        district = rng.choice(city.districts)
        name, aliases = _shop_name(rng, city, district, kind_cum)
        while name in names:
            name, aliases = _shop_name(rng, city, district, kind_cum)
        names.add(name)
        address = _address(rng, city, district)
        rows.append({
            "code": f"C{i + 1:04d}", "name": name, "aliases": aliases,
            "credit_limit": _credit_limit(rng), "contact": person_name(rng),
            "phone": mobile(rng), "address": address,
            **_invoice(rng, city, district, address),
            "openid": _openid(rng) if rng.random() < 0.85 else None,
            "sales_owner": rng.choice(sales), "active": i not in inactive,
        })
    return rows


def _shop_name(rng: random.Random, city: D.City, district: str,
               kind_cum: list[int]) -> tuple[str, list[str]]:
    suffix, alias_suffix, _ = rng.choices(D.SHOP_KINDS, cum_weights=kind_cum)[0]
    trade = rng.choice(D.TRADE_NAMES)
    make = rng.choice(D.FOUR_S_MAKES)
    suffix, alias_suffix = suffix.format(make=make), alias_suffix.format(make=make)
    city_short, district_short = geocode.short_name(city.city), district_short_name(district)
    place = district_short if "4S" not in suffix and rng.random() < 0.7 else ""
    name = f"{city_short}{place}{trade}{suffix}"
    aliases = [f"{trade}{alias_suffix}"]
    if rng.random() < 0.5:
        aliases.append(f"{place or city_short}{trade}")
    return name, aliases


def district_short_name(district: str) -> str:
    """浦东新区 → 浦东, 西湖区 → 西湖."""
    for suffix in ("新区", "区", "市", "县"):
        if district.endswith(suffix) and len(district) > len(suffix) + 1:
            return district[: -len(suffix)]
    return district


def _address(rng: random.Random, city: D.City, district: str) -> str:
    prefix = city.province if city.province == city.city else city.province + city.city
    street = rng.choice(city.streets)
    no = rng.randint(1, 999)
    detail = rng.choice((
        f"{street}{no}号",
        f"{street}{no}号",
        f"{street}{no}-{rng.randint(1, 12)}号",
        f"{street}{no}号{rng.randint(1, 9)}幢",
        f"{street}{no}号汽配城{rng.choice('ABCDEF')}区{rng.randint(1, 60)}号",
    ))
    return f"{prefix}{district}{detail}"


def person_name(rng: random.Random) -> str:
    return rng.choice(D.SURNAMES) + rng.choice(D.GIVEN_NAMES)


def mobile(rng: random.Random) -> str:
    return rng.choice(D.MOBILE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))


def _credit_limit(rng: random.Random) -> Decimal:
    thousands = min(500, max(20, round(rng.lognormvariate(4.4, 0.7))))
    return Decimal(thousands * 1000).quantize(CENT)


def _openid(rng: random.Random) -> str:
    return "o" + "".join(rng.choice(_URLSAFE) for _ in range(27))


def _invoice(rng: random.Random, city: D.City, district: str, address: str) -> Row:
    roll = rng.random()
    if roll < 0.40:
        kind, with_tax, with_bank = "专票", True, True
    elif roll < 0.85:
        kind = "普票"
        with_tax = rng.random() < 0.6
        with_bank = with_tax and rng.random() < 0.4
    else:
        kind, with_tax, with_bank = "无需", False, False
    place = geocode.parse(address)
    return {
        "invoice_type": kind,
        "tax_id": tax_id(rng, place.adcode if place else "330100") if with_tax else "",
        "bank": _bank_branch(rng, city, district) if with_bank else "",
        "account": _bank_account(rng) if with_bank else "",
    }


def tax_id(rng: random.Random, adcode: str) -> str:
    """A unified social credit code for a company registered at `adcode`."""
    org = "".join(str(rng.randrange(10)) for _ in range(8))
    return uscc_with_check("91" + adcode[:6] + org + _org_check(org))


def _org_check(body: str) -> str:
    """GB 11714 check character of an 8-digit organisation code body."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    c = 11 - sum(int(ch) * w for ch, w in zip(body, weights, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def _bank_branch(rng: random.Random, city: D.City, district: str) -> str:
    banks = D.NATIONAL_BANKS + D.REGIONAL_BANKS.get(city.province, ())
    city_short = geocode.short_name(city.city)
    return f"{rng.choice(banks)}{city_short}{district_short_name(district)}支行"


def _bank_account(rng: random.Random) -> str:
    length = rng.randint(16, 19)
    return str(rng.randint(1, 9)) + "".join(str(rng.randrange(10)) for _ in range(length - 1))


# --- carriers --------------------------------------------------------------------------


def build_carriers(settings: Settings) -> tuple[list[Row], list[tuple[str, str, bool]]]:
    carriers, coverage = [], []
    for code, c in settings.carriers.items():
        carriers.append({"code": code, "name": c.name, "enabled": True, "sandbox": True})
        places = dict.fromkeys(c.coverage, False) | dict.fromkeys(c.exclude, True)
        coverage.extend((code, place, excluded) for place, excluded in places.items())
    return carriers, coverage
