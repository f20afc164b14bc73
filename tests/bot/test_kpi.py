"""Dashboard figures (bot/kpi.py, storage/kpi.py): the formulas by hand, then a seeded set of
orders, shipments and chat questions whose every figure is computed by hand, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot import kpi
from bot.domain.eta import CST
from storage.chat_models import ChatQuestion
from storage.models import Order, OrderStatus, Shipment

S = OrderStatus


def cst(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CST)


NOW = cst(3, 10, 12)


# ---- formulas ------------------------------------------------------------------------------

def test_deviation_is_the_miss_over_the_promised_lead_time():
    ordered = cst(3, 9, 10)
    # promised 24 h after ordering, delivered 1 h late: 1/24
    assert kpi.deviation_pct(ordered, cst(3, 10, 10), cst(3, 10, 11)) == pytest.approx(
        100 / 24)
    # 3 h early on a 12 h promise: 25 %, early counts like late
    assert kpi.deviation_pct(ordered, cst(3, 9, 22), cst(3, 9, 19)) == pytest.approx(25.0)
    # exactly on the promise
    assert kpi.deviation_pct(ordered, cst(3, 10, 10), cst(3, 10, 10)) == 0.0
    # two days late on a one-day promise: 200 %
    assert kpi.deviation_pct(ordered, cst(3, 10, 10), cst(3, 12, 10)) == pytest.approx(200.0)
    # a promise not after the order has no lead time to measure against
    assert kpi.deviation_pct(ordered, ordered, cst(3, 9, 11)) is None
    assert kpi.deviation_pct(ordered, cst(3, 9, 9), cst(3, 9, 11)) is None


def test_window_and_on_time_differ_for_early_deliveries():
    p = cst(3, 10, 15)
    assert kpi.within_window(p, p + timedelta(hours=2), 2)
    assert kpi.within_window(p, p - timedelta(hours=2), 2)
    assert not kpi.within_window(p, p - timedelta(hours=2, seconds=1), 2)
    assert kpi.on_time(p, p - timedelta(hours=9), 2)  # early is on time
    assert kpi.on_time(p, p + timedelta(hours=2), 2)
    assert not kpi.on_time(p, p + timedelta(hours=2, seconds=1), 2)
    assert not kpi.within_window(p, p + timedelta(hours=3), 2.5)
    assert kpi.within_window(p, p + timedelta(hours=2.5), 2.5)


def test_early_within_and_late_split_every_delivery_and_keep_their_sign():
    """Issue 9: one early delivery read as 99.1 % deviation, 0 % within ±2 h beside 100 % on
    time, with no way to see it was early. Now it is counted as early, with a signed figure."""
    ordered, promised = 0.0, 24 * 3600.0
    early = ("zto", ordered, promised, 1.0, promised - 23.8 * 3600)  # 23.8 h early: 99.2 %
    d = kpi.deliveries([early], 2.0)
    assert (d.on_time_pct, d.within_window_pct, d.early_pct, d.late_pct) == (
        100.0, 0.0, 100.0, 0.0)
    assert d.mean_deviation_pct == pytest.approx(99.17, abs=0.01)
    assert d.mean_signed_deviation_pct == pytest.approx(-99.17, abs=0.01)
    assert d.mean_early_deviation_pct == pytest.approx(99.17, abs=0.01)
    assert d.mean_late_deviation_pct is None and d.median_diff_hours == pytest.approx(-23.8)
    # the three shares add up; on time = early + within; edges belong to the window
    rows = [("sf", ordered, promised, 1.0, promised + h * 3600)
            for h in (-3, -2, -0.5, 0, 1, 2, 2.5, 30)]
    d = kpi.deliveries(rows, 2.0)
    assert (d.early_pct, d.within_window_pct, d.late_pct, d.on_time_pct) == (
        12.5, 62.5, 25.0, 75.0)
    assert d.mean_late_deviation_pct == pytest.approx((2.5 + 30) / 24 * 100 / 2)
    assert d.carriers[0].early_pct == 12.5 and d.carriers[0].late_pct == 25.0


def test_percentiles_interpolate_between_ranks():
    assert kpi.percentile([], 50) is None
    assert kpi.percentile([7.0], 90) == 7.0
    assert kpi.percentile([4.0, 6.0, 6.0, 12.0], 50) == 6.0
    assert kpi.percentile([4.0, 6.0, 6.0, 12.0], 90) == pytest.approx(10.2)
    assert kpi.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert kpi.percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0


def test_histogram_bins_hold_exactly_the_deliveries_within_the_window():
    bins = kpi.histogram([-30, -24, -2.01, -2, -0.5, 0, 2, 2.01, 6, 30], 2)
    got = {(b.lo, b.hi): b.count for b in bins}
    assert got == {(None, -24): 1, (-24, -12): 1, (-12, -6): 0, (-6, -2): 1, (-2, 0): 2,
                   (0, 2): 2, (2, 6): 2, (6, 12): 0, (12, 24): 0, (24, None): 1}
    inside = [b for b in bins if b.in_window]
    assert [(b.lo, b.hi) for b in inside] == [(-2, 0), (0, 2)]
    assert sum(b.count for b in inside) == 4  # -2, -0.5, 0, 2: what within_window counts
    # another window moves the marked bins
    assert [(b.lo, b.hi) for b in kpi.histogram([], 4) if b.in_window] == [(-4, 0), (0, 4)]


def test_repeat_purchase_and_retention_per_month():
    months = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    # (month bucket, customer): 1 = January … 3 = March, 0 = before January
    pairs = [(0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 1), (3, 3), (3, 4)]
    jan, feb, mar = kpi.repeat_months(pairs, months=months, today=date(2026, 3, 5))
    # January: 1 had bought before; 2 is new
    assert (jan.customers, jan.returning, jan.rate_pct, jan.retention_pct) == (2, 1, 50.0, None)
    # February: 2 (bought in January) returns, 3 is new; of January's 1 and 2, only 2 came back
    assert (feb.customers, feb.returning, feb.rate_pct) == (2, 1, 50.0)
    assert (feb.previous_customers, feb.retained, feb.retention_pct) == (2, 1, 50.0)
    # March: 1 and 3 had bought before, 4 is new; of February's 2 and 3, 3 came back
    assert (mar.customers, mar.returning, mar.rate_pct, mar.retention_pct) == (3, 2, 66.7, 50.0)
    assert mar.partial and not feb.partial


def test_periods_are_china_days_ending_today():
    p = kpi.Period.last(7, datetime(2026, 3, 9, 17, 30, tzinfo=UTC))  # 3/10 01:30 in China
    assert p.dates[0] == date(2026, 3, 4) and p.dates[-1] == date(2026, 3, 10)
    assert p.start == cst(3, 4, 0)
    assert kpi.months_back(date(2026, 2, 14), 3) == [date(2025, 12, 1), date(2026, 1, 1),
                                                     date(2026, 2, 1)]
    assert kpi.china_day(cst(3, 10, 0).timestamp()) == date(2026, 3, 10)
    assert kpi.china_day(cst(3, 9, 23, 59).timestamp()) == date(2026, 3, 9)


# ---- a seeded set, both engines --------------------------------------------------------------

async def order(world: Any, customer: str, created: datetime, status: OrderStatus, *,
                confirmed: bool = True, shipped: datetime | None = None,
                delivered: datetime | None = None, promised: datetime | None = None,
                carrier: str = "zto") -> Order:
    o = await Order.create(no=f"LY{created:%y%m%d%H%M}{customer[-1]}",
                           customer=world["customers"][customer], status=status,
                           promised_at=promised, shipped_at=shipped, delivered_at=delivered,
                           confirmed_at=created + timedelta(minutes=5) if confirmed else None)
    await Order.filter(id=o.id).update(created_at=created)
    await Shipment.create(order=o, seq=1, warehouse=world["warehouses"]["HZ01"], carrier=carrier,
                          status=status, promised_at=promised, shipped_at=shipped,
                          delivered_at=delivered)
    return o


async def question(kind: str, at: datetime) -> None:
    q = await ChatQuestion.create(kind=kind, user_id="zhangwei", subject="LY1")
    await ChatQuestion.filter(id=q.id).update(at=at)


@pytest.fixture
async def seeded(world: Any) -> Any:
    # O1: 24 h promise, delivered 1 h late (4.17 %, within ±2 h), shipped after 6 h
    await order(world, "C0001", cst(3, 9, 10), S.delivered, shipped=cst(3, 9, 16),
                promised=cst(3, 10, 10), delivered=cst(3, 10, 11))
    # O2: 24 h promise, 6 h late (25 %), by SF, shipped after 6 h
    await order(world, "C0001", cst(3, 8, 8), S.delivered, shipped=cst(3, 8, 14),
                promised=cst(3, 9, 8), delivered=cst(3, 9, 14), carrier="sf")
    # O3: 22 h promise, 9 h early (40.91 %; on time, not within), shipped after 12 h
    await order(world, "C0001", cst(3, 9, 20), S.delivered, shipped=cst(3, 10, 8),
                promised=cst(3, 10, 18), delivered=cst(3, 10, 9))
    # O4: confirmed, not shipped, its promise (11:00) already passed: late
    await order(world, "C0002", cst(3, 10, 9), S.allocated, promised=cst(3, 10, 11))
    # O5: held; O6: a draft whose tentative promise is past (not late: never confirmed)
    await order(world, "C0001", cst(3, 10, 10), S.on_hold, confirmed=False,
                promised=cst(3, 11, 10))
    await order(world, "C0001", cst(3, 10, 11), S.draft, confirmed=False,
                promised=cst(3, 10, 8))
    # O7: a draft that was cancelled, never submitted: not an order either
    await order(world, "C0002", cst(3, 10, 11, 30), S.cancelled, confirmed=False)
    # O8: February, shipped after 4 h, never delivered: late
    await order(world, "C0001", cst(2, 20, 9), S.shipped, shipped=cst(2, 20, 13),
                promised=cst(2, 22, 9))
    # before the period: January (C0002) and June 2025 (C0001)
    await order(world, "C0002", cst(1, 15, 9), S.delivered, shipped=cst(1, 15, 15),
                promised=cst(1, 16, 9), delivered=cst(1, 16, 9))
    await order(world, "C0001", cst(6, 1, 9, year=2025), S.delivered, shipped=cst(6, 1, 15,
                year=2025), promised=cst(6, 2, 9, year=2025), delivered=cst(6, 2, 9, year=2025))
    for kind, at in [("logistics", cst(3, 9, 10)), ("logistics", cst(3, 9, 23, 59)),
                     ("order", cst(3, 10, 0)), ("stock", cst(3, 10, 9)),
                     ("logistics", cst(2, 1, 9))]:
        await question(kind, at)
    return world


async def test_dashboard_figures_over_a_seeded_month(seeded):
    d = await kpi.load(30, NOW, 2.0)
    by_day = {x.date: x for x in d.days}
    assert len(d.days) == 30 and d.days[0].date == date(2026, 2, 9)
    assert d.total("placed") == 6  # O1–O5 and O8: the drafts O6 and O7 are not orders
    assert [by_day[date(2026, 3, x)].placed for x in (8, 9, 10)] == [1, 2, 2]
    assert by_day[date(2026, 2, 20)].placed == 1
    assert d.total("shipped") == 4 and d.total("delivered") == 3
    assert by_day[date(2026, 3, 10)].shipped == 1 and by_day[date(2026, 3, 10)].delivered == 2
    assert by_day[date(2026, 3, 9)].parcels_delivered == 1

    dl = d.deliveries
    assert (dl.delivered, dl.with_promise) == (3, 3)
    assert dl.mean_deviation_pct == pytest.approx((100 / 24 + 25 + 900 / 22) / 3, abs=1e-3)
    assert dl.median_deviation_pct == pytest.approx(25.0, abs=1e-3)
    assert dl.within_window_pct == 33.3 and dl.on_time_pct == 66.7
    # one each: O3 9 h early, O1 1 h late (inside ±2 h), O2 6 h late
    assert (dl.early_pct, dl.within_window_pct, dl.late_pct) == (33.3, 33.3, 33.3)
    assert dl.mean_signed_deviation_pct == pytest.approx((100 / 24 + 25 - 900 / 22) / 3,
                                                         abs=1e-3)
    assert dl.mean_early_deviation_pct == pytest.approx(900 / 22, abs=1e-3)
    assert dl.mean_late_deviation_pct == pytest.approx(25.0, abs=1e-3)
    assert dl.median_diff_hours == pytest.approx(1.0, abs=1e-3)
    hist = {(b.lo, b.hi): b.count for b in dl.histogram if b.count}
    assert hist == {(-12, -6): 1, (0, 2): 1, (2, 6): 1}
    carriers = {c.code: c for c in dl.carriers}
    assert (carriers["zto"].delivered, carriers["zto"].on_time_pct,
            carriers["zto"].within_window_pct) == (2, 100.0, 50.0)
    assert carriers["zto"].mean_deviation_pct == pytest.approx((100 / 24 + 900 / 22) / 2,
                                                               abs=1e-3)
    assert (carriers["sf"].delivered, carriers["sf"].on_time_pct) == (1, 0.0)

    assert d.ship_hours == pytest.approx([4, 6, 6, 12], abs=1e-3)
    assert kpi.percentile(d.ship_hours, 90) == pytest.approx(10.2, abs=1e-3)
    assert by_day[date(2026, 3, 10)].ship_hours == pytest.approx([12], abs=1e-3)

    assert d.questions == 3  # stock questions and January's are not counted
    assert by_day[date(2026, 3, 9)].questions == {"logistics": 2}
    assert by_day[date(2026, 3, 10)].questions == {"order": 1}
    assert (d.held_now, d.late_now) == (1, 2)

    months = {m.month: m for m in d.months}
    assert list(months) == ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    assert (months["2026-01"].customers, months["2026-01"].rate_pct) == (1, 0.0)
    # February: C0001 had bought in June 2025 (before the six months)
    assert (months["2026-02"].customers, months["2026-02"].rate_pct) == (1, 100.0)
    assert months["2026-02"].retention_pct == 0.0  # January's C0002 did not buy in February
    # March: C0001 and C0002 (O4; O5 and O6 were never confirmed) both bought before
    assert (months["2026-03"].customers, months["2026-03"].returning) == (2, 2)
    assert months["2026-03"].retention_pct == 100.0 and months["2026-03"].partial
    assert not d.empty


async def test_a_short_period_and_an_empty_database(seeded):
    d = await kpi.load(7, NOW, 2.0)
    assert d.days[0].date == date(2026, 3, 4)
    assert (d.total("placed"), d.total("shipped")) == (5, 3)  # without February's O8
    assert d.ship_hours == pytest.approx([6, 6, 12], abs=1e-3)
    # a wider window takes the 6 h-late delivery in; a later `now` moves the days
    assert (await kpi.load(7, NOW, 6.0)).deliveries.within_window_pct == 66.7
    later = await kpi.load(7, NOW + timedelta(days=30), 2.0)
    assert later.empty and later.deliveries.mean_deviation_pct is None


async def test_nothing_at_all(db):
    d = await kpi.load(90, NOW, 2.0)
    assert d.empty and len(d.days) == 90
    assert d.deliveries.within_window_pct is None and d.ship_hours == []
    assert (d.held_now, d.late_now) == (0, 0)
    assert all(m.customers == 0 and m.rate_pct is None for m in d.months)


async def test_the_daily_report_counts_orders_as_the_dashboard_does(seeded):
    from messages.facts import daily_figures

    d = await kpi.load(7, NOW, 2.0)
    today = {x.date: x for x in d.days}[date(2026, 3, 10)]
    # 3/10: O4 (allocated) and O5 (held) are orders; the draft O6 and the cancelled draft O7
    # are not, in the daily report as on the dashboard
    assert today.placed == 2
    assert (await daily_figures(date(2026, 3, 10)))["新增订单"] == "2"
