"""Shared fixtures: a network guard, settings, and a fresh database per test on each engine.

PostgreSQL tests use the throw-away cluster that scripts/test starts (LVYUE_TEST_PG).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from bot import config
from storage import db as storage_db

ENGINES = ["sqlite", "postgres"]


def _is_local(address: Any) -> bool:
    if isinstance(address, str):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection that leaves this machine fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            pytest.fail(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            pytest.fail(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)


@pytest.fixture
def settings() -> config.Settings:
    return config.defaults()


def pg_base_url() -> str:
    url = os.environ.get("LVYUE_TEST_PG")
    if not url:
        pytest.fail("PostgreSQL tests need LVYUE_TEST_PG (run ./scripts/test, which starts a "
                    "throw-away cluster)")
    return url.rstrip("/")


def db_url_for(engine: str, tmp_path: Path) -> str:
    if engine == "sqlite":
        return f"sqlite://{tmp_path / 'lvyue.db'}"
    base = pg_base_url().rsplit("/", 1)[0]
    return f"{base}/t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(engine: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database on the engine under test; yields its URL."""
    url = db_url_for(engine, tmp_path)
    await Tortoise.init(db_url=storage_db.normalise_url(url),
                        modules={"models": storage_db.MODELS}, use_tz=True, timezone="UTC",
                        _create_db=(engine == "postgres"), _enable_global_fallback=True)
    await Tortoise.generate_schemas(safe=True)
    try:
        yield url
    finally:
        if engine == "postgres":
            await Tortoise._drop_databases()
        await storage_db.close()
