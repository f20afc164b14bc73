"""Split and warehouse allocation from the rules in config.toml (pure, no I/O).

A line matches the first rule whose categories and regions fit it (else the default rule).
Lines of one rule are allocated together with the rule's strategy:
- ``nearest``: each line whole from the nearest warehouse that can serve it;
- ``fixed``: the same, over the rule's named warehouses in their order;
- ``fewest_splits``: greedily the warehouse that serves the most remaining lines whole.
A line no warehouse can serve whole is split over warehouses in strategy order when the
rule allows it. The rule's safety stock protects physical warehouses: a warehouse whose
available stock would drop below it is skipped, even if a farther one must serve.
Virtual (flash-sale) warehouses serve only orders of their campaign, and a campaign order
never falls back to main stock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time

from bot.domain.places import distance_km
from bot.domain.rules import AllocationRule, RuleBook


@dataclass(frozen=True)
class WarehouseInfo:
    code: str
    name: str
    kind: str
    province: str  # short name: 浙江
    city: str  # short name: 杭州
    lat: float | None
    lon: float | None
    cutoff: time
    active: bool = True

    @property
    def virtual(self) -> bool:
        return self.kind == "virtual"


@dataclass(frozen=True)
class StockLevel:
    warehouse: str
    available: int
    safety_stock: int = 0


@dataclass(frozen=True)
class Destination:
    province: str  # short name
    city: str  # short name
    lat: float | None = None
    lon: float | None = None
    area: str = ""  # district, else development zone (苏州工业园区): the finest level known


@dataclass(frozen=True)
class LineNeed:
    index: int
    sku: str
    category: str
    qty: int


@dataclass(frozen=True)
class Pick:
    """Take `qty` of `sku` from `warehouse`, leaving at least `floor` available."""

    line: int
    sku: str
    warehouse: str
    qty: int
    floor: int
    rule: str


@dataclass(frozen=True)
class Shortage:
    line: int
    sku: str
    wanted: int
    servable: int
    warehouses: tuple[str, ...]


@dataclass(frozen=True)
class Allocation:
    picks: tuple[Pick, ...]
    shortages: tuple[Shortage, ...]
    rules: Mapping[int, AllocationRule] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.shortages

    def by_warehouse(self, order: Sequence[str]) -> list[tuple[str, list[Pick]]]:
        """Picks grouped into shipments, in the given warehouse order."""
        groups: dict[str, list[Pick]] = defaultdict(list)
        for p in self.picks:
            groups[p.warehouse].append(p)
        rank = {code: i for i, code in enumerate(order)}
        return sorted(groups.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


def in_places(dest: Destination, places: Iterable[str], regions: Mapping[str, frozenset[str]]
              ) -> bool:
    """True when the destination is one of the places (province, city or named region)."""
    for place in places:
        if place == "*":
            return True
        members = regions.get(place, frozenset({place}))
        if dest.province in members or dest.city in members or (
                dest.area and dest.area in members):
            return True
    return False


def match_rule(category: str, dest: Destination, settings: RuleBook) -> AllocationRule:
    for rule in settings.rules:
        if rule.categories and category.upper() not in rule.categories:
            continue
        if rule.regions and not in_places(dest, rule.regions, settings.regions):
            continue
        return rule
    return settings.default_rule


Rank = Callable[[WarehouseInfo, AllocationRule], float]


def candidates(rule: AllocationRule, dest: Destination, warehouses: Mapping[str, WarehouseInfo],
               campaign: str | None, preferred: str | None = None,
               rank: Rank | None = None) -> list[str]:
    """Warehouses allowed to serve a line under `rule`, in the strategy's order.

    `rank` (e.g. hours until the promise, for an urgent order) overrides the distance order.
    """
    if campaign:
        wh = warehouses.get(campaign)
        return [campaign] if wh and wh.virtual and wh.active else []
    pool = [w for w in warehouses.values() if w.active and not w.virtual]
    if rule.warehouses:
        named = {w.code: w for w in pool}
        codes = [c for c in rule.warehouses if c in named]
        if rule.strategy == "fixed":
            return codes
        pool = [named[c] for c in codes]

    def key(w: WarehouseInfo) -> tuple[float, float, str]:
        return (rank(w, rule) if rank else 0.0, distance(w, dest), w.code)

    ordered = [w.code for w in sorted(pool, key=key)]
    if preferred in ordered:
        ordered.remove(preferred)
        ordered.insert(0, preferred)
    return ordered


def distance(wh: WarehouseInfo, dest: Destination) -> float:
    if wh.lat is None or wh.lon is None or dest.lat is None or dest.lon is None:
        # Without coordinates, same city beats same province beats anything else.
        return 0.0 if wh.city == dest.city else 500.0 if wh.province == dest.province else 2000.0
    return distance_km((wh.lat, wh.lon), (dest.lat, dest.lon))


class _Pool:
    """Working availability while one order is allocated (lines may share a SKU)."""

    def __init__(self, stock: Mapping[str, Sequence[StockLevel]],
                 warehouses: Mapping[str, WarehouseInfo]) -> None:
        self._left = {(sku, s.warehouse): s.available for sku, rows in stock.items()
                      for s in rows}
        self._safety = {(sku, s.warehouse): s.safety_stock for sku, rows in stock.items()
                        for s in rows}
        self._virtual = {code for code, w in warehouses.items() if w.virtual}

    def floor(self, sku: str, wh: str, rule: AllocationRule) -> int:
        rule_floor = 0 if wh in self._virtual else rule.safety_stock
        return max(self._safety.get((sku, wh), 0), rule_floor)

    def servable(self, sku: str, wh: str, rule: AllocationRule) -> int:
        return max(0, self._left.get((sku, wh), 0) - self.floor(sku, wh, rule))

    def take(self, need: LineNeed, wh: str, qty: int, rule: AllocationRule) -> Pick:
        self._left[(need.sku, wh)] -= qty
        return Pick(need.index, need.sku, wh, qty, self.floor(need.sku, wh, rule), rule.name)


def allocate(lines: Sequence[LineNeed], dest: Destination,
             stock: Mapping[str, Sequence[StockLevel]],
             warehouses: Mapping[str, WarehouseInfo], settings: RuleBook,
             campaign: str | None = None, preferred: str | None = None,
             rank: Rank | None = None) -> Allocation:
    """Allocate every line, or report the shortages (nothing is reserved here)."""
    pool = _Pool(stock, warehouses)
    rules = {ln.index: match_rule(ln.category, dest, settings) for ln in lines}
    groups: dict[str, list[LineNeed]] = defaultdict(list)
    by_name: dict[str, AllocationRule] = {}
    for ln in lines:
        groups[rules[ln.index].name].append(ln)
        by_name[rules[ln.index].name] = rules[ln.index]
    picks: list[Pick] = []
    shortages: list[Shortage] = []
    for name, group in groups.items():
        rule = by_name[name]
        order = candidates(rule, dest, warehouses, campaign, preferred, rank)
        got, short = _allocate_group(group, order, rule, pool)
        picks += got
        shortages += short
    picks.sort(key=lambda p: (p.line, p.warehouse))
    return Allocation(tuple(picks), tuple(shortages), rules)


def _allocate_group(lines: Sequence[LineNeed], order: list[str], rule: AllocationRule,
                    pool: _Pool) -> tuple[list[Pick], list[Shortage]]:
    picks: list[Pick] = []
    remaining = list(lines)
    if rule.strategy == "fewest_splits":
        remaining = _fewest_splits(remaining, order, rule, pool, picks)
    shortages = []
    for ln in remaining:
        wh = next((w for w in order if pool.servable(ln.sku, w, rule) >= ln.qty), None)
        if wh is not None:
            picks.append(pool.take(ln, wh, ln.qty, rule))
            continue
        servable = sum(pool.servable(ln.sku, w, rule) for w in order)
        if rule.split_lines and servable >= ln.qty:
            picks += _split(ln, order, rule, pool)
        else:
            shortages.append(Shortage(ln.index, ln.sku, ln.qty, servable, tuple(order)))
    return picks, shortages


def _fewest_splits(lines: list[LineNeed], order: list[str], rule: AllocationRule, pool: _Pool,
                   picks: list[Pick]) -> list[LineNeed]:
    """Assign whole lines to as few warehouses as possible; return lines left over."""
    remaining = list(lines)
    while remaining:
        best: str | None = None
        served: list[LineNeed] = []
        for wh in order:  # order is by distance, so ties go to the nearest
            can = [ln for ln in remaining if pool.servable(ln.sku, wh, rule) >= ln.qty]
            if len(can) > len(served):
                best, served = wh, can
        if best is None:
            break
        for ln in served:
            picks.append(pool.take(ln, best, ln.qty, rule))
        remaining = [ln for ln in remaining if ln not in served]
    return remaining


def _split(ln: LineNeed, order: list[str], rule: AllocationRule, pool: _Pool) -> list[Pick]:
    out, left = [], ln.qty
    for wh in order:
        qty = min(left, pool.servable(ln.sku, wh, rule))
        if qty > 0:
            out.append(pool.take(ln, wh, qty, rule))
            left -= qty
        if left == 0:
            break
    return out
