"""Database set-up by URL: SQLite by default (WAL, busy timeout), PostgreSQL for several
instances; and the few statements that are about the database itself (ping, clearing)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.models import Model

MODELS = ["storage.models", "storage.wecom_models", "storage.chat_models", "storage.outbox_models",
          "storage.tracking_models", "storage.shipping_models", "storage.transit_models",
          "storage.inbox_models", "storage.reservations", "storage.key_models",
          "storage.alias_models"]
# The WAL is checkpointed every 4000 pages (not 1000) and its file is no longer cut back to
# 16 KB after each checkpoint (tortoise's journal_size_limit default): re-growing the file
# and checkpointing on every ~70th order cost ~15% of intake (bench/intake.py).
SQLITE_PRAGMAS = {"journal_mode": "WAL", "busy_timeout": "5000", "synchronous": "NORMAL",
                  "wal_autocheckpoint": "4000", "journal_size_limit": str(64 * 1024 * 1024)}


def normalise_url(url: str) -> str:
    """Accept postgres://, postgresql:// and sqlite:// URLs; add SQLite pragmas."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgres", "postgresql", "asyncpg"):
        return urlunsplit(("asyncpg", *parts[1:]))
    if scheme == "sqlite":
        query = dict(SQLITE_PRAGMAS)
        query.update(parse_qsl(parts.query))
        path = url.split("://", 1)[1].split("?", 1)[0]
        return f"sqlite://{path}?{urlencode(query)}"
    raise ValueError(f"LVYUE_DB: unsupported database URL scheme {scheme!r} "
                     "(use sqlite://FILE or postgres://USER@HOST:PORT/DB)")


def sqlite_path(url: str) -> str:
    """The file of a sqlite:// URL."""
    return url.split("://", 1)[1].split("?", 1)[0]


def engine(url: str) -> str:
    postgres = urlsplit(url).scheme in ("postgres", "postgresql", "asyncpg")
    return "postgres" if postgres else "sqlite"


def tortoise_config(url: str) -> dict[str, Any]:
    """Tortoise's config for a URL; SQLite runs on the inline backend (storage/sqlite_inline)."""
    conn = expand_db_url(normalise_url(url))
    if conn["engine"] == "tortoise.backends.sqlite":
        conn["engine"] = "storage.sqlite_inline"
    return {"connections": {"default": conn},
            "apps": {"models": {"models": MODELS, "default_connection": "default"}},
            "use_tz": True, "timezone": "UTC"}


async def init(url: str, *, create: bool = True, create_db: bool = False,
               check: bool = True) -> None:
    """Connect (globally, so aiohttp handler tasks see it). An empty database is created
    at the current schema version (`create`); an existing one must be at that version
    (`check`), else SchemaVersionError names `python bot.py migrate`."""
    from storage import migrations

    await Tortoise.init(config=tortoise_config(url), _create_db=create_db,
                        _enable_global_fallback=True)
    if create or check:
        try:
            await migrations.prepare(create=create)
        except BaseException:
            await close()
            raise


async def close() -> None:
    await Tortoise.close_connections()
    # Tortoise caches SQL per connection name, not per engine: forget it so a later
    # init on the other engine (tests run both in one process) builds its own.
    EXECUTOR_CACHE.clear()


def is_postgres() -> bool:
    conn = connections.get("default")
    return conn.capabilities.dialect == "postgres"


def engine_name() -> str:
    """The dialect of the connection ("sqlite" or "postgres"), without a round trip."""
    return str(connections.get("default").capabilities.dialect)


async def ping() -> str:
    """One round trip to the database; its dialect (raises when it is away)."""
    conn = connections.get("default")
    await conn.execute_query("SELECT 1")
    return str(conn.capabilities.dialect)


async def write_blocked(wait: float = 0.25) -> bool | None:
    """SQLite: is the write lock held (by another process) longer than `wait` seconds?
    Probed from a thread on a connection of its own, so the loop never waits for it.
    None on PostgreSQL (no such lock) and for an in-memory database."""
    conn = connections.get("default")
    path = str(getattr(conn, "filename", "") or "")
    if conn.capabilities.dialect != "sqlite" or not path or "memory" in path:
        return None
    return await asyncio.to_thread(_write_blocked, path, wait)


def _write_blocked(path: str, wait: float) -> bool:
    probe = sqlite3.connect(path, timeout=wait, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


async def clear_tables(conn: Any, models: Sequence[type[Model]]) -> None:
    """Delete every row of `models` (children first) inside the caller's transaction, ids
    restarting at 1. PostgreSQL truncates: a plain DELETE of the products re-checks the
    foreign keys of every dead stock row (no index leads with product_id) and takes seconds.
    """
    tables = [model._meta.db_table for model in models]
    if conn.capabilities.dialect == "postgres":
        quoted = ", ".join(f'"{t}"' for t in tables)
        await conn.execute_script(f"TRUNCATE TABLE {quoted} RESTART IDENTITY")
        return
    for model in models:
        await model.all().using_db(conn).delete()
    _, rows = await conn.execute_query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
    if rows:
        marks = ", ".join("?" for _ in tables)
        await conn.execute_query(f"DELETE FROM sqlite_sequence WHERE name IN ({marks})", tables)
