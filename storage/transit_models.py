"""Learnt transit times (DESIGN.md §3): one row per carrier and lane, from delivered history.

A lane is (carrier, origin warehouse code, destination province, destination city); city ""
is the whole province. bot/calibration.py computes the rows and replaces them all at once,
bumping the `transit` counter in the same transaction, so every process's snapshot
(bot/catalog.py) reloads the few hundred rows on its next check and nothing else.

The history read is one statement over the window's delivered shipments (≈ 240,000 rows for
60 days at 4,000 orders a day), returning the transit time already in hours from the
database, so Python parses no datetimes. On SQLite it runs in a worker thread on a read-only
connection (as the dashboard's reads do, storage/kpi.py): the inline backend would
otherwise hold the event loop, and every order being placed, while it scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from storage import meta, sql
from storage.sql import Stmt


class TransitStat(Model):
    id = fields.IntField(primary_key=True)
    carrier = fields.CharField(16)
    warehouse = fields.CharField(32)  # the origin warehouse's code
    province = fields.CharField(32)  # destination, short name (浙江)
    city = fields.CharField(32, default="")  # destination, short name; "" = whole province
    samples = fields.IntField()
    hours = fields.IntField()  # the learnt transit time promises use: whole hours, clamped
    p50 = fields.FloatField()  # the median, for people reading the table
    configured = fields.FloatField()  # the [carriers.X] hours at the time, for the report
    computed_at = fields.DatetimeField()

    class Meta:
        table = "transit_stats"
        unique_together = (("carrier", "warehouse", "province", "city"),)


class DeliveryRecord(Model):
    """One delivered parcel from history brought in by `bot.py import deliveries` (the old
    system's or a carrier's export). It counts for learning promises and the dashboard's
    history only: it never makes an order, a stock movement or a notification."""

    id = fields.IntField(primary_key=True)
    waybill_no = fields.CharField(64, unique=True)
    carrier = fields.CharField(16)  # the [carriers.X] code
    warehouse = fields.CharField(32)  # the origin warehouse's code
    address = fields.CharField(255)
    province = fields.CharField(32)  # destination, short name (浙江)
    city = fields.CharField(32)  # destination, short name (杭州)
    confirmed_at = fields.DatetimeField()
    shipped_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "delivery_history"


class PromiseWave(Model):
    """The learnt promise for one lane and departure weekday (bot/calibration.py): the
    moment, in minutes after the midnight (China time) of the planned departure day, that
    holds the most deliveries within ± the delivery window. weekday 0 = any day."""

    id = fields.IntField(primary_key=True)
    carrier = fields.CharField(16)
    warehouse = fields.CharField(32)
    province = fields.CharField(32)
    city = fields.CharField(32, default="")  # "" = whole province
    weekday = fields.IntField()  # ISO weekday of the planned departure, 0 = all days
    minute = fields.IntField()  # promised moment: minutes after the departure day's midnight
    samples = fields.IntField()
    within = fields.FloatField()  # share of the samples within ± window of `minute`
    computed_at = fields.DatetimeField()

    class Meta:
        table = "promise_waves"
        unique_together = (("carrier", "warehouse", "province", "city", "weekday"),)


@dataclass(frozen=True)
class Lane:
    carrier: str
    warehouse: str
    province: str
    city: str
    samples: int
    hours: int
    p50: float
    configured: float


# carrier, warehouse id, destination province, destination city (as stored on the order),
# transit hours (delivered − shipped). CROSS JOIN: SQLite scans shipments and looks each
# order up by its key (see storage/kpi.py).
# Orders' shipments and imported history (`import deliveries`) alike: both count for the
# transit hours, as both count for the arrival waves (_WAVE_ROWS below).
_DELIVERED = Stmt(
    "SELECT s.carrier, s.warehouse_id, o.province, o.city, "
    "(julianday(s.delivered_at) - julianday(s.shipped_at)) * 24.0 "
    "FROM shipments s CROSS JOIN orders o WHERE o.id = s.order_id "
    "AND s.delivered_at >= ? AND s.shipped_at IS NOT NULL AND s.carrier IS NOT NULL "
    "UNION ALL SELECT h.carrier, w.id, h.province, h.city, "
    "(julianday(h.delivered_at) - julianday(h.shipped_at)) * 24.0 "
    "FROM delivery_history h CROSS JOIN warehouses w "
    "WHERE w.code = h.warehouse AND h.delivered_at >= ?",
    pg="SELECT s.carrier, s.warehouse_id, o.province, o.city, "
       "date_part('epoch', s.delivered_at - s.shipped_at) / 3600.0 "
       "FROM shipments s JOIN orders o ON o.id = s.order_id "
       "WHERE s.delivered_at >= $1 AND s.shipped_at IS NOT NULL AND s.carrier IS NOT NULL "
       "UNION ALL SELECT h.carrier, w.id, h.province, h.city, "
       "date_part('epoch', h.delivered_at - h.shipped_at) / 3600.0 "
       "FROM delivery_history h JOIN warehouses w ON w.code = h.warehouse "
       "WHERE h.delivered_at >= $2")

DeliveredRow = tuple[str, int, str, str, float]


async def delivered_since(since: datetime) -> Sequence[DeliveredRow]:
    """Every shipment delivered at or after `since` (orders' and imported), with its
    transit time in hours."""
    return (await sql.read_snapshot({"rows": (_DELIVERED, (since, since))}))["rows"]


async def lanes() -> list[Lane]:
    """The stored rows (a few hundred at most)."""
    rows = await TransitStat.all().values_list(
        "carrier", "warehouse", "province", "city", "samples", "hours", "p50", "configured")
    return [Lane(*r) for r in rows]


async def last_computed() -> datetime | None:
    row = await TransitStat.all().order_by("-computed_at").first().values_list("computed_at")
    return row[0] if row else None


async def replace(new: Sequence[Lane], at: datetime, waves: Sequence[Wave] = ()) -> None:
    """Swap the whole table for `new` and the promise waves for `waves`, and tell every
    process, in one transaction."""
    async with in_transaction() as conn:
        await PromiseWave.all().using_db(conn).delete()
        await PromiseWave.bulk_create(
            [PromiseWave(carrier=x.carrier, warehouse=x.warehouse, province=x.province,
                         city=x.city, weekday=x.weekday, minute=x.minute, samples=x.samples,
                         within=x.within, computed_at=at) for x in waves],
            batch_size=500, using_db=conn)
        await TransitStat.all().using_db(conn).delete()
        await TransitStat.bulk_create(
            [TransitStat(carrier=x.carrier, warehouse=x.warehouse, province=x.province,
                         city=x.city, samples=x.samples, hours=x.hours, p50=x.p50,
                         configured=x.configured, computed_at=at) for x in new],
            batch_size=500, using_db=conn)
        await meta.bump(meta.TRANSIT, conn)


# ---- the promise waves (bot/waves.py) ---------------------------------------------------------

# carrier, origin warehouse code, destination province, city, confirmed and delivered as
# Unix seconds (computed by the database, so Python parses no datetimes): the shipments of
# real orders, then the imported history.
_EPOCH_LITE = "(julianday({}) - 2440587.5) * 86400.0"
_WAVE_ROWS = Stmt(
    "SELECT s.carrier, w.code, o.province, o.city, "
    f"{_EPOCH_LITE.format('o.confirmed_at')}, {_EPOCH_LITE.format('s.delivered_at')} "
    "FROM shipments s CROSS JOIN orders o CROSS JOIN warehouses w "
    "WHERE o.id = s.order_id AND w.id = s.warehouse_id AND s.delivered_at >= ? "
    "AND o.confirmed_at IS NOT NULL AND s.carrier IS NOT NULL "
    "UNION ALL SELECT carrier, warehouse, province, city, "
    f"{_EPOCH_LITE.format('confirmed_at')}, {_EPOCH_LITE.format('delivered_at')} "
    "FROM delivery_history WHERE delivered_at >= ?",
    pg="SELECT s.carrier, w.code, o.province, o.city, "
       "extract(epoch FROM o.confirmed_at)::float8, extract(epoch FROM s.delivered_at)::float8 "
       "FROM shipments s JOIN orders o ON o.id = s.order_id "
       "JOIN warehouses w ON w.id = s.warehouse_id WHERE s.delivered_at >= $1 "
       "AND o.confirmed_at IS NOT NULL AND s.carrier IS NOT NULL "
       "UNION ALL SELECT carrier, warehouse, province, city, "
       "extract(epoch FROM confirmed_at)::float8, extract(epoch FROM delivered_at)::float8 "
       "FROM delivery_history WHERE delivered_at >= $2")

WaveRow = tuple[str, str, str, str, float, float]


async def wave_rows_since(since: datetime) -> Sequence[WaveRow]:
    """Every delivery (orders' and imported) at or after `since`, for bot/waves.py."""
    return (await sql.read_snapshot({"rows": (_WAVE_ROWS, (since, since))}))["rows"]


@dataclass(frozen=True)
class Wave:
    carrier: str
    warehouse: str
    province: str
    city: str
    weekday: int  # ISO weekday of the planned departure; 0 = every day
    minute: int  # the promise: minutes after the departure day's midnight (China time)
    samples: int
    within: float  # share of the samples within ± the window of the promise


async def waves() -> list[Wave]:
    rows = await PromiseWave.all().values_list(
        "carrier", "warehouse", "province", "city", "weekday", "minute", "samples", "within")
    return [Wave(*r) for r in rows]

