"""Issuing, finding and revoking API keys (storage/key_models.ApiKey).

A key is `lvy_` + 43 url-safe characters (256 random bits); the database keeps its SHA-256,
which is enough for a key of that entropy (no salt or slow hash needed: nothing to guess).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.roles import KEY_ROLES
from storage.key_models import ApiKey

PREFIX = "lvy_"
SHOWN = 12  # characters of the key kept to tell keys apart (prefix + 8)


@dataclass(frozen=True)
class Principal:
    """Who a valid key belongs to."""

    key_id: int
    name: str
    role: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


async def create(name: str, role: str) -> tuple[ApiKey, str]:
    """A new key for `name` in `role`; returns the row and the key (shown once)."""
    if role not in KEY_ROLES:
        raise ValueError(f"unknown role {role!r} (use {', '.join(KEY_ROLES)})")
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise ValueError("name: 1 to 64 printable characters")
    key = PREFIX + secrets.token_urlsafe(32)
    row = await ApiKey.create(name=name, role=role, key_hash=digest(key), prefix=key[:SHOWN])
    return row, key


async def find(key: str) -> Principal | None:
    """The owner of a valid, unrevoked key; None for anything else."""
    return await find_digest(digest(key))


async def find_digest(key_hash: str) -> Principal | None:
    row = await ApiKey.get_or_none(key_hash=key_hash, revoked_at__isnull=True)
    return Principal(row.id, row.name, row.role) if row else None


async def listing(include_revoked: bool = False) -> list[ApiKey]:
    rows = ApiKey.all() if include_revoked else ApiKey.filter(revoked_at__isnull=True)
    return await rows.order_by("id")


async def revoke(ref: str) -> list[ApiKey]:
    """Revoke by id, by the key's shown prefix, or every key of a name; returns those revoked."""
    query = ApiKey.filter(revoked_at__isnull=True)
    if ref.isdigit():
        query = query.filter(id=int(ref))
    elif ref.startswith(PREFIX):
        query = query.filter(prefix=ref[:SHOWN])
    else:
        query = query.filter(name=ref)
    rows = await query
    if rows:
        await ApiKey.filter(id__in=[r.id for r in rows]).update(revoked_at=datetime.now(UTC))
    return rows
