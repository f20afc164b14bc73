"""Reservations as rows (storage/reservations.py) through the order use cases, and
`python bot.py stock reconcile`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.ordering import LineInput, PlaceOrder
from bot.reconcile import reconcile
from storage import reservations, sql
from storage.models import Order, OrderLine, Shipment, Stock
from storage.reservations import Drift, Reservation, ReservationState
from tests.ship import ship_sandbox

A = ReservationState.active
ROOT = Path(__file__).resolve().parents[2]


async def placed(service: Any, *lines: tuple[str, int], **kw: Any) -> str:
    out = await service.place(PlaceOrder("C0001", [LineInput(s, q) for s, q in lines], **kw))
    assert out.ok, out.gates
    return str(out.order.no)


async def rows_of(no: str) -> list[tuple[str, str, int, str]]:
    """(sku, warehouse, qty, state) of the order's reservations."""
    rows = await Reservation.filter(order__no=no).order_by("id").values_list(
        "product__sku", "warehouse__code", "qty", "state")
    return [(sku, wh, qty, str(state)) for sku, wh, qty, state in rows]


async def stock(sku: str, wh: str) -> tuple[int, int]:
    s = await Stock.get(product__sku=sku, warehouse__code=wh)
    return s.on_hand, s.reserved


async def test_confirm_writes_one_row_per_line_and_warehouse(service):
    no = await placed(service, ("OIL00001", 3), ("BRK00001", 5))
    assert await Reservation.all().count() == 0  # a draft holds nothing
    await service.confirm(no)
    rows = await rows_of(no)
    # OIL ships from Hangzhou; BRK from elsewhere (Hangzhou is under its safety stock)
    assert sorted((sku, qty, state) for sku, _, qty, state in rows) == [
        ("BRK00001", 5, "active"), ("OIL00001", 3, "active")]
    lines = {ln.sku: ln.id for ln in await OrderLine.filter(order__no=no)}
    for r in await Reservation.filter(order__no=no).prefetch_related("product"):
        assert r.order_line_id == lines[r.product.sku]
    for sku, wh, qty, _ in rows:
        assert (await stock(sku, wh))[1] == qty
    assert await reservations.drift() == []


async def test_cancel_releases_the_rows_and_the_counter_together(service):
    no = await placed(service, ("OIL00001", 4))
    await service.confirm(no)
    await service.cancel(no, "zhangwei", "客户改单")
    assert await rows_of(no) == [("OIL00001", "HZ01", 4, "released")]
    assert await stock("OIL00001", "HZ01") == (500, 0)
    closed = await Reservation.get(order__no=no)
    assert closed.closed_at is not None and closed.closed_at >= closed.created_at


async def test_shipping_consumes_the_rows_on_hand_and_reserved_go_down(service):
    no = await placed(service, ("OIL00001", 4))
    await service.confirm(no)
    await ship_sandbox(service, no)
    assert await rows_of(no) == [("OIL00001", "HZ01", 4, "consumed")]
    assert await stock("OIL00001", "HZ01") == (496, 0)
    assert await reservations.drift() == []


async def test_expedite_moves_the_rows_with_the_reservation(service, settings):
    no = await placed(service, ("FLT00001", 2), address="上海市浦东新区张江路1号")
    await service.confirm(no)
    before = await rows_of(no)
    service.settings = replace(settings, carriers={
        code: replace(c, lanes=(("江苏", "上海", 1.0),)) for code, c in settings.carriers.items()})
    res = await service.expedite(no, "lina", "客户车在等")
    assert res.order.priority == 1
    after = await rows_of(no)
    assert [(s, w, q) for s, w, q, state in after if state == "released"] == [
        (s, w, q) for s, w, q, _ in before]
    assert [(s, w, q) for s, w, q, state in after if state == "active"] == [
        ("FLT00001", "NJ01", 2)]
    assert await reservations.drift() == []


async def test_the_rows_and_the_counter_commit_together_or_not_at_all(service, monkeypatch):
    no = await placed(service, ("OIL00001", 4))
    real = sql.execute

    async def failing(st: Any, args: Any = ()) -> int:
        if "INSERT INTO reservations" in st.sqlite:
            raise RuntimeError("disk full")
        return await real(st, args)

    monkeypatch.setattr(sql, "execute", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        await service.confirm(no)
    monkeypatch.undo()
    assert await stock("OIL00001", "HZ01") == (500, 0)  # the counter rolled back with it
    assert (await Order.get(no=no)).status.value == "draft"


# ---- stock reconcile ---------------------------------------------------------------------

async def test_reconcile_reports_drift_and_fix_repairs_it(service):
    no = await placed(service, ("OIL00001", 4))
    await service.confirm(no)
    assert (await reconcile()).ok
    # a counter that lost track (a manual edit, a bug): 4 held by rows, 9 counted
    await Stock.filter(product__sku="OIL00001", warehouse__code="HZ01").update(reserved=9)
    await Stock.filter(product__sku="FLT00001", warehouse__code="NJ01").update(reserved=1)
    report = await reconcile()
    assert not report.ok
    assert report.drift == [Drift("HZ01", "OIL00001", 9, 4), Drift("NJ01", "FLT00001", 1, 0)]
    assert "HZ01 OIL00001：已锁定 9，预留明细合计 4，差 +5" in "\n".join(report.lines())
    assert await stock("OIL00001", "HZ01") == (500, 9)  # only reported
    fixed = await reconcile(fix=True)
    assert fixed.ok and fixed.fixed == 2 and fixed.left == []
    assert await stock("OIL00001", "HZ01") == (500, 4)
    assert await stock("FLT00001", "NJ01") == (100, 0)
    assert (await reconcile()).ok


async def test_rows_whose_stock_row_is_gone_are_drift(service):
    no = await placed(service, ("OIL00001", 4))
    await service.confirm(no)
    await Stock.filter(product__sku="OIL00001", warehouse__code="HZ01").delete()
    assert await reservations.drift() == [Drift("HZ01", "OIL00001", 0, 4)]
    report = await reconcile(fix=True)
    assert not report.ok and report.left == [Drift("HZ01", "OIL00001", 0, 4)]


async def test_orders_reserved_before_the_rows_existed_are_backfilled(service):
    no = await placed(service, ("OIL00001", 3), ("BRK00001", 5))
    await service.confirm(no)
    expected = sorted(await rows_of(no))
    await Reservation.filter(order__no=no).delete()  # as an upgraded database has it
    report = await reconcile()
    assert report.ok and report.backfilled == 2
    assert sorted(await rows_of(no)) == expected
    assert (await reconcile()).backfilled == 0  # harmless to run again
    # and an order that was never reconciled still releases what its shipments hold
    other = await placed(service, ("OIL00001", 2))
    await service.confirm(other)
    await Reservation.filter(order__no=other).delete()
    await service.cancel(other, "zhangwei")
    assert await rows_of(other) == [("OIL00001", "HZ01", 2, "released")]
    assert await stock("OIL00001", "HZ01") == (500, 3)


async def test_stock_reconcile_command_exits_1_on_drift(world, db):
    await Stock.filter(warehouse__code="HZ01", product__sku="OIL00001").update(reserved=7)
    out = await _cli("stock", "reconcile", "--db", db)
    assert out.returncode == 1, out.stderr
    assert "1 行不一致" in out.stdout
    assert "HZ01 OIL00001：已锁定 7，预留明细合计 0，差 +7" in out.stdout
    out = await _cli("stock", "reconcile", "--fix", "--db", db)
    assert out.returncode == 0 and "已按预留明细修正 1 行" in out.stdout
    assert await stock("OIL00001", "HZ01") == (500, 0)
    out = await _cli("--db", db, "stock", "reconcile")
    assert out.returncode == 0 and "0 行不一致" in out.stdout


async def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python bot.py …` as a person runs it, in a subprocess on the test's database."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, str(ROOT / "bot.py"), *args], cwd=ROOT,
        capture_output=True, text=True, timeout=120)


async def test_shipments_reserved_flag_matches_the_rows(service):
    no = await placed(service, ("OIL00001", 1))
    await service.confirm(no)
    assert await Shipment.filter(order__no=no, reserved=True).count() == 1
    assert [r[3] for r in await rows_of(no)] == [A.value]
