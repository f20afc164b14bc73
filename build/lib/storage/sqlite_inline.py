"""A tortoise SQLite backend that runs statements on the event-loop thread.

aiosqlite hands every statement to a worker thread and back (~0.1 ms a round trip); an
order is ~20 statements, so the hand-offs, not SQLite, set the ceiling of intake. SQLite
statements on a local WAL file take microseconds, so this backend runs them inline instead.
Tortoise's per-client asyncio lock still serialises statements and whole transactions.

Another *process* holding the write lock (a command-line import, a script) must not stall
the loop: the connection's own busy timeout is 0, every transaction begins with
``BEGIN IMMEDIATE`` (so a transaction never meets the lock half-way, where only a restart
would help), and a statement that finds the database locked is retried after an *async*
sleep, for at most the URL's busy_timeout (5 s). Meanwhile other requests run; those that
need the database wait on tortoise's lock, without blocking the loop, and `waiting_since()`
tells /healthz how long the oldest wait has lasted.

Used by storage/db.py as the engine `storage.sqlite_inline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
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


_BUSY = 5  # SQLITE_BUSY; its extended code SQLITE_BUSY_SNAPSHOT (517) cannot be waited out
_BUSY_SNAPSHOT = 517
_waits: dict[int, float] = {}  # id of a waiting call → when it started waiting (monotonic)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(exc) or "busy" in str(exc)
    return (code & 0xFF) == _BUSY and code != _BUSY_SNAPSHOT


def waiting_since() -> float | None:
    """time.monotonic() at which the oldest statement still waiting for the write lock of
    another process began waiting, or None."""
    return min(_waits.values(), default=None)


class InlineConnection:
    """The slice of aiosqlite's Connection that tortoise uses, run synchronously."""

    def __init__(self, conn: sqlite3.Connection, checkpointer: Checkpointer | None = None,
                 busy_seconds: float = 5.0) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        self.busy_seconds = busy_seconds

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)`, retried while another process holds the lock (async sleeps of 1 ms
        growing to 10 ms, for at most `busy_seconds`); then the last OperationalError."""
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        started = time.monotonic()
        token = id(object())
        _waits[token] = started
        delay = 0.001
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    return fn(*args)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() - started > self.busy_seconds:
                        raise
                delay = min(0.01, delay * 2)
        finally:
            _waits.pop(token, None)

    def _run(self, sql: str, parameters: Iterable[Any] | None) -> sqlite3.Cursor:
        if sql == "BEGIN":  # tortoise's transactions: take the write lock at once
            sql = "BEGIN IMMEDIATE"
        return self._conn.execute(sql, list(parameters or []))

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Cursor:
        return _Cursor(await self.call(self._run, sql, parameters))

    async def execute_insert(self, sql: str, parameters: Iterable[Any] | None = None
                             ) -> sqlite3.Row | None:
        cursor = await self.call(self._run, sql, parameters)
        cursor.execute("SELECT last_insert_rowid()")
        return cursor.fetchone()

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None
                               ) -> Sequence[sqlite3.Row]:
        return await self.call(lambda: self._run(sql, parameters).fetchall())  # type: ignore[no-any-return]

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> _Cursor:
        rows = list(parameters)
        return _Cursor(await self.call(self._conn.executemany, sql, rows))

    async def executescript(self, sql_script: str) -> _Cursor:
        return _Cursor(await self.call(self._conn.executescript, sql_script))

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
        # Waiting for another process's lock happens in InlineConnection.call, off the loop.
        busy_seconds = int(self.pragmas.get("busy_timeout", 5000)) / 1000
        conn.execute("PRAGMA busy_timeout=0").close()
        checkpointer = None
        if _is_wal(conn) and not _in_memory(self.filename):
            checkpointer = Checkpointer(self.filename)
            checkpointer.start()
        self._connection = InlineConnection(conn, checkpointer,  # type: ignore[assignment]
                                            busy_seconds)
        await self._post_connect()


def _is_wal(conn: sqlite3.Connection) -> bool:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"


def _in_memory(filename: str) -> bool:
    return (filename == ":memory:" or filename.startswith("file::memory:")
            or "mode=memory" in filename)


client_class = InlineSqliteClient
