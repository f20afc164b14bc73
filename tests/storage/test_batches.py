"""storage.batches.Batched: a long job's writes reach the database in short transactions on
SQLite (what another connection sees while the job runs), one transaction on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from storage.batches import Batched
from storage.models import Counter


def outside_count(url: str) -> int:
    """Rows another connection (another process, say the server) sees now."""
    conn = sqlite3.connect(url.split("://", 1)[1].split("?", 1)[0])
    try:
        return int(conn.execute("SELECT COUNT(*) FROM counters").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("engine", ["sqlite"])
async def test_sqlite_commits_what_each_slice_wrote(db, engine):
    seen = []
    async with Batched(slice_seconds=0, pause=0) as batch:
        for i in range(4):
            await Counter.create(name=f"c{i}", using_db=batch.conn)
            await batch.step()
            seen.append(outside_count(db))
    assert seen == [1, 2, 3, 4] and batch.commits == 5  # four cuts, then the end


@pytest.mark.parametrize("engine", ["sqlite"])
async def test_another_process_writes_while_a_long_sqlite_job_runs(db, engine):
    """The other writer polls the lock like the server does (every few ms): it gets in
    during one of the job's pauses, long before the job ends."""
    got_in = threading.Event()

    def other_writer() -> None:
        conn = sqlite3.connect(db.split("://", 1)[1].split("?", 1)[0], timeout=0,
                               isolation_level=None)
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError:
                    time.sleep(0.002)
            conn.execute("INSERT INTO counters (name, value) VALUES ('outside', 1)")
            conn.execute("COMMIT")
            got_in.set()
        finally:
            conn.close()

    thread = threading.Thread(target=other_writer)
    first_seen = None
    async with Batched(slice_seconds=0, pause=0.05) as batch:
        thread.start()
        for i in range(40):
            await Counter.create(name=f"j{i}", using_db=batch.conn)
            await batch.step()
            if first_seen is None and got_in.is_set():
                first_seen = i
    thread.join(timeout=10)
    assert first_seen is not None and first_seen < 39
    assert await Counter.filter(name="outside").exists()


async def test_a_slice_holds_several_steps_until_it_is_old_enough(db):
    ticks = iter(range(100))
    async with Batched(slice_seconds=3, pause=0, clock=lambda: float(next(ticks))) as batch:
        for i in range(6):
            await Counter.create(name=f"s{i}", using_db=batch.conn)
            await batch.step()
    expected = 2 if batch.cuts else 0  # (SQLite) a cut every third step; PostgreSQL never
    assert batch.commits == expected + 1
    assert await Counter.all().count() == 6


async def test_an_error_rolls_back_only_the_open_slice(db, engine):
    async def job() -> None:
        async with Batched(slice_seconds=0, pause=0) as batch:
            await Counter.create(name="kept", using_db=batch.conn)
            await batch.step()
            await Counter.create(name="lost", using_db=batch.conn)
            raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError, match="the job failed"):
        await job()
    names = set(await Counter.all().values_list("name", flat=True))
    assert names == ({"kept"} if engine == "sqlite" else set())
