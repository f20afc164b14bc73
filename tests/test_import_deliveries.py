"""Delivery-history import: headers, carriers by name, times, row errors, re-import in place,
and that history never becomes orders, stock movements or notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.imports import import_file
from storage.models import Order, Stock
from storage.outbox_models import OutboxNotification
from storage.transit_models import DeliveryRecord
from tests.test_imports import DATA, errors_by_row, write_csv, write_xlsx

CST = ZoneInfo("Asia/Shanghai")
ZH = ["运单号", "承运商", "发货仓", "收货地址", "下单时间", "发货时间", "签收时间"]
EN = ["waybill_no", "carrier", "warehouse", "address", "confirmed_at", "shipped_at",
      "delivered_at"]


def row(no: str, carrier: str = "顺丰速运", wh: str = "HZ01",
        address: str = "江苏省南京市玄武区中山路1号", confirmed: str = "2026-11-02 10:00",
        shipped: str = "2026-11-02 17:30", delivered: str = "2026-11-03 10:15") -> list[str]:
    return [no, carrier, wh, address, confirmed, shipped, delivered]


async def test_chinese_headers_gbk_carrier_names_and_times(db, tmp_path):
    await import_file("warehouses", DATA / "warehouses.csv")
    jd = row("JD1", carrier="jd", delivered="2026-11-03T02:15:00Z")
    path = write_csv(tmp_path / "d.csv", [ZH, row("SF1"), row("ZT1", carrier="中通"), jd],
                     encoding="gbk")
    report = await import_file("deliveries", path)
    assert (report.created, report.rejected, report.written) == (3, [], True)
    sf = await DeliveryRecord.get(waybill_no="SF1")
    assert (sf.carrier, sf.warehouse, sf.province, sf.city) == ("sf", "HZ01", "江苏", "南京")
    assert sf.confirmed_at == datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 China time
    assert sf.delivered_at == datetime(2026, 11, 3, 2, 15, tzinfo=UTC)
    assert (await DeliveryRecord.get(waybill_no="ZT1")).carrier == "zto"
    assert (await DeliveryRecord.get(waybill_no="JD1")).delivered_at == sf.delivered_at


async def test_bad_rows_are_numbered_and_nothing_is_written(db, tmp_path):
    await import_file("warehouses", DATA / "warehouses.csv")
    path = write_xlsx(tmp_path / "d.xlsx", [
        EN, row("OK1"),
        row("BAD1", carrier="马上到快递"),
        row("BAD2", wh="XX99"),
        row("BAD3", address="火星基地"),
        row("BAD4", delivered="2026-11-02 12:00"),  # before shipping
        row("BAD5", shipped="yesterday"),
        row("BAD6", delivered="2099-01-01 10:00"),
        row("OK1")])  # the same waybill again
    report = await import_file("deliveries", path)
    errors = errors_by_row(report)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9]
    assert "承运商" in errors[3][0] and "XX99" in errors[4][0] and "定位" in errors[5][0]
    assert "签收时间不晚于发货时间" in errors[6][0] and "发货时间" in errors[7][0]
    assert "将来" in errors[8][0] and "与第2行重复" in errors[9][0]
    assert not report.written
    assert await DeliveryRecord.all().count() == 0
    partial = await import_file("deliveries", path, partial=True)
    assert partial.written and partial.created == 1
    assert await DeliveryRecord.all().count() == 1


async def test_reimport_updates_in_place_and_touches_nothing_else(db, tmp_path):
    await import_file("warehouses", DATA / "warehouses.csv")
    first = write_csv(tmp_path / "a.csv", [EN, row("SF1"), row("SF2")])
    await import_file("deliveries", first)
    again = write_csv(tmp_path / "b.csv", [EN, row("SF1", delivered="2026-11-03 15:00"),
                                           row("SF2")])
    report = await import_file("deliveries", again)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert await DeliveryRecord.all().count() == 2
    assert (await DeliveryRecord.get(waybill_no="SF1")).delivered_at == datetime(
        2026, 11, 3, 7, 0, tzinfo=UTC)
    assert await Order.all().count() == 0
    assert await Stock.all().count() == 0
    assert await OutboxNotification.all().count() == 0


async def test_imported_history_counts_in_the_dashboard_without_a_promise(db, tmp_path):
    from bot import kpi

    await import_file("warehouses", DATA / "warehouses.csv")
    day = (datetime.now(UTC) - timedelta(days=3)).astimezone(CST).date()
    path = write_csv(tmp_path / "d.csv", [EN] + [
        row(f"SF{i}", confirmed=f"{day} 09:00", shipped=f"{day} 17:00",
            delivered=f"{day + timedelta(days=1)} 10:{i:02d}") for i in range(5)])
    assert (await import_file("deliveries", path)).created == 5
    board = await kpi.load(30, datetime.now(UTC), 2.0)
    assert board.deliveries.delivered == 5 and board.deliveries.with_promise == 0
    assert board.total("parcels_delivered") == 5 and board.total("placed") == 0


async def test_imported_history_teaches_the_lane_transit_hours_too(db, tmp_path, settings):
    """A lane known only from imported history gets learnt transit hours (the fallback
    where its waves are not sure), not only arrival waves."""
    from bot.calibration import recalibrate
    from storage.transit_models import lanes

    await import_file("warehouses", DATA / "warehouses.csv")
    day = (datetime.now(UTC) - timedelta(days=10)).astimezone(CST).date()
    n = settings.promise.calibration.min_samples
    path = write_csv(tmp_path / "d.csv", [EN] + [
        row(f"SF{i}", confirmed=f"{day} 09:00", shipped=f"{day} 17:00",
            delivered=f"{day + timedelta(days=1)} 17:{i:02d}") for i in range(n)])
    assert (await import_file("deliveries", path)).created == n
    report = await recalibrate(settings, datetime.now(UTC))
    assert report.used == n
    learnt = {(x.carrier, x.warehouse, x.province, x.city): x for x in await lanes()}
    lane = learnt[("sf", "HZ01", "江苏", "南京")]
    assert lane.samples == n and lane.p50 >= 24.0
