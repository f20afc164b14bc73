"""Transit times learnt from delivered history, per carrier and lane (DESIGN.md §3).

`recalibrate(settings, now)` reads the shipments delivered in the last `window_days`
(transit = delivered_at − shipped_at), groups them by carrier, origin warehouse and
destination city, and again by destination province, and keeps every group with at least
`min_samples` deliveries: its `percentile` of the actual transit hours, rounded up to the
hour and held within the configured hours ± `max_change` (bad data cannot move a promise
far). The rows replace storage/transit_models.TransitStat in one transaction; promises read
them through the catalogue snapshot (bot/catalog.py, bot/domain/coverage.TransitTable).

The province group leaves out deliveries to the warehouse's own city: the config prices
that lane apart (same_city) and the lookup never applies the province figure to it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time as _time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from bot.config import CalibrationConfig, Settings, parse_hhmm
from bot.domain.allocation import Destination, WarehouseInfo
from bot.domain.coverage import LaneKey, configured_hours
from bot.waves import learn_waves
from integrations.geocode import short_name
from storage import transit_models
from storage.models import Warehouse
from storage.transit_models import DeliveredRow, Lane, Wave

log = logging.getLogger(__name__)
MAX_TRANSIT_HOURS = 30 * 24  # longer is a lost parcel or a bad timestamp, not transit


@dataclass(frozen=True)
class LaneChange:
    lane: Lane
    before: float  # what promises used until now: the earlier learnt hours, else the config


@dataclass(frozen=True)
class CalibrationReport:
    since: datetime
    read: int  # delivered shipments in the window
    used: int  # of them, with a plausible transit time, a configured carrier and warehouse
    ignored: int  # transit ≤ 0 or > 30 days
    unknown: int  # carrier or warehouse no longer configured
    lanes: tuple[Lane, ...]
    changes: tuple[LaneChange, ...]
    dropped: int  # lanes learnt before that have too few deliveries now (back to the config)
    seconds: float
    written: bool
    waves: tuple[Wave, ...] = ()  # bot/waves.py: the learnt arrival waves
    wave_rows: int = 0  # deliveries (orders' and imported) the waves were learnt from

    def lines(self) -> list[str]:
        cities = sum(1 for x in self.lanes if x.city)
        moved = [c.lane.hours - c.before for c in self.changes]
        out = [f"运输时效校准（{self.since.astimezone(UTC):%Y-%m-%d}起的签收记录）："
               f"读取{self.read}条，采用{self.used}条，剔除异常{self.ignored}条，"
               f"承运商或仓库未配置{self.unknown}条；耗时{self.seconds:.1f}秒",
               f"线路{len(self.lanes)}条（到城市{cities}条，到省{len(self.lanes) - cities}条），"
               f"时效变化{len(self.changes)}条"
               + (f"，平均{sum(abs(m) for m in moved) / len(moved):.1f}小时，"
                  f"最多{max(moved, key=abs):+.0f}小时" if moved else "")
               + (f"；{self.dropped}条样本不足，恢复配置时效" if self.dropped else "")]
        out += [f"  {c.lane.carrier} {c.lane.warehouse}→{c.lane.province}"
                f"{c.lane.city or '（全省）'}：{c.before:g}→{c.lane.hours}小时"
                f"（{c.lane.samples}单，中位{c.lane.p50:.1f}小时，配置{c.lane.configured:g}）"
                for c in sorted(self.changes, key=lambda c: -abs(c.lane.hours - c.before))]
        out += self.wave_lines()
        out.append("已写入，新订单按新时效承诺" if self.written else "试算，未写入")
        return out

    def wave_lines(self) -> list[str]:
        """Per lane: the learnt promise after a departure, weekdays that differ, and the
        expected share within the window."""
        base = [w for w in self.waves if w.weekday == 0]
        if not base:
            return [f"到达波次：{self.wave_rows}条签收记录，无线路达到样本数，按运输时效承诺"]
        share = sum(w.within * w.samples for w in base) / sum(w.samples for w in base)
        out = [f"到达波次：{self.wave_rows}条签收记录，线路{len(base)}条，"
               f"预计窗口内送达{share * 100:.1f}%"]
        days = {(w.carrier, w.warehouse, w.province, w.city): [] for w in base}
        for w in self.waves:
            lane = (w.carrier, w.warehouse, w.province, w.city)
            if w.weekday and lane in days:
                days[lane].append(w)
        for w in sorted(base, key=lambda w: (w.carrier, w.warehouse, w.province, w.city)):
            differ = [f"周{'一二三四五六日'[d.weekday - 1]}发→{_when(d.minute)}"
                      for d in days[(w.carrier, w.warehouse, w.province, w.city)]
                      if abs(d.minute - w.minute) >= 60]
            out.append(f"  {w.carrier} {w.warehouse}→{w.province}{w.city or '（全省）'}："
                       f"{_when(w.minute)}（{w.samples}单，窗口内{w.within * 100:.0f}%）"
                       + ("；" + "，".join(differ) if differ else ""))
        return out


def _when(minute: int) -> str:
    """2080 → 发车后第1天10:40."""
    day, rest = divmod(minute, 1440)
    return f"发车后第{day}天{rest // 60:02d}:{rest % 60:02d}"


async def recalibrate(settings: Settings, now: datetime, *, dry_run: bool = False
                      ) -> CalibrationReport:
    """Learn every lane's transit hours from the window's deliveries and store them."""
    cfg = settings.promise.calibration
    started = _time.perf_counter()
    since = now - timedelta(days=cfg.window_days)
    rows = await transit_models.delivered_since(since)
    # ~240,000 rows: grouped and sorted off the event loop, so orders keep flowing meanwhile.
    grouped, lanes = await asyncio.to_thread(_compute, rows, await _warehouses(), settings)
    before = {_key(x): float(x.hours) for x in await transit_models.lanes()}
    changes = tuple(LaneChange(x, before.get(_key(x), x.configured)) for x in lanes
                    if x.hours != before.get(_key(x), x.configured))
    kept = {_key(x) for x in lanes}
    wave_rows = await transit_models.wave_rows_since(since)
    cutoffs, cities = await _cutoffs(settings)
    learnt = await asyncio.to_thread(
        learn_waves, wave_rows, cutoffs, cities, list(settings.carriers), settings.promise,
        cfg.min_samples)
    if not dry_run:
        await transit_models.replace(lanes, now, learnt.waves)
    return CalibrationReport(
        since=since, read=len(rows), used=grouped.used, ignored=grouped.ignored,
        unknown=grouped.unknown, lanes=tuple(lanes), changes=changes,
        dropped=sum(1 for k in before if k not in kept),
        seconds=_time.perf_counter() - started, written=not dry_run,
        waves=tuple(learnt.waves), wave_rows=len(wave_rows))


def calibration_job(settings: Settings) -> Callable[[], Awaitable[None]]:
    """A scheduler job: recalibrates when the stored figures are `every_hours` old.

    It may be scheduled more often (e.g. hourly): it checks the table's age first, so a
    restart or a second instance does not recalibrate again before it is due.
    """
    cfg = settings.promise.calibration

    async def job() -> None:
        if not cfg.enabled:
            return
        now = datetime.now(UTC)
        last = await transit_models.last_computed()
        if last is not None and now - last < timedelta(hours=cfg.every_hours) * 0.99:
            return
        report = await recalibrate(settings, now)
        log.info("transit recalibrated: %s", "; ".join(report.lines()[:2]))

    return job


# ---- the arithmetic --------------------------------------------------------------------------

@dataclass(frozen=True)
class Grouped:
    samples: dict[LaneKey, list[float]]
    warehouses: dict[str, WarehouseInfo]
    used: int
    ignored: int
    unknown: int


def group(rows: Iterable[DeliveredRow], warehouses: Mapping[int, WarehouseInfo],
          carriers: Iterable[str]) -> Grouped:
    """Transit hours by city lane and by province lane, in one pass over the rows."""
    known = set(carriers)
    samples: dict[LaneKey, list[float]] = {}
    names: dict[tuple[str, str], tuple[str, str]] = {}
    used = ignored = unknown = 0
    for carrier, wid, province, city, hours in rows:
        if hours is None or not 0 < hours <= MAX_TRANSIT_HOURS:
            ignored += 1
            continue
        wh = warehouses.get(wid)
        place = names.get((province, city))
        if place is None:
            place = names[(province, city)] = (short_name(province or ""),
                                               short_name(city or ""))
        if wh is None or carrier not in known or not place[0]:
            unknown += 1
            continue
        used += 1
        samples.setdefault((carrier, wh.code, *place), []).append(hours)
        if place[1] != wh.city:
            samples.setdefault((carrier, wh.code, place[0], ""), []).append(hours)
    return Grouped(samples, {w.code: w for w in warehouses.values()}, used, ignored, unknown)


def learn(samples: Mapping[LaneKey, list[float]], warehouses: Mapping[str, WarehouseInfo],
          settings: Settings, cfg: CalibrationConfig) -> list[Lane]:
    """One lane per group with enough deliveries."""
    out = []
    for key, hours in sorted(samples.items()):
        if len(hours) < cfg.min_samples:
            continue
        carrier, wh, province, city = key
        configured = configured_hours(settings.carriers[carrier], warehouses[wh],
                                      Destination(province, city), settings.regions)
        hours.sort()
        learnt = min(max(percentile(hours, cfg.percentile),
                         configured * (1 - cfg.max_change)), configured * (1 + cfg.max_change))
        out.append(Lane(carrier, wh, province, city, len(hours), _whole(learnt),
                        round(percentile(hours, 50), 2), configured))
    return out


def _compute(rows: Sequence[DeliveredRow], warehouses: Mapping[int, WarehouseInfo],
             settings: Settings) -> tuple[Grouped, list[Lane]]:
    grouped = group(rows, warehouses, settings.carriers.keys())
    return grouped, learn(grouped.samples, grouped.warehouses, settings,
                          settings.promise.calibration)


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least `pct` % of the values at or below it."""
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _whole(hours: float) -> int:
    # Rounded first: times stored to the second come back as 24.000000001 h.
    return math.ceil(round(hours, 4))


def _key(x: Lane) -> LaneKey:
    return (x.carrier, x.warehouse, x.province, x.city)


async def _cutoffs(settings: Settings) -> tuple[dict[str, time], dict[str, str]]:
    """Each warehouse's cut-off (the config's override, else its own) and city (short)."""
    rows = await Warehouse.all().values_list("code", "city", "cutoff")
    over = settings.promise.cutoffs
    return ({code: over.get(code) or parse_hhmm(cut or "16:00", f"warehouse {code}.cutoff")
             for code, _, cut in rows},
            {code: short_name(city or "") for code, city, _ in rows})


async def _warehouses() -> dict[int, WarehouseInfo]:
    rows = await Warehouse.all().values_list("id", "code", "name", "kind", "province", "city")
    return {wid: WarehouseInfo(code, name, str(getattr(kind, "value", kind)), short_name(prov),
                               short_name(city), None, None, time(16))
            for wid, code, name, kind, prov, city in rows}
