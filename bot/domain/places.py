"""Where an address is, as the domain needs it: province, city, district (or development
zone), and a point for distances. integrations/geocode.py reads addresses into these."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SUFFIX = re.compile(r"(特别行政区|维吾尔自治区|壮族自治区|回族自治区|自治区|省|市)$")


@dataclass(frozen=True)
class Place:
    raw: str
    province: str
    city: str
    district: str
    adcode: str
    lat: float | None
    lon: float | None
    detail: str = ""
    zone: str = ""  # a development zone (苏州工业园区) when the address names no district

    @property
    def area(self) -> str:
        """The finest level below the city: the district, else the development zone."""
        return self.district or self.zone

    @property
    def province_short(self) -> str:
        return short_name(self.province)

    @property
    def city_short(self) -> str:
        return short_name(self.city)


def short_name(name: str) -> str:
    """浙江省 → 浙江, 杭州市 → 杭州, 广西壮族自治区 → 广西."""
    return _SUFFIX.sub("", name) if name else ""


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 6371.0 * 2 * math.asin(math.sqrt(h))
