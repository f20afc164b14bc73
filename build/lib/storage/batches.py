"""Long writes in short transactions, so a command-line job never keeps the server waiting.

SQLite has one writer at a time: a command that writes for seconds in one transaction (an
import of 18,000 products) makes every write of the running server wait as long. `Batched`
gives such a job a transaction that it asks to cut (`await batch.step()`) between pieces
of work: on SQLite, once the open transaction is `slice_seconds` old, it commits, pauses
for `pause` seconds (the server's waiting writers get the lock; they retry every few ms)
and opens the next. On PostgreSQL, where writers do not queue behind each other like that,
the whole job stays one transaction.

    async with Batched() as batch:
        for chunk in chunks:
            await Model.bulk_create(chunk, using_db=batch.conn)
            await batch.step()

What a SQLite job committed before an error or a crash stays; jobs written for it are
idempotent (an import run again updates rows in place), so running it again completes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

SLICE_SECONDS = 0.2
PAUSE_SECONDS = 0.05


class Batched:
    """See the module docstring."""

    def __init__(self, slice_seconds: float = SLICE_SECONDS, pause: float = PAUSE_SECONDS,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.slice_seconds, self.pause = slice_seconds, pause
        self.commits = 0
        self._clock = clock
        self._ctx: Any = None
        self._conn: BaseDBAsyncClient | None = None
        self._opened = 0.0
        self._dialect = ""

    @property
    def conn(self) -> BaseDBAsyncClient:
        """The open transaction's client (changes at every cut)."""
        if self._conn is None:
            raise RuntimeError("Batched is not open")
        return self._conn

    @property
    def cuts(self) -> bool:
        """Whether this engine gets short transactions (SQLite) or one (PostgreSQL)."""
        return self._dialect == "sqlite"

    async def __aenter__(self) -> Batched:
        await self._open()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        ctx, self._ctx, self._conn = self._ctx, None, None
        await ctx.__aexit__(kind, exc, tb)
        if kind is None:
            self.commits += 1

    async def step(self) -> None:
        """Between two pieces of work: commit and reopen if this slice is long enough."""
        if not self.cuts or self._clock() - self._opened < self.slice_seconds:
            return
        await self.__aexit__(None, None, None)
        await asyncio.sleep(self.pause)
        await self._open()

    async def _open(self) -> None:
        self._ctx = in_transaction()
        self._conn = await self._ctx.__aenter__()
        self._dialect = self._conn.capabilities.dialect
        self._opened = self._clock()
