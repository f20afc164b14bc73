"""What a database's schema is, engine-neutral enough to compare two databases of one
engine: columns (type, nullability, primary key), indexes (columns, unique) and foreign
keys per table. Used by the test that a migrated database equals a fresh one."""

from __future__ import annotations

from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from storage.migrations import tables

Schema = dict[str, dict[str, Any]]


async def describe(conn: BaseDBAsyncClient | None = None) -> Schema:
    conn = conn or connections.get("default")
    if conn.capabilities.dialect == "postgres":
        return await _postgres(conn)
    return {t: await _sqlite_table(conn, t) for t in sorted(await tables(conn))}


async def _rows(conn: BaseDBAsyncClient, sql: str, args: list[Any] | None = None
                ) -> list[dict[str, Any]]:
    _, rows = await conn.execute_query(sql, args or [])
    return [dict(r) for r in rows]


async def _sqlite_table(conn: BaseDBAsyncClient, table: str) -> dict[str, Any]:
    cols = {r["name"]: (str(r["type"]).upper(), bool(r["notnull"]), bool(r["pk"]))
            for r in await _rows(conn, f'PRAGMA table_info("{table}")')}
    indexes = {}
    for ix in await _rows(conn, f'PRAGMA index_list("{table}")'):
        names = [r["name"] for r in await _rows(conn, f'PRAGMA index_info("{ix["name"]}")')]
        # sqlite_autoindex_* names depend on column order; describe them by their columns
        label = ix["name"] if ix["origin"] == "c" else f"{ix['origin']}:{','.join(names)}"
        indexes[label] = (tuple(names), bool(ix["unique"]))
    fks = sorted((r["from"], r["table"], r["to"], r["on_delete"])
                 for r in await _rows(conn, f'PRAGMA foreign_key_list("{table}")'))
    return {"columns": cols, "indexes": indexes, "foreign_keys": fks}


async def _postgres(conn: BaseDBAsyncClient) -> Schema:
    out: Schema = {t: {"columns": {}, "indexes": {}, "foreign_keys": []}
                   for t in sorted(await tables(conn))}
    for r in await _rows(conn, _PG_COLUMNS):
        out[r["table_name"]]["columns"][r["column_name"]] = (
            r["data_type"], r["character_maximum_length"], r["numeric_precision"],
            r["numeric_scale"], r["is_nullable"] == "NO", str(r["column_default"] or "")
            .startswith("nextval("))
    for r in await _rows(conn, _PG_INDEXES):
        out[r["tablename"]]["indexes"][r["indexname"]] = r["indexdef"]
    for r in await _rows(conn, _PG_FKS):
        out[r["table_name"]]["foreign_keys"].append(
            (r["column_name"], r["foreign_table"], r["foreign_column"], r["delete_rule"]))
    for t in out.values():
        t["foreign_keys"].sort()
    return out


_PG_COLUMNS = (
    "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, "
    "numeric_scale, is_nullable, column_default FROM information_schema.columns "
    "WHERE table_schema = current_schema()")
_PG_INDEXES = "SELECT tablename, indexname, indexdef FROM pg_indexes " \
              "WHERE schemaname = current_schema()"
_PG_FKS = (
    "SELECT kcu.table_name, kcu.column_name, ccu.table_name AS foreign_table, "
    "ccu.column_name AS foreign_column, rc.delete_rule "
    "FROM information_schema.referential_constraints rc "
    "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name "
    "AND kcu.constraint_schema = rc.constraint_schema "
    "JOIN information_schema.constraint_column_usage ccu "
    "ON ccu.constraint_name = rc.unique_constraint_name "
    "AND ccu.constraint_schema = rc.unique_constraint_schema "
    "WHERE rc.constraint_schema = current_schema()")
