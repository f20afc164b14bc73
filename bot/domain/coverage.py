"""Carrier coverage and lanes: who can deliver to a destination, and how long it takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.domain import couriers
from bot.domain.allocation import Destination, WarehouseInfo, in_places
from bot.domain.rules import CarrierConfig, RuleBook


def covers(carrier: CarrierConfig, dest: Destination, regions: Mapping[str, frozenset[str]]
           ) -> bool:
    return (in_places(dest, carrier.coverage, regions)
            and not in_places(dest, carrier.exclude, regions))


def covering_carriers(dest: Destination, settings: RuleBook) -> list[str]:
    return [code for code, c in settings.carriers.items() if covers(c, dest, settings.regions)]


def usable_carriers(dest: Destination, settings: RuleBook) -> tuple[list[str], dict[str, str]]:
    """Couriers that cover the destination and have a provider, and those skipped (→ why)."""
    down = couriers.unavailable(settings)
    covering = covering_carriers(dest, settings)
    return ([c for c in covering if c not in down],
            {c: down[c] for c in covering if c in down})


def choose_carrier(dest: Destination, preference: Sequence[str], settings: RuleBook) -> str | None:
    """First courier of the rule's preference that covers the destination and is served by a
    provider, else any that is; a courier without a provider is skipped."""
    covering, _skipped = usable_carriers(dest, settings)
    for code in preference:
        if code in covering:
            return code
    return covering[0] if covering else None


LaneKey = tuple[str, str, str, str]  # carrier, warehouse code, province, city ("" = province)


@dataclass(frozen=True)
class TransitTable:
    """Transit hours learnt from delivered history (bot/calibration.py), by lane.

    A destination city's own figure wins, else its province's; the province figure is not
    used for the warehouse's own city, which the config prices apart (same_city). Whatever
    the table says stays within the configured hours × (1 ± max_change).
    """

    hours: Mapping[LaneKey, float] = field(default_factory=dict)
    max_change: float = 0.5
    # (carrier, warehouse, province, city, weekday 0–7) → (promise minute after the planned
    # departure day's midnight, share within the window); see bot/waves.py
    waves: Mapping[tuple[str, str, str, str, int], tuple[int, float]] = field(
        default_factory=dict)

    def wave(self, carrier: str, origin: WarehouseInfo, dest: Destination, weekday: int
             ) -> tuple[int, float] | None:
        """The learnt arrival wave for a departure on `weekday`: the city's, else the
        province's (never for the warehouse's own city); the weekday's, else any day's."""
        if not self.waves:
            return None
        cities = [dest.city] if dest.city == origin.city else [dest.city, ""]
        for city in cities:
            for wd in (weekday, 0):
                found = self.waves.get((carrier, origin.code, dest.province, city, wd))
                if found is not None:
                    return found
        return None

    def lookup(self, carrier: str, origin: WarehouseInfo, dest: Destination) -> float | None:
        if not self.hours:
            return None
        found = self.hours.get((carrier, origin.code, dest.province, dest.city))
        if found is None and dest.city != origin.city:
            found = self.hours.get((carrier, origin.code, dest.province, ""))
        return found

    def clamp(self, learnt: float, configured: float) -> float:
        return min(max(learnt, configured * (1 - self.max_change)),
                   configured * (1 + self.max_change))


def transit_hours(carrier: CarrierConfig, origin: WarehouseInfo, dest: Destination,
                  regions: Mapping[str, frozenset[str]], learnt: TransitTable | None = None
                  ) -> float:
    """Hours in transit for the lane: the learnt figure when there is one, else the config."""
    configured = configured_hours(carrier, origin, dest, regions)
    if learnt is None:
        return configured
    found = learnt.lookup(carrier.code, origin, dest)
    return configured if found is None else learnt.clamp(found, configured)


def configured_hours(carrier: CarrierConfig, origin: WarehouseInfo, dest: Destination,
                     regions: Mapping[str, frozenset[str]]) -> float:
    """The config's hours: an explicit lane, else same city/province/region/default."""
    origin_dest = Destination(origin.province, origin.city)
    for src, dst, hours in carrier.lanes:
        if in_places(origin_dest, [src], regions) and in_places(dest, [dst], regions):
            return hours
    t = carrier.transit
    if origin.city == dest.city and "same_city" in t:
        return t["same_city"]
    if origin.province == dest.province and "same_province" in t:
        return t["same_province"]
    if "same_region" in t and any(origin.province in m and dest.province in m
                                  for m in regions.values()):
        return t["same_region"]
    return t["default"]
