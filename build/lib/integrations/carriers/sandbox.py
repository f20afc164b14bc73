"""Sandbox carrier: waybills and a believable tracking story when no carrier keys are set.

Waybill numbers start with SBX and every event says 沙箱, so nobody mistakes them for a real
carrier's. `issue_waybill` derives the number from the shipment id (asking twice gives the
same number). `SandboxCarrier` speaks the CarrierClient protocol: `query` tells, for each
waybill, the events that have happened by now of a fixed story, 已揽收 → 运输中 (hubs along
the lane, e.g. 杭州转运中心 → 上海转运中心) → 派送中 → 已签收, derived deterministically from
the waybill and its trip (shipped_at, origin and destination city) on an accelerated clock:
with `speed` = 60 one real minute is one simulated hour.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations.carriers.base import (
    SHANGHAI,
    CommonStatus,
    PushNotSupported,
    PushResult,
    TrackingEvent,
    WaybillRequest,
    WaybillResult,
)

CODE = "sandbox"
PREFIX = "SBX"
TAG = "【沙箱】"
COURIER = "沙箱快递员 小林（400-000-0000）"
# Hubs by city; a lane between two provinces passes a trunk hub when they are not adjacent.
HUBS = {"杭州": "杭州转运中心", "上海": "上海转运中心", "南京": "南京转运中心",
        "苏州": "苏州转运中心", "宁波": "宁波转运中心", "合肥": "合肥转运中心",
        "无锡": "无锡转运中心", "嘉兴": "嘉兴转运中心", "温州": "温州转运中心",
        "北京": "北京转运中心", "广州": "广州转运中心", "武汉": "武汉转运中心"}
TRUNK = ("嘉兴转运中心", "无锡转运中心", "苏州转运中心")
LANES = (("杭州", "上海"), ("上海", "南京"), ("南京", "合肥"), ("杭州", "宁波"),
         ("上海", "苏州"), ("杭州", "南京"))
OUTLETS = ("城东", "城西", "开发区", "高新区", "中心")


async def issue_waybill(order: Any, shipment: Any) -> str:
    carrier = (shipment.carrier or "sbx").upper()
    return f"{PREFIX}{carrier}{shipment.id:010d}"


@dataclass(frozen=True)
class SandboxTrip:
    """What the sandbox is handed about a shipment: when it left, from where, to where."""

    shipped_at: datetime
    origin: str = ""
    destination: str = ""


TripLookup = Callable[[Sequence[str]], Awaitable[Mapping[str, SandboxTrip]]]


@dataclass(frozen=True)
class _Step:
    hours: float  # simulated hours after shipped_at
    status: CommonStatus
    location: str
    text: str


class SandboxCarrier:
    code = CODE

    def __init__(self, *, speed: float = 60.0, trips: TripLookup | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if speed <= 0:
            raise ValueError("sandbox speed must be > 0")
        self.speed = speed
        self._trips = trips
        self._clock = clock
        self._first_seen: dict[str, datetime] = {}

    async def create_waybill(self, req: WaybillRequest) -> WaybillResult:
        """Idempotent per carrier_order_id: the number is derived from it."""
        digest = hashlib.sha256(req.carrier_order_id.encode("utf-8")).hexdigest()
        number = f"{PREFIX}{int(digest[:15], 16) % 10**13:013d}"
        return WaybillResult(number, CODE, {"orderId": req.carrier_order_id, "sandbox": True})

    async def query(self, waybills: Sequence[tuple[str, str | None]]) -> list[TrackingEvent]:
        """The events that have happened by now; SBX numbers only, others have none."""
        now = self._clock()
        numbers = [n for n, _ in waybills if n.startswith(PREFIX)]
        trips = dict(await self._trips(numbers)) if self._trips and numbers else {}
        events: list[TrackingEvent] = []
        for num in numbers:
            trip = trips.get(num) or SandboxTrip(self._first_seen.setdefault(num, now))
            events.extend(e for e in story(num, trip, self.speed) if e.occurred_at <= now)
        return events

    def parse_push(self, body: bytes, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> PushResult:
        raise PushNotSupported("沙箱承运商不推送轨迹，由定时查询获取", carrier=CODE)


def story(waybill: str, trip: SandboxTrip, speed: float = 60.0) -> list[TrackingEvent]:
    """The whole event sequence of one sandbox waybill, oldest first (deterministic)."""
    rng = random.Random(hashlib.sha256(waybill.encode("utf-8")).digest())
    origin, dest = _lane(trip, rng)
    start = trip.shipped_at.astimezone(SHANGHAI).replace(microsecond=0)
    return [TrackingEvent(waybill, CODE, s.status, start + timedelta(hours=s.hours / speed),
                          s.location, f"{TAG}{s.text}", {"sandbox": True, "step": i})
            for i, s in enumerate(_steps(origin, dest, rng))]


def _lane(trip: SandboxTrip, rng: random.Random) -> tuple[str, str]:
    default = LANES[rng.randrange(len(LANES))]
    return (_city(trip.origin) or default[0], _city(trip.destination) or default[1])


def _city(name: str) -> str:
    name = name.strip()
    return name[:-1] if name.endswith("市") else name


def _steps(origin: str, dest: str, rng: random.Random) -> list[_Step]:
    out_site = f"{origin}{rng.choice(OUTLETS)}网点"
    in_site = f"{dest}{rng.choice(OUTLETS)}网点"
    hubs = _hubs(origin, dest, rng)
    at = rng.uniform(0.5, 1.5)
    steps = [_Step(at, CommonStatus.COLLECTED, f"{origin}市", f"【{origin}市】{out_site} 已揽收")]
    previous = out_site
    for hub in hubs:
        at += rng.uniform(1.0, 3.0)
        steps.append(_Step(at, CommonStatus.IN_TRANSIT, _hub_city(hub),
                           f"快件离开【{previous}】，已发往【{hub}】"))
        at += rng.uniform(2.0, 6.0)
        steps.append(_Step(at, CommonStatus.IN_TRANSIT, _hub_city(hub), f"快件已到达【{hub}】"))
        previous = hub
    at += rng.uniform(3.0, 8.0)
    steps.append(_Step(at, CommonStatus.OUT_FOR_DELIVERY, f"{dest}市",
                       f"【{dest}市】快件已到达【{in_site}】，{COURIER}正在派件"))
    at += rng.uniform(1.0, 3.0)
    steps.append(_Step(at, CommonStatus.DELIVERED, f"{dest}市",
                       f"【{dest}市】快件已签收，签收人：本人（沙箱模拟，非真实承运商）"))
    return steps


def _hubs(origin: str, dest: str, rng: random.Random) -> list[str]:
    first = HUBS.get(origin, f"{origin}转运中心")
    last = HUBS.get(dest, f"{dest}转运中心")
    if first == last:
        return [first]
    middle = [h for h in TRUNK if h not in (first, last)]
    if middle and rng.random() < 0.5:
        return [first, rng.choice(middle), last]
    return [first, last]


def _hub_city(hub: str) -> str:
    return f"{hub.removesuffix('转运中心')}市"
