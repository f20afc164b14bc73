"""Promise waves: arrivals learnt as day offset + clock time after the planned departure,
per weekday where it differs; the order's promise follows them; lanes without history keep
the transit-hour promise."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot import waves
from bot.calibration import recalibrate
from bot.catalog import Catalog
from bot.domain import eta
from bot.domain.allocation import Destination, WarehouseInfo
from bot.domain.coverage import TransitTable, transit_hours
from bot.ordering import LineInput, OrderService, PlaceOrder
from storage.models import Shipment
from storage.transit_models import DeliveryRecord

CST = eta.CST
HZ = WarehouseInfo("HZ01", "杭州仓", "physical", "浙江", "杭州", None, None, time(16))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh), CST) + timedelta(minutes=mm)


def sundayless_history(weeks: int = 8) -> list[tuple[str, str, str, str, float, float]]:
    """zto HZ01 → 南京: confirmed 10:xx on shipping days, delivered the next day at about
    10:00; no Sunday round, so Saturday's departures arrive on Monday."""
    rows = []
    start = date(2026, 9, 7)  # a Monday
    for k in range(weeks * 7):
        day = start + timedelta(days=k)
        if day.isoweekday() == 7:
            continue
        for j in range(5):
            arrive = day + timedelta(days=2 if day.isoweekday() == 6 else 1)
            rows.append(("zto", "HZ01", "江苏省", "南京市", at(day, 10, j).timestamp(),
                         at(arrive, 9, 40 + 10 * j).timestamp()))
    return rows


def test_a_sundayless_carrier_promises_monday_for_saturday_departures(settings):
    learnt = waves.learn_waves(sundayless_history(), {"HZ01": time(16)}, {"HZ01": "杭州"},
                               ["zto"], settings.promise, min_samples=20)
    by_day = {w.weekday: w for w in learnt.waves if w.city == "南京"}
    assert by_day[6].minute // 1440 == 2 and by_day[3].minute // 1440 == 1
    assert abs(by_day[6].minute % 1440 - 600) <= 20 and by_day[6].within == 1.0
    table = TransitTable(waves={(w.carrier, w.warehouse, w.province, w.city, w.weekday):
                                (w.minute, w.within) for w in learnt.waves})
    saturday = date(2026, 12, 5)
    confirmed = at(saturday, 9)
    wave = table.wave("zto", HZ, Destination("江苏", "南京"),
                      eta.departure_day(confirmed, HZ.cutoff, settings.promise).isoweekday())
    assert wave is not None
    promised = eta.promise_on_wave(confirmed, HZ.cutoff, settings.promise, wave[0])
    assert promised is not None
    assert promised.astimezone(CST).date() == date(2026, 12, 7)  # Monday, not Sunday
    assert abs((promised - at(date(2026, 12, 7), 10)).total_seconds()) <= 20 * 60
    # Confirmed after Friday's cut-off: leaves Saturday, arrives Monday too.
    friday_late = at(date(2026, 12, 4), 17)
    assert eta.departure_day(friday_late, HZ.cutoff, settings.promise) == saturday


def test_departure_days_match_eta_departure(settings):
    moments = [at(date(2026, 12, 1) + timedelta(days=d), h) for d in range(9)
               for h in (0, 9, 15, 16, 17, 23)]
    got = waves.departure_days(
        waves.np.array([m.timestamp() for m in moments]),
        waves.np.full(len(moments), 16 * 3600.0), settings.promise)
    want = [(eta.departure_day(m, time(16), settings.promise) - waves.EPOCH).days
            for m in moments]
    assert got.tolist() == want


async def test_imported_history_moves_the_promise_and_other_lanes_keep_config(world, settings):
    """zto HZ01 → 杭州 learnt from imported history (delivered the next day ~15:00); an order
    to 南京 (no history) keeps departure + configured transit hours."""
    today = datetime.now(CST).date()
    rows = []
    for d in range(1, 40):
        day = today - timedelta(days=d)
        if not eta.is_shipping_day(day, settings.promise) or not eta.is_shipping_day(
                day + timedelta(days=1), settings.promise):
            continue
        for j in range(3):
            rows.append(DeliveryRecord(
                waybill_no=f"ZT{d:03d}{j}", carrier="zto", warehouse="HZ01",
                address="浙江省杭州市西湖区文三路1号", province="浙江", city="杭州",
                confirmed_at=at(day, 10), shipped_at=at(day, 17),
                delivered_at=at(day + timedelta(days=1), 14, 50 + 10 * j)))
    await DeliveryRecord.bulk_create(rows)
    report = await recalibrate(settings, datetime.now(UTC))
    (wave,) = [w for w in report.waves if w.weekday == 0 and w.city == "杭州"]
    assert wave.minute == 1440 + 15 * 60 and wave.within == 1.0
    assert any("杭州" in line and "发车后第1天15:00" in line for line in report.lines())

    svc = OrderService(settings, Catalog(settings, check_every=0))
    out = await svc.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 1)]))
    (ship,) = await Shipment.filter(order_id=out.order.id)
    hz = svc.catalog.warehouses["HZ01"]
    assert ship.promised_at == eta.promise_on_wave(out.order.created_at, hz.cutoff,
                                                   settings.promise, wave.minute)
    assert ship.promised_at.astimezone(CST).time() == time(15, 0)

    out2 = await svc.place(PlaceOrder(customer="C0002", lines=[LineInput("OIL00001", 1)]))
    ships = await Shipment.filter(order_id=out2.order.id).prefetch_related("warehouse")
    for s in ships:
        wh = svc.catalog.warehouses[s.warehouse.code]
        hours = transit_hours(settings.carriers[s.carrier], wh, Destination("江苏", "南京"),
                              settings.regions)
        assert s.promised_at == eta.promise(out2.order.created_at, wh.cutoff, hours,
                                            settings.promise)


async def history_to_hangzhou(settings, minutes_after_15):
    """Imported deliveries zto HZ01 → 杭州, delivered the next day at 15:00 + each offset."""
    today = datetime.now(CST).date()
    rows = []
    for d in range(1, 50):
        day = today - timedelta(days=d)
        if not eta.is_shipping_day(day, settings.promise):
            continue
        for j, extra in enumerate(minutes_after_15):
            rows.append(DeliveryRecord(
                waybill_no=f"ZT{d:03d}{j:02d}", carrier="zto", warehouse="HZ01",
                address="浙江省杭州市西湖区文三路1号", province="浙江", city="杭州",
                confirmed_at=at(day, 10), shipped_at=at(day, 17),
                delivered_at=at(day + timedelta(days=1), 15) + timedelta(minutes=extra)))
    await DeliveryRecord.bulk_create(rows)


async def card_promise(settings):
    from handlers.chat.views import order_view

    svc = OrderService(settings, Catalog(settings, check_every=0))
    out = await svc.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 1)]))
    return (await order_view(out.order, await svc.catalog.fresh(), "t1")).promise


async def test_the_card_says_how_sure_only_where_the_lane_is_unsure(world, settings):
    # Half the parcels come in the afternoon round, half the next morning: ~5 in 10 within.
    await history_to_hangzhou(settings, [0, 10, -10, 20, 1080, 1090, 1100, 1070])
    report = await recalibrate(settings, datetime.now(UTC))
    (wave,) = [w for w in report.waves if w.weekday == 0 and w.city == "杭州"]
    assert 0.4 <= wave.within <= 0.6
    text = await card_promise(settings)
    assert "成把握" in text and text.startswith("预计")


async def test_a_sure_lane_card_has_no_confidence_note(world, settings):
    await history_to_hangzhou(settings, [0, 10, -10, 20])
    await recalibrate(settings, datetime.now(UTC))
    text = await card_promise(settings)
    assert "15:05" in text and "把握" not in text  # the centre of 14:50–15:20
