"""Keep the carriers and coverage tables equal to the configuration (config is the source)."""

from __future__ import annotations

from collections.abc import Mapping

from tortoise.transactions import in_transaction

from bot.domain.rules import CarrierConfig
from storage.models import Carrier, CarrierCoverage


async def sync(carriers: Mapping[str, CarrierConfig], live: set[str]) -> None:
    """Upsert every configured carrier with its coverage; unconfigured ones are disabled.

    `live` names the carriers whose keys are set (the others run as sandbox).
    """
    async with in_transaction():
        for code, c in carriers.items():
            row, _ = await Carrier.get_or_create(code=code, defaults={"name": c.name})
            row.name, row.enabled, row.sandbox = c.name, True, code not in live
            await row.save()
            await CarrierCoverage.filter(carrier_id=row.id).delete()
            await CarrierCoverage.bulk_create(
                [CarrierCoverage(carrier_id=row.id, place=p, excluded=False) for p in c.coverage]
                + [CarrierCoverage(carrier_id=row.id, place=p, excluded=True) for p in c.exclude])
        await Carrier.exclude(code__in=list(carriers)).update(enabled=False)
