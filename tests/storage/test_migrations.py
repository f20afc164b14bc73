"""Versioned migrations: a database of the previous release (schema version 1, the committed
fixture made from afb56f3's models, two rows in every table) migrates to the current
version with every row kept, and ends with exactly the schema a fresh database gets from
the models. That last test is what makes every schema change come with a migration."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest

from storage import db as storage_db
from storage import migrations
from storage.migrations.schema import describe
from tests.conftest import pg_base_url

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1_TABLES = sorted(migrations._V1_TABLES)


def fixture_sql(engine: str) -> str:
    return (FIXTURES / f"schema_v1.{engine}.sql").read_text("utf-8")


async def v1_database(engine: str, tmp_path: Path) -> str:
    """A new database holding the previous release's schema and rows; its URL."""
    if engine == "sqlite":
        path = tmp_path / "v1.db"
        conn = sqlite3.connect(path)
        conn.executescript(fixture_sql("sqlite"))
        conn.close()
        return f"sqlite://{path}"
    base = pg_base_url()
    name = f"v1_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{base.rsplit('/', 1)[0]}/{name}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(fixture_sql("postgres"))
    finally:
        await conn.close()
    return url


async def drop(engine: str, url: str) -> None:
    await storage_db.close()
    if engine == "postgres":
        admin = await asyncpg.connect(pg_base_url())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"')
        finally:
            await admin.close()


async def counts(tables: list[str]) -> dict[str, int]:
    from tortoise import connections

    conn = connections.get("default")
    out = {}
    for t in tables:
        _, rows = await conn.execute_query(f'SELECT COUNT(*) AS n FROM "{t}"')
        out[t] = int(dict(rows[0])["n"])
    return out


@pytest.fixture
async def v1(engine: str, tmp_path: Path):
    url = await v1_database(engine, tmp_path)
    yield url
    await drop(engine, url)


async def test_an_old_database_is_refused_until_migrated_then_keeps_every_row(v1, engine):
    with pytest.raises(migrations.SchemaVersionError, match=r"python bot\.py migrate"):
        await storage_db.init(v1)  # what every command does at start
    await storage_db.init(v1, create=False, check=False)
    assert await migrations.version() == 1  # no schema_version table: the old release
    assert await counts(V1_TABLES) == dict.fromkeys(V1_TABLES, 2)
    applied = await migrations.migrate()
    assert [m.version for m in applied] == list(range(1, migrations.CURRENT + 1))
    assert await migrations.version() == migrations.CURRENT
    assert await counts(V1_TABLES) == dict.fromkeys(V1_TABLES, 2)  # every row is still there
    from storage.models import Customer, Order
    from storage.outbox_models import OutboxNotification

    order = await Order.get(no="no1-orders").prefetch_related("customer")
    assert order.status == "confirmed" and order.customer.code == "code1-customer"
    assert order.gates == {"v1": "orders", "row": 1}
    assert (await Customer.get(code="code0-customer")).aliases == {"v1": "customers", "row": 0}
    assert {o.dedup_key for o in await OutboxNotification.all()} == {"dedup_0-outbox",
                                                                      "dedup_1-outbox"}
    assert await migrations.migrate() == []  # harmless when up to date
    await storage_db.close()
    await storage_db.init(v1)  # and now every command starts


async def test_a_migrated_database_has_exactly_the_schema_of_a_fresh_one(v1, engine, db):
    fresh = await describe()
    await storage_db.close()
    await storage_db.init(v1, create=False, check=False)
    await migrations.migrate()
    migrated = await describe()
    assert sorted(migrated) == sorted(fresh)
    for table in fresh:
        assert migrated[table] == fresh[table], f"table {table} differs after migrating"


async def test_a_fresh_database_starts_at_the_current_version(db):
    assert await migrations.version() == migrations.CURRENT
    assert migrations.VERSION_TABLE in await migrations.tables()


async def test_a_newer_schema_is_refused_and_never_downgraded(db, engine):
    from tortoise import connections

    mark = "?" if engine == "sqlite" else "$1"
    await connections.get("default").execute_query(
        f'INSERT INTO schema_version (version, name, applied_at) VALUES ({mark}, \'future\', '
        f"CURRENT_TIMESTAMP)", [migrations.CURRENT + 1])
    with pytest.raises(migrations.SchemaVersionError, match="never downgrades"):
        await migrations.migrate()
    with pytest.raises(migrations.SchemaVersionError, match=r"python bot\.py migrate"):
        await migrations.prepare()


def test_serve_refuses_an_old_schema_and_names_the_command(tmp_path, capsys):
    import importlib.util

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(fixture_sql("sqlite"))
    conn.close()
    spec = importlib.util.spec_from_file_location(
        "lvyue_cli", Path(__file__).resolve().parents[2] / "bot.py")
    assert spec is not None and spec.loader is not None
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    for argv in (["serve", "--db", f"sqlite://{path}", "--port", "1"],
                 ["calibrate", "--db", f"sqlite://{path}"]):
        assert cli.main(argv) == 2
        assert "python bot.py migrate" in capsys.readouterr().err
    assert cli.main(["migrate", "--db", f"sqlite://{path}"]) == 0
    assert f"结构版本 {migrations.CURRENT}" in capsys.readouterr().out


def test_migration_files_are_checked(tmp_path):
    (tmp_path / "0001_a.sqlite.sql").write_text("CREATE TABLE a (x INT);\n")
    (tmp_path / "0001_a.postgres.sql").write_text("CREATE TABLE a (x INT);\n")
    (tmp_path / "0003_c.py").write_text("async def up(conn):\n    pass\n")
    with pytest.raises(ValueError, match="2 is missing"):
        migrations.discover(tmp_path)
    (tmp_path / "0003_c.py").rename(tmp_path / "0002_c.py")
    (tmp_path / "0003_d.sqlite.sql").write_text("SELECT 1;\n")
    with pytest.raises(ValueError, match=r"0003 needs a \.sqlite\.sql and a \.postgres\.sql"):
        migrations.discover(tmp_path)
    (tmp_path / "0003_d.sqlite.sql").unlink()
    assert [m.version for m in migrations.discover(tmp_path)] == [1, 2]
    assert migrations.statements("-- note\nCREATE TABLE a (\n x INT\n);\nSELECT 1;\n") == [
        "CREATE TABLE a (\n x INT\n);", "SELECT 1;"]
    with pytest.raises(ValueError, match="end its last statement"):
        migrations.statements("SELECT 1")
