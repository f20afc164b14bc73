"""Shipments waiting for an e-waybill: the carrier refused or failed, and we retry.

A hold lives in its own table (not new columns on `shipments`): there are no migrations, and
`generate_schemas(safe=True)` creates a missing table on an existing database. One row per
shipment (the unique one-to-one); it is deleted once the order ships or no longer waits.
`retry_at` is NULL when retries gave up and a person must act.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from storage.models import OrderStatus, Shipment


class ShippingHold(Model):
    id = fields.IntField(primary_key=True)
    shipment: fields.OneToOneRelation[Any] = fields.OneToOneField(
        "models.Shipment", related_name="shipping_hold")
    shipment_id: int
    carrier = fields.CharField(16)
    reason = fields.TextField()  # the carrier's own words, e.g. "顺丰：月结卡号已失效…"
    attempts = fields.IntField(default=0)
    retry_at = fields.DatetimeField(null=True, db_index=True)
    first_failed_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "shipping_holds"


# ---- queries (call inside a transaction where they write) ---------------------------------

async def store_waybill(shipment_id: int, waybill_no: str) -> str | None:
    """Keep the first waybill of a shipment: set it only while none is stored.

    Returns the waybill the shipment now has (ours, or one a concurrent caller stored first);
    None when the shipment is gone (re-allocated meanwhile).
    """
    try:
        if await Shipment.filter(id=shipment_id, waybill_no__isnull=True).update(
                waybill_no=waybill_no):
            return waybill_no
    except IntegrityError:  # the number is on another shipment already: keep what is there
        pass
    row = await Shipment.filter(id=shipment_id).values_list("waybill_no", flat=True)
    return str(row[0]) if row and row[0] else None


async def waybill_of(shipment_id: int) -> str | None:
    row = await Shipment.filter(id=shipment_id).values_list("waybill_no", flat=True)
    return str(row[0]) if row and row[0] else None


async def record_failure(shipment_id: int, carrier: str, reason: str, now: datetime,
                         retry_at_for: Callable[[int], datetime | None]) -> ShippingHold:
    """Create or bump the hold of one shipment; `retry_at_for(attempts)` plans the retry.

    Locks the row on PostgreSQL, so two failing callers count two attempts.
    """
    hold = await ShippingHold.filter(shipment_id=shipment_id).select_for_update().first()
    if hold is None:
        try:
            async with in_transaction():  # a savepoint: a racing insert must not poison ours
                return await ShippingHold.create(
                    shipment_id=shipment_id, carrier=carrier, reason=reason, attempts=1,
                    retry_at=retry_at_for(1), first_failed_at=now, updated_at=now)
        except IntegrityError:
            hold = await ShippingHold.filter(shipment_id=shipment_id).select_for_update().get()
    hold.attempts += 1
    hold.carrier, hold.reason, hold.updated_at = carrier, reason, now
    hold.retry_at = retry_at_for(hold.attempts)
    await hold.save(update_fields=["attempts", "carrier", "reason", "retry_at", "updated_at"])
    return hold


async def holds_of(order_id: int) -> list[ShippingHold]:
    return await ShippingHold.filter(shipment__order_id=order_id).order_by("shipment_id")


async def release(shipment_ids: Sequence[int]) -> int:
    """Forget the holds of these shipments (they have their waybill now)."""
    if not shipment_ids:
        return 0
    return await ShippingHold.filter(shipment_id__in=list(shipment_ids)).delete()


async def release_order(order_id: int) -> int:
    ids = await Shipment.filter(order_id=order_id).values_list("id", flat=True)
    return await release([int(i) for i in ids])


async def drop_settled() -> int:
    """Forget holds whose order no longer waits for a waybill (cancelled, shipped, …)."""
    ids = await ShippingHold.filter(
        shipment__order__status__not=OrderStatus.allocated).values_list("id", flat=True)
    if not ids:
        return 0
    return await ShippingHold.filter(id__in=list(ids)).delete()


async def due_orders(now: datetime, limit: int) -> list[str]:
    """Numbers of allocated orders with a hold due by `now`, the longest-waiting first."""
    rows = await ShippingHold.filter(
        retry_at__lte=now, shipment__order__status=OrderStatus.allocated,
    ).order_by("retry_at", "id").limit(limit * 4).values_list("shipment__order__no", flat=True)
    return list(dict.fromkeys(str(r) for r in rows))[:limit]
