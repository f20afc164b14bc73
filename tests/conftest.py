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
    await storage_db.init(url, create_db=(engine == "postgres"))
    try:
        yield url
    finally:
        if engine == "postgres":
            await Tortoise._drop_databases()
        await storage_db.close()


# ---- a small, hand-made world for order tests ------------------------------------------

WAREHOUSES = [
    # code, name, kind, city, province, lat, lon, cutoff
    ("HZ01", "杭州仓", "physical", "杭州", "浙江", 30.2741, 120.1551, "16:00"),
    ("SH01", "上海仓", "physical", "上海", "上海", 31.2304, 121.4737, "17:00"),
    ("NJ01", "南京仓", "physical", "南京", "江苏", 32.0603, 118.7969, "16:30"),
    ("SK-2026", "秒杀专仓", "virtual", "杭州", "浙江", 30.2741, 120.1551, "18:00"),
]
PRODUCTS = [
    # sku, name, category, price
    ("BRK00001", "博世 前刹车片 大众朗逸 0986AB1234", "BRK", "120.00"),
    ("OIL00001", "美孚 速霸2000 全合成机油 5W-30 4L", "OIL", "268.00"),
    ("TYR00001", "米其林 浩悦4 205/55R16 91V", "TYR", "520.00"),
    ("FLT00001", "曼牌 空气滤清器 丰田卡罗拉 C2433", "FLT", "45.00"),
]
# (warehouse, sku): on_hand
STOCK = {
    ("HZ01", "BRK00001"): 40, ("SH01", "BRK00001"): 200, ("NJ01", "BRK00001"): 300,
    ("HZ01", "OIL00001"): 500, ("SH01", "OIL00001"): 100,
    ("HZ01", "TYR00001"): 8, ("SH01", "TYR00001"): 30, ("NJ01", "TYR00001"): 30,
    ("HZ01", "FLT00001"): 100, ("NJ01", "FLT00001"): 100,
    ("SK-2026", "OIL00001"): 100,
}
HANGZHOU = "浙江省杭州市西湖区文三路100号"


@pytest.fixture
async def world(db: str) -> dict[str, Any]:
    """Warehouses, products, stock, two customers and staff; returns the models by code."""
    from decimal import Decimal

    from bot.domain.invoice import uscc_with_check
    from storage.models import Customer, Product, Staff, Stock, Warehouse

    whs = {}
    for code, name, kind, city, prov, lat, lon, cutoff in WAREHOUSES:
        whs[code] = await Warehouse.create(code=code, name=name, kind=kind, city=city,
                                           province=prov, lat=lat, lon=lon, cutoff=cutoff)
    prods = {}
    for sku, name, cat, price in PRODUCTS:
        prods[sku] = await Product.create(sku=sku, name=name, category=cat, price=Decimal(price))
    for (wh, sku), qty in STOCK.items():
        await Stock.create(warehouse=whs[wh], product=prods[sku], on_hand=qty)
    shop = await Customer.create(
        code="C0001", name="杭州西湖恒通汽修厂", aliases=["恒通汽修"], credit_limit=Decimal(50000),
        contact="王师傅", phone="13800000001", address=HANGZHOU, invoice_type="专票",
        tax_id=uscc_with_check("91330106MA2B3C4D5"), bank="中国工商银行杭州西湖支行",
        account="6222021202001234567")
    small = await Customer.create(code="C0002", name="南京鼓楼快修店", credit_limit=Decimal(1000),
                                  address="江苏省南京市鼓楼区中山路5号", invoice_type="普票")
    await Staff.create(userid="lina", name="李娜", role="manager")
    await Staff.create(userid="zhangwei", name="张伟", role="sales")
    return {"warehouses": whs, "products": prods, "customers": {"C0001": shop, "C0002": small}}


@pytest.fixture
def service(world: dict[str, Any], settings: config.Settings) -> Any:
    from bot.catalog import Catalog
    from bot.ordering import OrderService

    return OrderService(settings, Catalog(settings))


# ---- API keys (handlers/auth.py): every /api call needs one --------------------------------

async def issue_key(name: str, role: str) -> str:
    """A new API key for `name` in `role` on the current database."""
    from storage import api_keys

    return (await api_keys.create(name, role))[1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
