"""Database set-up by URL: SQLite by default (WAL, busy timeout), PostgreSQL for several instances."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE

MODELS = ["storage.models", "storage.wecom_models", "storage.chat_models", "storage.outbox_models",
          "storage.tracking_models", "storage.shipping_models", "storage.transit_models"]
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
    return "postgres" if urlsplit(url).scheme in ("postgres", "postgresql", "asyncpg") else "sqlite"


def tortoise_config(url: str) -> dict[str, Any]:
    """Tortoise's config for a URL; SQLite runs on the inline backend (storage/sqlite_inline)."""
    conn = expand_db_url(normalise_url(url))
    if conn["engine"] == "tortoise.backends.sqlite":
        conn["engine"] = "storage.sqlite_inline"
    return {"connections": {"default": conn},
            "apps": {"models": {"models": MODELS, "default_connection": "default"}},
            "use_tz": True, "timezone": "UTC"}


async def init(url: str, *, create: bool = True, create_db: bool = False) -> None:
    """Connect (globally, so aiohttp handler tasks see it) and create missing tables."""
    await Tortoise.init(config=tortoise_config(url), _create_db=create_db,
                        _enable_global_fallback=True)
    if create:
        await Tortoise.generate_schemas(safe=True)


async def close() -> None:
    await Tortoise.close_connections()
    # Tortoise caches SQL per connection name, not per engine: forget it so a later
    # init on the other engine (tests run both in one process) builds its own.
    EXECUTOR_CACHE.clear()


def is_postgres() -> bool:
    conn = connections.get("default")
    return conn.capabilities.dialect == "postgres"
