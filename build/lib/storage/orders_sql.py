"""The order intake's hot statements as plain SQL (bot/ordering.py place and confirm).

Why not the ORM here: building each statement through tortoise/pypika and each row into a
model cost about half the server's CPU per order. These statements are written once, run
through storage/sql.py on SQLite or PostgreSQL, and return tortoise models built from
values in hand (`Model._init_from_db`, the constructor tortoise uses for rows it read).

Values are written the way tortoise writes them, so the ORM reads back the same thing:
datetimes in UTC (SQLite keeps them as ISO text), money quantized to 0.01 (SQLite keeps it
as text), JSON with tortoise's own encoder, enums as their value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from tortoise.fields.data import JSON_DUMPS

from storage import sql
from storage.models import Customer, Order, OrderLine, OrderStatus, Shipment
from storage.sql import Stmt

CENT = Decimal("0.01")

ORDER_COLS = (
    "id", "no", "idempotency_key", "customer_id", "status", "channel", "campaign",
    "salesperson", "priority", "preferred_warehouse", "address_raw", "province", "city",
    "district", "adcode", "lat", "lon", "invoice_type", "tax_id", "bank", "account", "total",
    "gates", "credit_released_by", "promised_at", "created_at", "confirmed_at", "shipped_at",
    "delivered_at", "paid_at", "idempotency_fingerprint")
CUSTOMER_COLS = (
    "id", "code", "name", "aliases", "credit_limit", "exposure", "contact", "phone", "address",
    "invoice_type", "tax_id", "bank", "account", "openid", "wecom_userid", "sales_owner",
    "active", "updated_at")
LINE_COLS = ("id", "order_id", "product_id", "sku", "name", "category", "qty", "unit_price",
             "amount")
_ORDER_TIMES = ("promised_at", "created_at", "confirmed_at", "shipped_at", "delivered_at",
                "paid_at")
_NO, _NC, _NL = len(ORDER_COLS), len(CUSTOMER_COLS), len(LINE_COLS)


def _cols(alias: str, cols: Sequence[str]) -> str:
    return ", ".join(f"{alias}.{c}" for c in cols)


# ---- reads -------------------------------------------------------------------------------

_ORDER_BY_KEY = Stmt(f"SELECT {_cols('o', ORDER_COLS)} FROM orders o WHERE o.idempotency_key = ?")
_CUSTOMER_BY_CODE = Stmt(f"SELECT {_cols('c', CUSTOMER_COLS)} FROM customers c WHERE c.code = ?")
_CUSTOMER_BY_NAME = Stmt(
    f"SELECT {_cols('c', CUSTOMER_COLS)} FROM customers c WHERE c.name = ? ORDER BY c.id LIMIT 1")
# Confirmation reads its order, the customer and the lines in one statement (a row per line).
_FOR_CONFIRM = Stmt(
    f"SELECT {_cols('o', ORDER_COLS)}, {_cols('c', CUSTOMER_COLS)}, {_cols('l', LINE_COLS)} "
    "FROM orders o JOIN customers c ON c.id = o.customer_id "
    "LEFT JOIN order_lines l ON l.order_id = o.id WHERE o.no = ? ORDER BY l.id")
_ORDER_STATUS = Stmt("SELECT status FROM orders WHERE id = ?")


@lru_cache(maxsize=256)
def _stock_stmt(n: int) -> Stmt:
    marks = ", ".join("?" * n)
    return Stmt("SELECT product_id, warehouse_id, on_hand, reserved, safety_stock FROM stock "
                f"WHERE product_id IN ({marks})")


async def order_by_key(key: str) -> Order | None:
    rows = await sql.fetch(_ORDER_BY_KEY, (key,))
    return _order(rows[0]) if rows else None


async def customer_by_ref(ref: str) -> Customer | None:
    """By code, else the first customer with that exact name."""
    rows = await sql.fetch(_CUSTOMER_BY_CODE, (ref,)) or await sql.fetch(_CUSTOMER_BY_NAME,
                                                                         (ref,))
    return _customer(rows[0]) if rows else None


async def stock_rows(product_ids: Sequence[int]) -> list[Sequence[int]]:
    """(product_id, warehouse_id, on_hand, reserved, safety_stock) of every stock row."""
    ids = list(dict.fromkeys(product_ids))
    return await sql.fetch(_stock_stmt(len(ids)), ids) if ids else []


@dataclass
class ForConfirm:
    order: Order
    customer: Customer
    lines: list[OrderLine]
    exposure_seen: Any  # the stored value, for the compare-and-set in charge_credit


async def for_confirm(no: str) -> ForConfirm | None:
    rows = await sql.fetch(_FOR_CONFIRM, (no,))
    if not rows:
        return None
    first = rows[0]
    customer_row = first[_NO:_NO + _NC]
    lines = [_line(r[_NO + _NC:]) for r in rows if r[_NO + _NC] is not None]
    return ForConfirm(_order(first[:_NO]), _customer(customer_row), lines,
                      customer_row[CUSTOMER_COLS.index("exposure")])


async def order_status(order_id: int) -> OrderStatus:
    rows = await sql.fetch(_ORDER_STATUS, (order_id,))
    return OrderStatus(rows[0][0])


# ---- writes (call inside a transaction) --------------------------------------------------

_INSERT_COLS = (
    "idempotency_key", "customer_id", "status", "channel", "campaign", "salesperson", "priority",
    "preferred_warehouse", "address_raw", "province", "city", "district", "adcode", "lat", "lon",
    "invoice_type", "tax_id", "bank", "account", "total", "gates", "credit_released_by",
    "promised_at", "created_at", "idempotency_fingerprint")
_MARKS = ", ".join("?" * len(_INSERT_COLS))
# The order number is the day prefix + the row id, so the id is taken in the same statement
# (no second UPDATE): the next AUTOINCREMENT value on SQLite (the insert runs under the write
# lock), the serial's nextval on PostgreSQL. LY + yymmdd + id padded to 6 digits.
_INSERT_ORDER = Stmt(
    f"INSERT INTO orders (id, no, {', '.join(_INSERT_COLS)}) "
    f"SELECT n, ? || printf('%06d', n), {_MARKS} FROM ("
    "SELECT IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'orders'), 0) + 1 AS n) "
    "RETURNING id, no",
    pg="WITH n AS (SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS id) "
       f"INSERT INTO orders (id, no, {', '.join(_INSERT_COLS)}) VALUES ((SELECT id FROM n), "
       "$1 || (SELECT CASE WHEN id < 1000000 THEN lpad(id::text, 6, '0') ELSE id::text END "
       f"FROM n), {', '.join(f'${i}' for i in range(2, len(_INSERT_COLS) + 2))}) "
       "RETURNING id, no")
_DELETE_SHIPMENTS = Stmt("DELETE FROM shipments WHERE order_id = ?")


@dataclass(frozen=True)
class NewOrder:
    """The columns of a new draft the caller decides; the rest start empty."""

    no_prefix: str  # "LY" + yymmdd (Asia/Shanghai)
    idempotency_key: str | None
    customer_id: int
    status: OrderStatus
    channel: str
    campaign: str | None
    salesperson: str | None
    preferred_warehouse: str | None
    address_raw: str
    province: str
    city: str
    district: str
    adcode: str
    lat: float | None
    lon: float | None
    invoice_type: str
    tax_id: str
    bank: str
    account: str
    total: Decimal
    gates: list[dict[str, Any]]
    promised_at: datetime | None
    created_at: datetime
    idempotency_fingerprint: str | None = None


async def insert_order(o: NewOrder) -> Order:
    """Insert the order; returns it as a model (raises IntegrityError on a duplicate key)."""
    total = o.total.quantize(CENT)
    rows = await sql.fetch(_INSERT_ORDER, (
        o.no_prefix, o.idempotency_key, o.customer_id, o.status.value, o.channel, o.campaign,
        o.salesperson, 0, o.preferred_warehouse, o.address_raw, o.province, o.city, o.district,
        o.adcode, o.lat, o.lon, o.invoice_type, o.tax_id, o.bank, o.account, total,
        JSON_DUMPS(o.gates), None, _utc(o.promised_at), _utc(o.created_at),
        o.idempotency_fingerprint))
    order_id, no = rows[0]
    return Order._init_from_db(
        id=order_id, no=no, idempotency_key=o.idempotency_key, customer_id=o.customer_id,
        status=o.status, channel=o.channel, campaign=o.campaign, salesperson=o.salesperson,
        priority=0, preferred_warehouse=o.preferred_warehouse, address_raw=o.address_raw,
        province=o.province, city=o.city, district=o.district, adcode=o.adcode, lat=o.lat,
        lon=o.lon, invoice_type=o.invoice_type, tax_id=o.tax_id, bank=o.bank,
        account=o.account, total=total, gates=o.gates, credit_released_by=None,
        promised_at=o.promised_at, created_at=o.created_at, confirmed_at=None, shipped_at=None,
        delivered_at=None, paid_at=None, idempotency_fingerprint=o.idempotency_fingerprint)


@dataclass(frozen=True)
class NewLine:
    product_id: int
    sku: str
    name: str
    category: str
    qty: int
    unit_price: Decimal


async def insert_lines(order_id: int, lines: Sequence[NewLine]) -> list[OrderLine]:
    """One multi-row INSERT; returns the lines as models (ids not read back)."""
    args: list[Any] = []
    models = []
    for ln in lines:
        price = ln.unit_price.quantize(CENT)
        amount = (price * ln.qty).quantize(CENT)
        args += (order_id, ln.product_id, ln.sku, ln.name, ln.category, ln.qty, price, amount)
        models.append(OrderLine._init_from_db(
            id=None, order_id=order_id, product_id=ln.product_id, sku=ln.sku, name=ln.name,
            category=ln.category, qty=ln.qty, unit_price=price, amount=amount))
    await sql.execute(_rows_stmt("order_lines", LINE_COLS[1:], len(lines)), args)
    return models


@dataclass(frozen=True)
class NewShipment:
    seq: int
    warehouse_id: int
    carrier: str | None
    promised_at: datetime | None
    lines: list[dict[str, Any]]


_SHIPMENT_COLS = ("order_id", "seq", "warehouse_id", "carrier", "status", "reserved",
                  "promised_at", "lines")


async def replace_shipments(order_id: int, ships: Sequence[NewShipment], reserved: bool,
                            first: bool = False) -> list[Shipment]:
    """Write the order's shipments (status allocated), replacing any it had unless `first`."""
    if not first:
        await sql.execute(_DELETE_SHIPMENTS, (order_id,))
    if not ships:
        return []
    status = OrderStatus.allocated
    args: list[Any] = []
    models = []
    for s in ships:
        args += (order_id, s.seq, s.warehouse_id, s.carrier, status.value, reserved,
                 _utc(s.promised_at), JSON_DUMPS(s.lines))
        models.append(Shipment._init_from_db(
            id=None, order_id=order_id, seq=s.seq, warehouse_id=s.warehouse_id,
            carrier=s.carrier, waybill_no=None, status=status, reserved=reserved,
            promised_at=s.promised_at, shipped_at=None, delivered_at=None, lines=s.lines))
    await sql.execute(_rows_stmt("shipments", _SHIPMENT_COLS, len(ships)), args)
    return models


# Columns a status change may set beside the status (whitelisted: names go into the SQL).
STATUS_COLUMNS = frozenset({"gates", "promised_at", "confirmed_at", "shipped_at",
                            "delivered_at"})


async def set_status(order_id: int, seen: OrderStatus, to: OrderStatus,
                     columns: Mapping[str, Any] | None = None) -> bool:
    """orders.status seen → to (and `columns`) in one conditional UPDATE; False when the
    order is no longer `seen` (a racing change). Only bot/orderstatus.py calls this: it
    checks the state machine first and writes the order log."""
    cols = tuple(sorted(columns or {}))
    if not set(cols) <= STATUS_COLUMNS:
        raise ValueError(f"not a status column: {sorted(set(cols) - STATUS_COLUMNS)}")
    values = [_db_value((columns or {})[c]) for c in cols]
    n = await sql.execute(_set_status_stmt(cols), (to.value, *values, order_id, seen.value))
    return n == 1


@lru_cache(maxsize=32)
def _set_status_stmt(cols: tuple[str, ...]) -> Stmt:
    sets = "".join(f", {c} = ?" for c in cols)
    return Stmt(f"UPDATE orders SET status = ?{sets} WHERE id = ? AND status = ?")


def _db_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, list | dict):
        return JSON_DUMPS(value)
    return value


@dataclass(frozen=True)
class LogEntry:
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    detail: Mapping[str, Any]


_LOG_COLS = ("order_id", "at", "actor", "action", "from_status", "to_status", "detail")


async def insert_log(order_id: int, at: datetime, entries: Iterable[LogEntry]) -> None:
    """Append entries to order_log in one statement (the order log's only writer; callers
    go through bot/orderstatus.py)."""
    args: list[Any] = []
    n = 0
    for e in entries:
        args += (order_id, _utc(at), e.actor, e.action, e.from_status, e.to_status,
                 JSON_DUMPS(dict(e.detail)))
        n += 1
    await sql.execute(_rows_stmt("order_log", _LOG_COLS, n), args)


@lru_cache(maxsize=512)
def _rows_stmt(table: str, cols: tuple[str, ...], n: int) -> Stmt:
    row = "(" + ", ".join("?" * len(cols)) + ")"
    return Stmt(f"INSERT INTO {table} ({', '.join(cols)}) VALUES " + ", ".join([row] * n))


# ---- rows to models ----------------------------------------------------------------------

def _utc(t: datetime | None) -> datetime | None:
    return t.astimezone(UTC) if t is not None else None


def _time(v: Any) -> datetime | None:
    # SQLite hands back the ISO text tortoise wrote; fromisoformat is far cheaper than the
    # iso8601 parser tortoise would use. PostgreSQL hands back datetimes.
    return datetime.fromisoformat(v) if isinstance(v, str) else v


def _order(row: Sequence[Any]) -> Order:
    kw = dict(zip(ORDER_COLS, row, strict=True))
    for c in _ORDER_TIMES:
        kw[c] = _time(kw[c])
    return Order._init_from_db(**kw)


def _customer(row: Sequence[Any]) -> Customer:
    kw = dict(zip(CUSTOMER_COLS, row, strict=True))
    kw["updated_at"] = _time(kw["updated_at"])
    return Customer._init_from_db(**kw)


def _line(row: Sequence[Any]) -> OrderLine:
    return OrderLine._init_from_db(**dict(zip(LINE_COLS, row, strict=True)))
