"""The dashboard's figures (DESIGN.md §3 "Promise and measure"), computed from narrow rows.

Definitions, each used everywhere the figure appears (the dashboard, its JSON, the daily
report's 准时率):

- **promise deviation** of a delivered shipment = |delivered − promised| ÷ (promised −
  ordered) × 100 %, where *ordered* is the order's creation time (the seed's 承诺交付时间偏差率).
  Undefined (left out of the mean) when the shipment has no promise or the promise is not
  after the order. The **signed** deviation is the same with the sign of delivered − promised:
  negative is early, positive late. Means are also given for the early and late sides alone.
- **within the window**: |delivered − promised| ≤ window (`promise.delivery_window_hours`,
  2 h by default): the seed's "预计明天15:00前送达 … 在14:00-16:00之间被签收".
- **early** / **late**: delivered more than the window before / after the promise. Every
  delivered shipment with a promise is exactly one of early, within the window, late.
- **on time** (准时, the daily report): delivered no later than promised + window (the
  customer was told "…前送达": early keeps the promise), i.e. early + within the window.
- **placed** (订单, as 看板 and the daily report count them): an order that was submitted.
  Drafts (a parsed message nobody confirmed) are never orders; a cancelled draft neither.
- **order-to-ship hours**: order shipped − order created, for orders shipped in the period,
  bucketed by the China-time day they shipped.
- **repeat-purchase rate** of a month: customers who ordered in that month and had also
  ordered in an earlier month ÷ customers who ordered in that month. Also given: the
  **retention** of a month: customers of the previous month who ordered again this month ÷
  customers of the previous month.

Days and months are China time (Asia/Shanghai, UTC+8, no daylight saving). `load` reads
through storage/kpi.py; everything else here is pure.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from bot.domain.vocab import CST
from storage import kpi as store

DAY_S = 86_400.0
CST_OFFSET_S = 8 * 3600.0  # Asia/Shanghai has had no daylight saving since 1991
PERIODS = (7, 30, 90)
REPEAT_MONTHS = 6
# Histogram edges of (delivered − promised) in hours; ± the window is added to them.
HISTOGRAM_EDGES = (-24.0, -12.0, -6.0, 0.0, 6.0, 12.0, 24.0)


# ---- the formulas ------------------------------------------------------------------------

def deviation_pct(ordered: datetime, promised: datetime, delivered: datetime) -> float | None:
    """|delivered − promised| ÷ (promised − ordered) × 100; None when promised ≤ ordered."""
    return deviation_pct_s(ordered.timestamp(), promised.timestamp(), delivered.timestamp())


def deviation_pct_s(ordered: float, promised: float, delivered: float) -> float | None:
    """`deviation_pct` on epoch seconds (the form the queries return)."""
    lead = promised - ordered
    if lead <= 0:
        return None
    return abs(delivered - promised) / lead * 100.0


def within_window(promised: datetime, delivered: datetime, window_hours: float) -> bool:
    return abs((delivered - promised).total_seconds()) <= window_hours * 3600


def on_time(promised: datetime, delivered: datetime, window_hours: float) -> bool:
    """The daily report's 准时: not later than the promise plus the window (early is fine)."""
    return delivered <= promised + timedelta(hours=window_hours)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) of *sorted* values, linear between ranks; None if empty."""
    if not values:
        return None
    rank = (len(values) - 1) * q / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (rank - lo)


def share(part: int, whole: int) -> float | None:
    """part ÷ whole in percent, one decimal; None when there is nothing to divide."""
    return round(part * 100.0 / whole, 1) if whole else None


@dataclass(frozen=True)
class Bin:
    lo: float | None  # None: open to the left
    hi: float | None  # None: open to the right
    count: int
    in_window: bool


def histogram(diffs_h: Iterable[float], window_hours: float) -> list[Bin]:
    """Counts of (delivered − promised) hours in bins; the bins inside ±window are marked.

    Bins close towards zero ([-6, -2), [-2, 0), [0, 2], (2, 6] …), so the marked bins hold
    exactly the deliveries `within_window` counts.
    """
    w = window_hours
    edges = sorted({*HISTOGRAM_EDGES, -w, w})
    counts = [0] * (len(edges) + 1)
    for d in diffs_h:
        counts[bisect_right(edges, d) if d <= 0 else bisect_left(edges, d)] += 1
    bounds = [None, *edges, None]
    return [Bin(lo, hi, n, lo is not None and hi is not None and -w <= lo and hi <= w)
            for lo, hi, n in zip(bounds, bounds[1:], counts, strict=False)]


# ---- days and months ---------------------------------------------------------------------

def china_day(epoch_s: float) -> date:
    return date(1970, 1, 1) + timedelta(days=math.floor((epoch_s + CST_OFFSET_S) / DAY_S))


def day_start(day: date) -> datetime:
    """00:00 China time of `day`, as an aware datetime."""
    return datetime.combine(day, time(0), CST)


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_back(today: date, n: int) -> list[date]:
    """First days of the last `n` months, oldest first, this month last."""
    out, y, m = [], today.year, today.month
    for _ in range(n):
        out.append(date(y, m, 1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


@dataclass(frozen=True)
class Period:
    days: int
    start: datetime  # 00:00 China time of the first day
    end: datetime  # now
    dates: tuple[date, ...]

    @classmethod
    def last(cls, days: int, now: datetime) -> Period:
        """The last `days` China-time days, today (so far) included."""
        today = now.astimezone(CST).date()
        dates = tuple(today - timedelta(days=i) for i in range(days - 1, -1, -1))
        return cls(days, day_start(dates[0]), now, dates)


# ---- the figures -------------------------------------------------------------------------

@dataclass
class Day:
    date: date
    placed: int = 0
    shipped: int = 0
    delivered: int = 0
    parcels_shipped: int = 0
    parcels_delivered: int = 0
    questions: dict[str, int] = field(default_factory=dict)
    ship_hours: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class CarrierFigures:
    code: str
    delivered: int
    on_time_pct: float | None
    within_window_pct: float | None
    mean_deviation_pct: float | None
    early_pct: float | None = None
    late_pct: float | None = None
    mean_signed_deviation_pct: float | None = None
    mean_early_deviation_pct: float | None = None  # of the early ones, ≥ 0 (how much early)
    mean_late_deviation_pct: float | None = None  # of the late ones, ≥ 0 (how much late)


@dataclass(frozen=True)
class MonthFigures:
    month: str
    customers: int
    returning: int
    rate_pct: float | None
    previous_customers: int
    retained: int
    retention_pct: float | None
    partial: bool


@dataclass(frozen=True)
class Deliveries:
    """The promise figures of the shipments delivered in the period."""

    delivered: int
    with_promise: int
    mean_deviation_pct: float | None
    median_deviation_pct: float | None
    within_window_pct: float | None
    on_time_pct: float | None
    histogram: list[Bin]
    carriers: list[CarrierFigures]
    early_pct: float | None = None
    late_pct: float | None = None
    mean_signed_deviation_pct: float | None = None
    mean_early_deviation_pct: float | None = None
    mean_late_deviation_pct: float | None = None
    median_diff_hours: float | None = None  # delivered − promised, signed


@dataclass(frozen=True)
class Dashboard:
    period: Period
    window_hours: float
    days: list[Day]
    deliveries: Deliveries
    ship_hours: list[float]  # sorted, every order shipped in the period
    held_now: int
    late_now: int
    months: list[MonthFigures]
    demo_orders: int = 0  # of the period's orders, written by `bot.py demo` as history

    @property
    def empty(self) -> bool:
        return not any(d.placed or d.shipped or d.delivered or d.questions for d in self.days)

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.days)

    @property
    def questions(self) -> int:
        return sum(sum(d.questions.values()) for d in self.days)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _tally(code: str, diffs: Sequence[float], devs: Sequence[tuple[float, float]],
           window_s: float) -> CarrierFigures:
    """Figures of (delivered − promised) seconds and (signed deviation %, difference) pairs."""
    n = len(diffs)
    early = sum(1 for d in diffs if d < -window_s)
    late = sum(1 for d in diffs if d > window_s)
    signed = [v for v, _ in devs]
    return CarrierFigures(
        code, n, share(n - late, n), share(n - early - late, n),
        _mean([abs(v) for v in signed]), share(early, n), share(late, n), _mean(signed),
        _mean([-v for v, d in devs if d < -window_s]),
        _mean([v for v, d in devs if d > window_s]))


def deliveries(rows: Iterable[store.ShipmentRow], window_hours: float) -> Deliveries:
    """Deviation (absolute and signed, early and late apart), window and on-time shares,
    histogram and per-carrier figures from shipments (those not delivered are skipped).
    Differences are in seconds here."""
    window_s = window_hours * 3600
    diffs: dict[str, list[float]] = defaultdict(list)
    devs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    total = 0
    for carrier, ordered, promised, _, delivered in rows:
        if delivered is None:
            continue
        total += 1
        if promised is None:
            continue
        diff = delivered - promised
        diffs[carrier or ""].append(diff)
        if ordered is not None and promised > ordered:  # deviation_pct_s, inlined: hot loop
            devs[carrier or ""].append((diff / (promised - ordered) * 100.0, diff))
    all_diffs = [d for ds in diffs.values() for d in ds]
    all_devs = [d for ds in devs.values() for d in ds]
    overall = _tally("", all_diffs, all_devs, window_s)
    carriers = sorted((_tally(c, diffs[c], devs[c], window_s) for c in diffs),
                      key=lambda c: -c.delivered)
    median_diff = percentile(sorted(all_diffs), 50)
    return Deliveries(total, overall.delivered, overall.mean_deviation_pct,
                      percentile(sorted(abs(v) for v, _ in all_devs), 50),
                      overall.within_window_pct, overall.on_time_pct,
                      histogram((d / 3600 for d in all_diffs), window_hours), carriers,
                      overall.early_pct, overall.late_pct, overall.mean_signed_deviation_pct,
                      overall.mean_early_deviation_pct, overall.mean_late_deviation_pct,
                      None if median_diff is None else median_diff / 3600)


def repeat_months(purchases: Iterable[tuple[int, int]], months: Sequence[date],
                  today: date) -> list[MonthFigures]:
    """Repeat-purchase and retention per month from (bucket, customer) pairs: bucket i ≥ 1
    is `months[i - 1]`, bucket 0 anything before the first month."""
    by_bucket: dict[int, set[int]] = defaultdict(set)
    for bucket, customer in purchases:
        by_bucket[bucket].add(customer)
    seen = set(by_bucket.get(0, ()))
    out: list[MonthFigures] = []
    previous: set[int] = set()
    for i, first in enumerate(months, start=1):
        now = by_bucket.get(i, set())
        returning, retained = len(now & seen), len(now & previous)
        out.append(MonthFigures(month_key(first), len(now), returning,
                                share(returning, len(now)), len(previous), retained,
                                share(retained, len(previous)),
                                partial=first == date(today.year, today.month, 1)))
        seen |= now
        previous = now
    return out


def assemble(period: Period, window_hours: float, raw: store.Raw,
             months: Sequence[date]) -> Dashboard:
    """Bucket the raw rows by China-time day into the dashboard's figures.

    Hot loop over ~100,000s of rows: days are integer indexes, rows plain tuples."""
    days = [Day(d) for d in period.dates]
    lo, hi = period.start.timestamp(), period.end.timestamp()
    first = math.floor((lo + CST_OFFSET_S) / DAY_S)

    def bucket(at: float | None) -> Day | None:
        if at is None or not lo <= at < hi:
            return None
        return days[int((at + CST_OFFSET_S) // DAY_S) - first]

    for created, shipped, delivered, placed in raw.orders:
        if placed and (day := bucket(created)):
            day.placed += 1
        if day := bucket(delivered):
            day.delivered += 1
        if shipped is not None and (day := bucket(shipped)):
            day.shipped += 1
            if created is not None:
                day.ship_hours.append((shipped - created) / 3600)
    delivered_rows = []
    for row in raw.shipments:
        if day := bucket(row[3]):
            day.parcels_shipped += 1
        if day := bucket(row[4]):
            day.parcels_delivered += 1
            delivered_rows.append(row)
    index = {d.date: d for d in days}
    for (d, kind), n in raw.questions.items():
        if d in index:
            index[d].questions[kind] = n
    hours: list[float] = []
    for d in days:
        d.ship_hours.sort()
        hours += d.ship_hours
    hours.sort()
    today = period.end.astimezone(CST).date()
    return Dashboard(period, window_hours, days, deliveries(delivered_rows, window_hours), hours,
                     raw.held_now, raw.late_now, repeat_months(raw.purchases, months, today),
                     raw.demo_orders)


async def load(days: int, now: datetime, window_hours: float) -> Dashboard:
    """Read and compute the dashboard for the last `days` days up to `now`."""
    period = Period.last(days, now)
    months = months_back(now.astimezone(CST).date(), REPEAT_MONTHS)
    raw = await store.read(period.start.astimezone(UTC), now.astimezone(UTC),
                           [day_start(m).astimezone(UTC) for m in months])
    # ~100,000s of rows: computed off the event loop, which keeps serving meanwhile.
    return await asyncio.to_thread(assemble, period, window_hours, raw, months)
