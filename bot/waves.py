"""Promise waves: when parcels on a lane really arrive, learnt from delivered history.

Couriers deliver in rounds at clock times, skip some days (no Sunday round) and a parcel
that misses a truck waits for the next one; a transit *duration* smears all of that. So
each delivery is placed relative to its **planned departure day** (the day the config's
cut-off, pick/pack and shipping calendar say it leaves, bot/domain/eta.departure): its
arrival is "minutes after that day's midnight, China time" (e.g. 1 day + 10:40 = 2080).
Trucks that leave late or not at all are thereby learnt too: they are part of the arrivals.

Per carrier × warehouse × destination (city, and province for the other cities) and per
weekday of the planned departure (a Saturday departure on a Sunday-less carrier arrives on
Monday), the promise is the moment whose ± window holds the most deliveries: a sliding
window over the sorted arrivals, for every group at once with numpy. A weekday group is kept
when it has `min_samples` deliveries, the lane's all-days group (weekday 0) likewise; where
neither exists the promise falls back to transit hours (bot/calibration.py, else the config).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

import numpy as np

from bot.config import PromiseConfig
from bot.domain import eta
from integrations.geocode import short_name
from storage.transit_models import Wave, WaveRow

DAY = 86400
CST_OFFSET = 8 * 3600
MAX_MINUTES = 30 * 1440  # arrivals later than 30 days are lost parcels or bad stamps
EPOCH = date(1970, 1, 1)
HALF_LIFE_DAYS = 14.0  # a delivery this much older than the newest weighs half


@dataclass(frozen=True)
class Learnt:
    waves: list[Wave]
    used: int
    ignored: int


def learn_waves(rows: Sequence[WaveRow], cutoffs: Mapping[str, time],
                warehouse_cities: Mapping[str, str], carriers: Sequence[str],
                cfg: PromiseConfig, min_samples: int) -> Learnt:
    """The waves of every lane with enough deliveries (see the module docstring)."""
    if not rows:
        return Learnt([], 0, 0)
    known = set(carriers)
    keep = [r for r in rows if r[0] in known and r[1] in cutoffs and r[4] is not None
            and r[5] is not None]
    unknown = len(rows) - len(keep)
    if not keep:
        return Learnt([], 0, unknown)
    # Per row only a dict look-up; names are shortened once per distinct lane as stored.
    raw: dict[tuple[str, str, str, str], int] = {}
    raw_idx = np.fromiter((raw.setdefault(r[:4], len(raw)) for r in keep), dtype=np.int64,
                          count=len(keep))
    lanes: dict[tuple[str, str, str, str], int] = {}
    remap = np.array([lanes.setdefault((c, w, short_name(p or ""), short_name(city or "")),
                                       len(lanes)) for c, w, p, city in raw], dtype=np.int64)
    lane_idx = remap[raw_idx]
    confirmed = np.fromiter((r[4] for r in keep), dtype=np.float64, count=len(keep))
    delivered = np.fromiter((r[5] for r in keep), dtype=np.float64, count=len(keep))
    lane_cut = np.array([_seconds(cutoffs[w]) for _, w, _, _ in lanes], dtype=np.float64)
    wh_cut = lane_cut[lane_idx]
    dep_day = departure_days(confirmed, wh_cut, cfg)
    arrive = (delivered + CST_OFFSET - dep_day * DAY) / 60.0
    ok = (arrive > 0) & (arrive < MAX_MINUTES)
    weekday = (dep_day + 3) % 7 + 1  # 1970-01-01 was a Thursday (ISO 4)
    # Recent deliveries count more (a lane's round that moved is followed within weeks).
    weight = np.exp(-(delivered.max() - delivered) / (HALF_LIFE_DAYS * DAY) * np.log(2))
    lane_idx, arrive, weekday, weight = lane_idx[ok], arrive[ok], weekday[ok], weight[ok]
    keys = list(lanes)
    # Province groups leave out the warehouse's own city (the config prices it apart).
    prov: dict[tuple[str, str, str, str], int] = {}
    prov_of = np.array([prov.setdefault((c, w, p, ""), len(prov)) if city != warehouse_cities
                        .get(w) else -1 for c, w, p, city in keys], dtype=np.int64)
    waves: list[Wave] = []
    for group_keys, idx in ((keys, lane_idx), (list(prov), prov_of[lane_idx])):
        sel = idx >= 0
        for wd in (0, 1):  # 0: all days together; 1: per weekday
            g = idx[sel] * 8 + (weekday[sel] if wd else 0)
            waves += _best(g, arrive[sel], weight[sel], group_keys,
                           cfg.delivery_window_hours * 60, min_samples)
    return Learnt(waves, int(ok.sum()), unknown + int((~ok).sum()))


def _best(group: np.ndarray, minutes: np.ndarray, weight: np.ndarray,
          keys: Sequence[tuple[str, str, str, str]], half: float, min_samples: int
          ) -> list[Wave]:
    """Per group, the centre of the (weighted) densest 2·half-minute window of arrivals."""
    if not len(group):
        return []
    order = np.lexsort((minutes, group))
    g, m, w = group[order], minutes[order], weight[order]
    value = g.astype(np.float64) * 1e6 + m  # one sorted axis: groups apart by far more
    end = np.searchsorted(value, value + 2 * half, side="right")
    cum = np.r_[0.0, np.cumsum(w)]
    count = cum[end] - cum[:-1]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    out = []
    for s, n in zip(starts.tolist(), sizes.tolist(), strict=True):
        if n < min_samples:
            continue
        i = s + int(np.argmax(count[s:s + n]))
        j = end[i] - 1
        centre = (m[i] + m[j]) / 2
        within = int(np.count_nonzero(np.abs(m[s:s + n] - centre) <= half))
        lane, wd = divmod(int(g[s]), 8)
        c, w, p, city = keys[lane]
        out.append(Wave(c, w, p, city, wd, int(np.rint(centre)), n, round(within / n, 4)))
    return out


def departure_days(confirmed: np.ndarray, cutoff_s: np.ndarray, cfg: PromiseConfig
                   ) -> np.ndarray:
    """The planned departure day (days since 1970-01-01, China time) of each confirmation:
    eta.departure's rule, vectorised."""
    local = confirmed + CST_OFFSET
    day = np.floor(local / DAY).astype(np.int64)
    tod = local - day * DAY
    first, last = int(day.min()), int(day.max()) + 62
    ship = np.array([eta.is_shipping_day(EPOCH + timedelta(days=d), cfg)
                     for d in range(first, last + 1)])
    nxt = np.empty(len(ship), dtype=np.int64)  # the first shipping day at or after each day
    following = last + 1
    for k in range(len(ship) - 1, -1, -1):
        if ship[k]:
            following = first + k
        nxt[k] = following
    today = ship[day - first] & (tod <= cutoff_s)
    return np.where(today, day, nxt[np.minimum(day + 1 - first, len(ship) - 1)])


def _seconds(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second
