"""Carrier coverage and lanes: who can deliver to a destination, and how long it takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.config import CarrierConfig, Settings
from bot.domain.allocation import Destination, WarehouseInfo, in_places


def covers(carrier: CarrierConfig, dest: Destination, regions: Mapping[str, frozenset[str]]
           ) -> bool:
    return (in_places(dest, carrier.coverage, regions)
            and not in_places(dest, carrier.exclude, regions))


def covering_carriers(dest: Destination, settings: Settings) -> list[str]:
    return [code for code, c in settings.carriers.items() if covers(c, dest, settings.regions)]


def choose_carrier(dest: Destination, preference: Sequence[str], settings: Settings) -> str | None:
    """First carrier of the rule's preference that covers the destination, else any that does."""
    covering = covering_carriers(dest, settings)
    for code in preference:
        if code in covering:
            return code
    return covering[0] if covering else None


def transit_hours(carrier: CarrierConfig, origin: WarehouseInfo, dest: Destination,
                  regions: Mapping[str, frozenset[str]]) -> float:
    """Hours in transit for the lane: an explicit lane, else same city/province/region/default."""
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
