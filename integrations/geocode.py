"""Offline Chinese address parsing with cpca: province, city, district, adcode, coordinates.

cpca ships the administrative-division table (with centroid coordinates); we use it for
the structured fields and for a district/city/province centroid as the point.
"""

from __future__ import annotations

import csv
import math
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cpca

MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")
_SUFFIX = re.compile(r"(特别行政区|维吾尔自治区|壮族自治区|回族自治区|自治区|省|市)$")
_lock = threading.Lock()  # cpca's matcher is not documented as thread-safe


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

    @property
    def province_short(self) -> str:
        return short_name(self.province)

    @property
    def city_short(self) -> str:
        return short_name(self.city)


def short_name(name: str) -> str:
    """浙江省 → 浙江, 杭州市 → 杭州, 广西壮族自治区 → 广西."""
    return _SUFFIX.sub("", name) if name else ""


@lru_cache(maxsize=1)
def _centroids() -> dict[str, tuple[float, float]]:
    path = os.path.join(os.path.dirname(cpca.__file__), "resources", "adcodes.csv")
    out: dict[str, tuple[float, float]] = {}
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                out[row["adcode"][:6]] = (float(row["latitude"]), float(row["longitude"]))
            except (ValueError, KeyError):
                continue
    return out


def point_for(adcode: str) -> tuple[float, float] | None:
    """Centroid of the district, else its city, else its province."""
    table = _centroids()
    for code in (adcode[:6], adcode[:4] + "00", adcode[:2] + "0000"):
        if code in table:
            return table[code]
    return None


@lru_cache(maxsize=8192)
def parse(raw: str) -> Place | None:
    """Place a delivery address, or None when it cannot be placed down to a city."""
    text = (raw or "").strip()
    if not text:
        return None
    with _lock:
        df = cpca.transform([text])
    return _place(text, df.iloc[0])


def parse_many(raws: Iterable[str]) -> dict[str, Place | None]:
    """Place many addresses at once (keyed by the stripped text): one cpca call for all,
    ~30 times faster per address than `parse` one by one (a history file's 200,000 rows)."""
    texts = list(dict.fromkeys(t for t in ((r or "").strip() for r in raws) if t))
    if not texts:
        return {}
    with _lock:
        df = cpca.transform(texts)
    return {text: _place(text, row) for text, row in zip(texts, df.to_dict("records"),
                                                          strict=True)}


def _place(text: str, row: Any) -> Place | None:
    province, city, district, adcode = (row["省"], row["市"], row["区"], row["adcode"])
    if not isinstance(province, str) or not isinstance(adcode, str):
        return None
    if province in MUNICIPALITIES or city == "市辖区" or not isinstance(city, str):
        city = province if province in MUNICIPALITIES else (city if isinstance(city, str) else "")
    if not city:
        return None
    district = district if isinstance(district, str) else ""
    adcode = adcode[:6]
    point = point_for(adcode)
    detail = row["地址"] if isinstance(row["地址"], str) else ""
    return Place(text, province, city, district, adcode,
                 point[0] if point else None, point[1] if point else None, detail)


def city_point(name: str) -> tuple[float, float] | None:
    """Coordinates of a city given by name (for warehouses imported without lat/lon)."""
    place = parse(name if name.endswith(("市", "州", "区")) else name + "市")
    return (place.lat, place.lon) if place and place.lat is not None else None  # type: ignore[return-value]


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 6371.0 * 2 * math.asin(math.sqrt(h))
