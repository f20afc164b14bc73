"""A tortoise SQLite backend that runs statements on the event-loop thread.

aiosqlite hands every statement to a worker thread and back (~0.1 ms a round trip); an
order is ~20 statements, so the hand-offs, not SQLite, set the ceiling of intake. SQLite
statements on a local WAL file take microseconds, so this backend runs them inline instead.
Tortoise's per-client asyncio lock still serialises statements and whole transactions.

The price: while another *process* holds the write lock (a command-line import), a write
here blocks the loop for up to the busy timeout. One process serves one distributor on
SQLite (DESIGN.md §6); several processes belong on PostgreSQL.

Used by storage/db.py as the engine `storage.sqlite_inline`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import tortoise.backends.sqlite.executor  # noqa: F401  (registers the adapter replaced below)
from tortoise.backends.sqlite.client import SqliteClient


def _utc_text(value: datetime) -> str:
    """SQLite stores times as text and compares them as text: every aware time is written
    (and compared) in UTC, like the rows tortoise writes, so "created after 00:00 China time"
    orders correctly. Tortoise's own adapter keeps the offset (+08:00), which sorts wrongly
    against the +00:00 rows."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


sqlite3.register_adapter(datetime, _utc_text)


class _Cursor:
    """The slice of aiosqlite's Cursor that tortoise uses."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def close(self) -> None:
        self._cursor.close()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


class Checkpointer(threading.Thread):
    """Copies committed WAL pages into the database file from a thread of its own.

    A checkpoint on the event-loop thread (SQLite runs one from the commit that fills the
    WAL to `wal_autocheckpoint` pages) blocks every request while it copies pages and waits
    for two fsyncs. PASSIVE checkpoints here do that work off the loop without blocking the
    writer (the sqlite3 module releases the GIL while SQLite runs). Under sustained writes
    a passive checkpoint rarely catches up completely, so the loop connection keeps a (high)
    `wal_autocheckpoint` as the backstop that lets SQLite restart the WAL; by then nearly
    every page has been copied here, so that checkpoint is short.
    """

    def __init__(self, filename: str, every: float = 0.05) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self._filename, self._every = filename, every
        self._stopping = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self._filename, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(self._every):
                # busy or locked: the next round tries again
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)


class InlineConnection:
    """The slice of aiosqlite's Connection that tortoise uses, run synchronously."""

    def __init__(self, conn: sqlite3.Connection, checkpointer: Checkpointer | None = None
                 ) -> None:
        self._conn = conn
        self._checkpointer = checkpointer

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Cursor:
        return _Cursor(self._conn.execute(sql, list(parameters or [])))

    async def execute_insert(self, sql: str, parameters: Iterable[Any] | None = None
                             ) -> sqlite3.Row | None:
        cursor = self._conn.execute(sql, list(parameters or []))
        cursor.execute("SELECT last_insert_rowid()")
        return cursor.fetchone()

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None
                               ) -> Sequence[sqlite3.Row]:
        return self._conn.execute(sql, list(parameters or [])).fetchall()

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> _Cursor:
        return _Cursor(self._conn.executemany(sql, parameters))

    async def executescript(self, sql_script: str) -> _Cursor:
        return _Cursor(self._conn.executescript(sql_script))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._conn.close()

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes


class InlineSqliteClient(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        conn = sqlite3.connect(self.filename, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for pragma, val in self.pragmas.items():
            conn.execute(f"PRAGMA {pragma}={val}").close()
        checkpointer = None
        if _is_wal(conn) and not _in_memory(self.filename):
            checkpointer = Checkpointer(self.filename)
            checkpointer.start()
        self._connection = InlineConnection(conn, checkpointer)  # type: ignore[assignment]
        await self._post_connect()


def _is_wal(conn: sqlite3.Connection) -> bool:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"


def _in_memory(filename: str) -> bool:
    return (filename == ":memory:" or filename.startswith("file::memory:")
            or "mode=memory" in filename)


client_class = InlineSqliteClient
