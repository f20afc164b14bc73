"""Transit times learnt from delivered history: stored per lane, used by the next promise."""

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot import calibration, config
from bot.calibration import recalibrate
from bot.catalog import Catalog
from bot.domain import eta
from bot.domain.allocation import Destination
from bot.domain.coverage import transit_hours
from bot.ordering import LineInput, OrderService, PlaceOrder
from storage import meta
from storage.models import Customer, Order, OrderStatus, Shipment, Warehouse
from storage.transit_models import TransitStat

_numbers = itertools.count(1)


async def history(carrier, wh, province, city, hours, *, ago=timedelta(days=5)):
    """One delivered order to (province, city) with a shipment per transit time given."""
    customer = await Customer.get(code="C0001")
    warehouse = await Warehouse.get(code=wh)
    delivered = datetime.now(UTC) - ago
    order = await Order.create(no=f"HIST{next(_numbers):06d}", customer=customer,
                               status=OrderStatus.delivered, province=province, city=city)
    await Shipment.bulk_create([
        Shipment(order=order, seq=i, warehouse=warehouse, carrier=carrier,
                 status=OrderStatus.delivered, shipped_at=delivered - timedelta(hours=h),
                 delivered_at=delivered)
        for i, h in enumerate(hours, start=1)])


def spread(low, high, n=30):
    return [low + (high - low) * i / (n - 1) for i in range(n)]


def tuned(settings, **kw):
    cal = replace(settings.promise.calibration, **kw)
    return replace(settings, promise=replace(settings.promise, calibration=cal))


def fresh_service(settings):
    """An OrderService as another process would have it: its own snapshot, checked always."""
    return OrderService(settings, Catalog(settings, check_every=0))


async def promised_hours(svc, settings):
    """Place an oil order to Hangzhou (HZ01 → 杭州 by zto, 18 h configured); return the
    shipment's promise and the promise that `hours` of transit would give."""
    out = await svc.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 1)]))
    (ship,) = await Shipment.filter(order_id=out.order.id)
    assert (await ship.warehouse).code == "HZ01" and ship.carrier == "zto"
    cutoff = svc.catalog.warehouses["HZ01"].cutoff

    def expect(hours):
        return eta.promise(out.order.created_at, cutoff, hours, settings.promise)

    return ship.promised_at, expect


async def test_a_slower_lane_gets_the_later_promise_in_every_instance(world, settings):
    one, other = fresh_service(settings), fresh_service(settings)
    before, expect = await promised_hours(one, settings)
    assert before == expect(18)
    await promised_hours(other, settings)  # its snapshot is loaded, before the recalibration
    await history("zto", "HZ01", "浙江省", "杭州市", spread(20, 26.5))

    report = await recalibrate(settings, datetime.now(UTC))

    (lane,) = [x for x in report.lanes if x.city]
    assert (lane.carrier, lane.warehouse, lane.province, lane.city) == ("zto", "HZ01", "浙江",
                                                                        "杭州")
    assert lane.samples == 30 and lane.hours == 26 and lane.configured == 18
    assert [(c.before, c.lane.hours) for c in report.changes] == [(18, 26)]
    assert report.used == 30 and report.written
    assert await meta.value(meta.TRANSIT) == 1
    for svc in (one, other):  # no restart: the counter tells each snapshot to reload
        after, expect = await promised_hours(svc, settings)
        assert after == expect(26) and after > expect(18)


async def test_the_snapshot_reloads_only_when_the_counter_moves(world, settings, monkeypatch):
    svc = fresh_service(settings)
    loads = []
    real = svc.catalog.load_transit

    async def counting():
        loads.append(1)
        return await real()

    monkeypatch.setattr(svc.catalog, "load_transit", counting)
    for _ in range(3):
        await svc.catalog.fresh()
    assert len(loads) == 1
    await history("zto", "HZ01", "浙江", "杭州", [25] * 20)
    await recalibrate(settings, datetime.now(UTC))
    await svc.catalog.fresh()
    await svc.catalog.fresh()
    assert len(loads) == 2
    assert svc.catalog.transit.hours[("zto", "HZ01", "浙江", "杭州")] == 25


async def test_a_lane_with_too_few_deliveries_keeps_the_config(world, settings):
    await history("zto", "HZ01", "浙江", "杭州", [26] * 19)
    report = await recalibrate(settings, datetime.now(UTC))
    assert report.lanes == () and report.used == 19
    promised, expect = await promised_hours(fresh_service(settings), settings)
    assert promised == expect(18)


async def test_a_learnt_value_moves_at_most_max_change_from_the_config(world, settings):
    await history("zto", "HZ01", "浙江", "杭州", [60] * 25)  # configured same_city: 18 h
    await history("zto", "HZ01", "浙江", "宁波", [2] * 25)  # configured same_province: 24 h
    report = await recalibrate(settings, datetime.now(UTC))
    hours = {x.city: x.hours for x in report.lanes}
    assert hours == {"杭州": 27, "宁波": 12, "": 12}  # 18 × 1.5; 24 × 0.5
    promised, expect = await promised_hours(fresh_service(settings), settings)
    assert promised == expect(27)
    tight = tuned(settings, max_change=0.1)
    report = await recalibrate(tight, datetime.now(UTC))
    assert {x.city: x.hours for x in report.lanes}["杭州"] == 20  # 19.8, rounded up
    # The lookup clamps too: a table learnt under a looser setting cannot escape a tighter one.
    svc = fresh_service(tight)
    await recalibrate(settings, datetime.now(UTC))
    await svc.catalog.fresh()
    wh = svc.catalog.warehouses["HZ01"]
    assert transit_hours(tight.carriers["zto"], wh, Destination("浙江", "杭州"), tight.regions,
                         svc.catalog.transit) == pytest.approx(19.8)


async def test_outliers_and_old_deliveries_are_ignored(world, settings):
    await history("zto", "HZ01", "浙江", "杭州", [20] * 15 + [-3, 0, 24 * 31, 5000])
    await history("zto", "HZ01", "浙江", "杭州", [40] * 30, ago=timedelta(days=61))
    report = await recalibrate(settings, datetime.now(UTC))
    assert report.ignored == 4 and report.used == 15 and report.read == 19
    assert report.lanes == ()  # 15 plausible deliveries are fewer than 20
    await history("zto", "HZ01", "浙江", "杭州", [21] * 10)
    report = await recalibrate(settings, datetime.now(UTC))
    (lane,) = [x for x in report.lanes if x.city]
    assert lane.samples == 25 and lane.hours == 21 and lane.p50 == 20


async def test_a_city_lane_wins_over_its_province_lane(world, settings):
    await history("zto", "HZ01", "浙江", "宁波", [30] * 25)
    await history("zto", "HZ01", "浙江", "温州", [34] * 25)
    await history("zto", "HZ01", "浙江", "杭州", [17] * 5)  # own city: not in the province lane
    report = await recalibrate(settings, datetime.now(UTC))
    rows = {x.city: (x.hours, x.samples) for x in report.lanes}
    assert rows == {"宁波": (30, 25), "温州": (34, 25), "": (34, 50)}
    svc = fresh_service(settings)
    await svc.catalog.fresh()
    wh, zto = svc.catalog.warehouses["HZ01"], settings.carriers["zto"]

    def hours(city):
        return transit_hours(zto, wh, Destination("浙江", city), settings.regions,
                             svc.catalog.transit)

    assert hours("宁波") == 30  # its own lane
    assert hours("绍兴") == 34  # no lane of its own: the province's
    assert hours("杭州") == 18  # the warehouse's own city keeps same_city
    sh = svc.catalog.warehouses["SH01"]  # another warehouse: nothing learnt
    assert transit_hours(zto, sh, Destination("浙江", "宁波"), settings.regions,
                         svc.catalog.transit) == 36


async def test_dry_run_writes_nothing_and_disabled_promises_ignore_the_table(world, settings):
    await history("zto", "HZ01", "浙江", "杭州", [26] * 25)
    report = await recalibrate(settings, datetime.now(UTC), dry_run=True)
    assert len(report.lanes) == 1 and not report.written and "试算，未写入" in report.lines()
    assert await TransitStat.all().count() == 0 and await meta.value(meta.TRANSIT) == 0
    await recalibrate(settings, datetime.now(UTC))
    off = tuned(settings, enabled=False)
    promised, expect = await promised_hours(fresh_service(off), off)
    assert promised == expect(18)


async def test_recalibrating_replaces_the_rows_and_reports_lanes_dropped(world, settings):
    await history("zto", "HZ01", "浙江", "杭州", [26] * 25, ago=timedelta(days=50))
    await recalibrate(settings, datetime.now(UTC))
    later = datetime.now(UTC) + timedelta(days=20)  # the deliveries left the window
    report = await recalibrate(settings, later)
    assert report.lanes == () and report.dropped == 1
    assert await TransitStat.all().count() == 0 and await meta.value(meta.TRANSIT) == 2


async def test_the_job_runs_when_due(world, settings):
    await history("zto", "HZ01", "浙江", "杭州", [26] * 25)
    job = calibration.calibration_job(settings)
    await job()
    assert await meta.value(meta.TRANSIT) == 1
    await job()  # computed moments ago: not due
    assert await meta.value(meta.TRANSIT) == 1
    await TransitStat.all().update(computed_at=datetime.now(UTC) - timedelta(hours=25))
    await job()
    assert await meta.value(meta.TRANSIT) == 2
    await calibration.calibration_job(tuned(settings, enabled=False))()
    assert await meta.value(meta.TRANSIT) == 2


def test_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(1, 11)]
    assert calibration.percentile(values, 80) == 8
    assert calibration.percentile(values, 50) == 5
    assert calibration.percentile(values, 100) == 10
    assert calibration.percentile([3.0], 80) == 3


@pytest.mark.parametrize(("text", "key"), [
    ("[promise.calibration]\npercentile = 120\n", "promise.calibration.percentile"),
    ("[promise.calibration]\nmax_change = 1.5\n", "promise.calibration.max_change"),
    ("[promise.calibration]\nmin_samples = 0\n", "promise.calibration.min_samples"),
    ("[promise.calibration]\nenabled = 1\n", "promise.calibration.enabled"),
    ("[promise.calibration]\nevery_hours = 0\n", "promise.calibration.every_hours"),
    ("[promise.calibration]\nwindow = 30\n", "promise.calibration.window"),
])
def test_calibration_config_errors_name_the_key(tmp_path, text, key):
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(config.ConfigError) as e:
        config.load(p, {})
    assert str(e.value).startswith(key)


def test_calibration_config_defaults(settings):
    assert settings.promise.calibration == config.CalibrationConfig(
        enabled=True, min_samples=20, percentile=80, window_days=60, every_hours=24,
        max_change=0.5)
