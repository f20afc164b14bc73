"""Named counters shared by every process on the database."""

from __future__ import annotations

import contextlib
import secrets as _secrets

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from storage.models import Counter, Secret

CATALOG = "catalog"
TRANSIT = "transit"  # learnt transit times (storage/transit_models.py)


async def bump(name: str, conn: BaseDBAsyncClient | None = None) -> None:
    """Add one to the counter (created on first use). Call inside the writing transaction."""
    n = await Counter.filter(name=name).using_db(conn).update(value=F("value") + 1)
    if n == 0:
        try:
            await Counter.create(name=name, value=1, using_db=conn)
        except IntegrityError:  # created concurrently
            await Counter.filter(name=name).using_db(conn).update(value=F("value") + 1)


async def value(name: str) -> int:
    row = await Counter.get_or_none(name=name)
    return row.value if row else 0


async def values(*names: str) -> dict[str, int]:
    """Several counters in one query (0 for one never bumped)."""
    rows = await Counter.filter(name__in=names).values_list("name", "value")
    found = dict(rows)
    return {n: int(found.get(n, 0)) for n in names}


async def secret(name: str) -> str:
    """The stored key `name`, made on first use (race-safe: the first writer wins)."""
    row = await Secret.get_or_none(name=name)
    if row is not None:
        return row.value
    with contextlib.suppress(IntegrityError):
        await Secret.create(name=name, value=_secrets.token_urlsafe(32))
    return (await Secret.get(name=name)).value
