"""Raw SQL on tortoise's current connection, for the few hot paths (DESIGN.md §4: SQL stays
in storage/).

Building a statement through tortoise/pypika and turning rows into models costs more than
SQLite spends running it, so the order intake path writes its statements once as plain SQL
(`Stmt`) and runs them here. Both engines are served: SQLite (our inline backend, the
sqlite3 connection is used directly) and PostgreSQL (asyncpg, through tortoise's pool or
the current transaction). Inside `tortoise.transactions.in_transaction()` the statements run
in that transaction, like ORM calls do.

Errors are translated to tortoise's IntegrityError / OperationalError so callers (and the
API's 503-on-busy) handle them the same way as ORM errors.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError

from storage.sqlite_inline import InlineConnection

_PARAM = re.compile(r"\?")


class Stmt:
    """One statement in both dialects, built once: `?` placeholders for SQLite, `$n` for
    PostgreSQL. `pg` overrides the PostgreSQL text where the dialects differ."""

    __slots__ = ("pg", "sqlite")

    def __init__(self, sql: str, pg: str | None = None) -> None:
        self.sqlite = sql
        self.pg = pg if pg is not None else _numbered(sql)


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PARAM.sub(lambda _: f"${next(counter)}", sql)


def client() -> BaseDBAsyncClient:
    """The connection ORM calls would use now (the transaction's, inside one)."""
    return connections.get("default")


def is_postgres(conn: BaseDBAsyncClient | None = None) -> bool:
    return (conn or client()).capabilities.dialect == "postgres"


async def fetch(st: Stmt, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
    """Rows of a SELECT (or of an INSERT/UPDATE ... RETURNING) as sequences."""
    conn = client()
    if conn.capabilities.dialect == "sqlite":
        return await _sqlite(conn, st.sqlite, args, rows=True)
    return await _pg(conn, st.pg, args, rows=True)


async def execute(st: Stmt, args: Sequence[Any] = ()) -> int:
    """Run an INSERT/UPDATE/DELETE; returns the number of rows it changed."""
    conn = client()
    if conn.capabilities.dialect == "sqlite":
        return await _sqlite(conn, st.sqlite, args, rows=False)
    return await _pg(conn, st.pg, args, rows=False)


async def _sqlite(conn: Any, sql: str, args: Sequence[Any], rows: bool) -> Any:
    inline = conn._connection
    if not isinstance(inline, InlineConnection):  # aiosqlite or not connected yet
        return await _generic(conn, sql, args, rows)
    # Outside a transaction, the client's lock is held while another task's transaction is
    # open on this one connection: wait for it, or this statement would run inside it; and
    # hold it, since waiting out another process's write lock yields to the loop. Inside
    # our own transaction `conn` is the transaction's client, whose lock is free.
    try:
        async with conn._lock:
            return await inline.call(_sqlite_run, inline._conn, sql, args, rows)
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(exc) from exc
    except sqlite3.OperationalError as exc:
        raise OperationalError(exc) from exc


def _sqlite_run(db: sqlite3.Connection, sql: str, args: Sequence[Any], rows: bool) -> Any:
    cur = db.cursor()
    cur.row_factory = None  # plain tuples: cheaper than the connection's sqlite3.Row
    try:
        cur.execute(sql, args)
        return cur.fetchall() if rows else cur.rowcount
    finally:
        cur.close()


async def _pg(conn: Any, sql: str, args: Sequence[Any], rows: bool) -> Any:
    try:
        async with conn.acquire_connection() as pg:
            if rows:
                return await pg.fetch(sql, *args)
            status = await pg.execute(sql, *args)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(exc) from exc
    except (asyncpg.SyntaxOrAccessError, asyncpg.exceptions.DataError) as exc:
        raise OperationalError(exc) from exc
    return int(status.rsplit(" ", 1)[1])  # "UPDATE 3", "INSERT 0 2", "DELETE 1"


async def _generic(conn: Any, sql: str, args: Sequence[Any], rows: bool) -> Any:
    n, result = await conn.execute_query(sql, list(args))
    return [tuple(r) for r in result] if rows else n


# ---- long reads off the event loop -------------------------------------------------------

Reads = Mapping[str, tuple[Stmt, tuple[Any, ...]]]


async def read_snapshot(todo: Reads) -> dict[str, list[Any]]:
    """Run several long SELECTs (name → statement, args); rows by name.

    On SQLite they run in a worker thread on a read-only connection of their own, in one
    read transaction: the inline backend would otherwise hold the event loop (and every
    order being placed) for as long as they take, and one snapshot keeps the results
    consistent with each other. On PostgreSQL they run on the pool as usual.
    """
    path = _sqlite_file()
    if path is not None:
        return await asyncio.to_thread(_read_sqlite, path, todo)
    return {name: list(await fetch(st, args)) for name, (st, args) in todo.items()}


def _sqlite_file() -> str | None:
    conn = client()
    if is_postgres(conn):
        return None
    name = str(getattr(conn, "filename", "") or "")
    if not name or name == ":memory:" or "memory" in name:
        return None  # an in-memory database exists only on its own connection
    return name


def _read_sqlite(path: str, todo: Reads) -> dict[str, list[Any]]:
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                         isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("BEGIN")
        out = {name: db.execute(st.sqlite, [_lite(a) for a in args]).fetchall()
               for name, (st, args) in todo.items()}
        db.execute("COMMIT")
        return out
    finally:
        db.close()


def _lite(value: Any) -> Any:
    # The text tortoise stores (UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00"), so that SQLite's
    # text comparison orders it like time.
    return value.astimezone(UTC).isoformat(" ") if isinstance(value, datetime) else value
