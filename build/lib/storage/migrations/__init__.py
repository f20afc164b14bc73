"""Versioned schema migrations for SQLite and PostgreSQL (see README.md beside this file).

The schema version of a database is the highest row of its `schema_version` table. A
database of the release before versioning has tables but no `schema_version`: version 1.
An empty database is built from the models (tortoise's generate_schemas) and stamped with
the current version, so a fresh database never replays history.

Files in this folder, one version each (versions count up from 1 with no gap):

* ``NNNN_slug.sqlite.sql`` and ``NNNN_slug.postgres.sql``: statements ending in ``;`` at
  the end of a line, run in one transaction with the version's row;
* or ``NNNN_slug.py`` with ``async def up(conn)``: for data or dialect-dependent work
  (``conn.capabilities.dialect`` is ``"sqlite"`` or ``"postgres"``).

`prepare()` is what every command does at start (create or check); `migrate()` is
``python bot.py migrate``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

HERE = Path(__file__).resolve().parent
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sqlite\.sql|postgres\.sql|py)$")
MIGRATE_COMMAND = "python bot.py migrate"
VERSION_TABLE = "schema_version"
_CREATE_VERSION = {
    "sqlite": f'CREATE TABLE IF NOT EXISTS "{VERSION_TABLE}" ("version" INT NOT NULL PRIMARY '
              'KEY, "name" VARCHAR(128) NOT NULL, "applied_at" TIMESTAMP NOT NULL)',
    "postgres": f'CREATE TABLE IF NOT EXISTS "{VERSION_TABLE}" ("version" INT NOT NULL '
                'PRIMARY KEY, "name" VARCHAR(128) NOT NULL, "applied_at" TIMESTAMPTZ NOT NULL)',
}


class SchemaVersionError(Exception):
    """The database's schema is not the one this code was written for."""

    def __init__(self, found: int, wanted: int) -> None:
        self.found, self.wanted = found, wanted
        if found < wanted:
            text = (f"数据库结构版本为 {found}，本程序需要版本 {wanted}：请先备份数据库，"
                    f"再运行 `{MIGRATE_COMMAND}` 升级 (schema version {found}, this code "
                    f"needs {wanted}: run `{MIGRATE_COMMAND}`)")
        else:
            text = (f"数据库结构版本为 {found}，比本程序（版本 {wanted}）新：请使用更新的程序；"
                    f"`{MIGRATE_COMMAND}` 不会降级 (schema version {found} is newer than "
                    f"this code's {wanted}; `{MIGRATE_COMMAND}` never downgrades)")
        super().__init__(text)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: dict[str, str]  # dialect → script, for SQL migrations
    python: Path | None = None

    async def apply(self, conn: BaseDBAsyncClient) -> None:
        if self.python is not None:
            await _load_up(self.python)(conn)
            return
        for statement in statements(self.sql[conn.capabilities.dialect]):
            await conn.execute_script(statement)


def statements(script: str) -> list[str]:
    """A script's statements: each ends with ``;`` at the end of a line; ``--`` comments
    on their own lines are dropped."""
    out: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).strip())
            current = []
    if "".join(current).strip():
        raise ValueError("a migration script must end its last statement with ';'")
    return out


def _load_up(path: Path) -> Callable[[BaseDBAsyncClient], Awaitable[None]]:
    spec = importlib.util.spec_from_file_location(f"lvyue_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load migration {path.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.up  # type: ignore[no-any-return]


def discover(folder: Path = HERE) -> list[Migration]:
    """Every migration in `folder`, checked: numbered 1..N, each for both engines."""
    found: dict[int, dict[str, object]] = {}
    for path in sorted(folder.iterdir()):
        m = _FILE.match(path.name)
        if m is None:
            continue
        entry = found.setdefault(int(m.group(1)), {"name": m.group(2), "sql": {}})
        if entry["name"] != m.group(2):
            raise ValueError(f"migration {m.group(1)} has two names: {entry['name']}, "
                             f"{m.group(2)}")
        if m.group(3) == "py":
            entry["python"] = path
        else:
            entry["sql"][m.group(3).split(".")[0]] = path.read_text("utf-8")  # type: ignore[index]
    out = []
    for i, version in enumerate(sorted(found), start=1):
        entry = found[version]
        if version != i:
            raise ValueError(f"migration versions must count up from 1: {i} is missing")
        sql: dict[str, str] = entry["sql"]  # type: ignore[assignment]
        python = entry.get("python")
        if python is None and set(sql) != {"sqlite", "postgres"}:
            raise ValueError(f"migration {version:04d} needs a .sqlite.sql and a .postgres.sql")
        out.append(Migration(version, str(entry["name"]), sql, python))  # type: ignore[arg-type]
    return out


MIGRATIONS = discover()
CURRENT = MIGRATIONS[-1].version


def _conn() -> BaseDBAsyncClient:
    return connections.get("default")


async def tables(conn: BaseDBAsyncClient | None = None) -> set[str]:
    """The tables of the database (of the current schema on PostgreSQL)."""
    conn = conn or _conn()
    if conn.capabilities.dialect == "postgres":
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    _, rows = await conn.execute_query(sql)
    return {str(next(iter(dict(r).values()))) for r in rows}


def model_tables() -> set[str]:
    return {m._meta.db_table for app in Tortoise.apps.values() for m in app.values()}


async def version(conn: BaseDBAsyncClient | None = None) -> int | None:
    """The database's schema version; None for a database without any of our tables."""
    conn = conn or _conn()
    present = await tables(conn)
    if VERSION_TABLE in present:
        _, rows = await conn.execute_query(f'SELECT MAX("version") AS v FROM "{VERSION_TABLE}"')
        v = dict(rows[0])["v"] if rows else None
        return int(v) if v is not None else 1
    if present & (model_tables() | _V1_TABLES):
        return 1  # the release before versioned migrations
    return None


async def _stamp(conn: BaseDBAsyncClient, migration: Migration) -> None:
    dialect = conn.capabilities.dialect
    await conn.execute_script(_CREATE_VERSION[dialect])
    mark = "?" if dialect == "sqlite" else "$1"
    marks = ", ".join(mark.replace("1", str(i)) for i in (1, 2, 3))
    await conn.execute_query(
        f'INSERT INTO "{VERSION_TABLE}" ("version", "name", "applied_at") VALUES ({marks})',
        [migration.version, migration.name, datetime.now(UTC)])


async def create_fresh() -> None:
    """An empty database: every table from the models, stamped with the current version."""
    await Tortoise.generate_schemas(safe=True)
    async with in_transaction() as conn:
        await _stamp(conn, MIGRATIONS[-1])


async def prepare(create: bool = True) -> int | None:
    """At start: build an empty database (when `create`), else insist on the current
    version. Returns the version found (None: empty and not created)."""
    found = await version()
    if found is None:
        if create:
            await create_fresh()
            return CURRENT
        return None
    if found != CURRENT:
        raise SchemaVersionError(found, CURRENT)
    return found


async def migrate(log: Callable[[str], None] = lambda _: None) -> list[Migration]:
    """Apply what is missing, each version in its own transaction; harmless when up to
    date. An empty database is created at the current version."""
    found = await version()
    if found is None:
        await create_fresh()
        log(f"新建数据库，结构版本 {CURRENT}")
        return []
    if found > CURRENT:
        raise SchemaVersionError(found, CURRENT)
    if VERSION_TABLE not in await tables():
        found = 0  # unversioned: the baseline (all IF NOT EXISTS) fills what an older one lacks
    done = []
    for migration in MIGRATIONS:
        if migration.version <= found:
            continue
        async with in_transaction() as conn:
            await migration.apply(conn)
            await _stamp(conn, migration)
        log(f"已升级到结构版本 {migration.version}（{migration.name}）")
        done.append(migration)
    return done


# The tables of version 1 (main at afb56f3), for recognising an unversioned database.
_V1_TABLES = {
    "customers", "staff", "products", "warehouses", "stock", "carriers", "carrier_coverage",
    "orders", "order_lines", "shipments", "order_log", "counters", "app_secrets",
    "seen_callbacks", "chat_cards", "chat_questions", "outbox", "shipping_holds",
    "tracking_events", "shipment_tracking", "transit_stats"}
