"""Tracking rules, pure: dedupe keys, a shipment's timeline and status, stuck detection, config.

Carriers push twice, out of order, and the poll sees the same nodes again (carriers.md §5.3),
so a shipment's status is never "the last event received": it is recomputed from the whole
deduplicated set ordered by event time. Progress only moves forward along
info_received < collected < in_transit < out_for_delivery < delivered; an exception shows
until a later normal event resumes progress; delivered and returned are terminal (an
exception, or anything else, after either does not undo it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.parcels import CommonStatus, TrackingEvent
from bot.domain.status import OrderStatus

C = CommonStatus
PROGRESS: dict[CommonStatus, int] = {
    C.INFO_RECEIVED: 0, C.COLLECTED: 1, C.IN_TRANSIT: 2, C.OUT_FOR_DELIVERY: 3, C.DELIVERED: 4,
}
TERMINAL = frozenset({C.DELIVERED, C.RETURNED})
# Events with the same timestamp: the further-progressed one counts as later, an exception
# before a delivery (a "派件异常后签收" pair stamped in the same second ends delivered).
_TIE = {C.INFO_RECEIVED: 0, C.COLLECTED: 1, C.IN_TRANSIT: 2, C.OUT_FOR_DELIVERY: 3,
        C.EXCEPTION: 4, C.DELIVERED: 5, C.RETURNED: 6}

TO_ORDER_STATUS: dict[CommonStatus, OrderStatus] = {
    C.INFO_RECEIVED: OrderStatus.shipped, C.COLLECTED: OrderStatus.shipped,
    C.IN_TRANSIT: OrderStatus.in_transit, C.OUT_FOR_DELIVERY: OrderStatus.out_for_delivery,
    C.DELIVERED: OrderStatus.delivered, C.EXCEPTION: OrderStatus.exception,
    C.RETURNED: OrderStatus.exception,
}
# Shipment statuses the sweep polls (a delivered or cancelled shipment is left alone).
ACTIVE = (OrderStatus.shipped, OrderStatus.in_transit, OrderStatus.out_for_delivery,
          OrderStatus.exception)


# ---- identity and timeline -----------------------------------------------------------------

def event_key(waybill: str, status: CommonStatus | str, occurred_at: datetime,
              description: str) -> str:
    """The dedupe key: sha256 over (waybill, status, UTC second, normalised description).

    The same node pushed twice, or pushed and then polled, gives the same key; the carrier
    is left out because an aggregator (Kuaidi100) and the carrier itself report one node.
    """
    when = occurred_at.astimezone(UTC).replace(microsecond=0).isoformat()
    text = "\x1f".join((waybill.strip(), str(CommonStatus(status)), when,
                        " ".join(description.split())))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_of(event: TrackingEvent) -> str:
    return event_key(event.waybill, event.status, event.occurred_at, event.description)


@dataclass(frozen=True)
class Checkpoint:
    """What status derivation needs of an event, stored or new."""

    key: str
    status: CommonStatus
    occurred_at: datetime

    @classmethod
    def of(cls, event: TrackingEvent) -> Checkpoint:
        return cls(key_of(event), event.status, event.occurred_at)


@dataclass(frozen=True)
class Derived:
    status: CommonStatus
    at: datetime  # when the shipment reached this status (event time)


@dataclass(frozen=True)
class Timeline:
    checkpoints: list[Checkpoint]  # deduplicated, time-ordered
    added: list[TrackingEvent]  # incoming events not stored before, once each, time-ordered
    derived: Derived | None  # None: no event at all yet


def ordered(checkpoints: Iterable[Checkpoint]) -> list[Checkpoint]:
    return sorted(checkpoints, key=lambda c: (c.occurred_at, _TIE[c.status]))


def timeline(stored: Sequence[Checkpoint], incoming: Sequence[TrackingEvent]) -> Timeline:
    """Merge new events into a shipment's stored ones: each node once, status recomputed."""
    seen = {c.key for c in stored}
    added: dict[str, TrackingEvent] = {}
    for event in incoming:
        key = key_of(event)
        if key not in seen and key not in added:
            added[key] = event
    new = sorted(added.items(), key=lambda kv: (kv[1].occurred_at, _TIE[kv[1].status]))
    points = ordered([*stored, *(Checkpoint(k, e.status, e.occurred_at) for k, e in new)])
    return Timeline(points, [e for _, e in new], derive(points))


def derive(points: Sequence[Checkpoint]) -> Derived | None:
    """The shipment's status from its time-ordered checkpoints (see the module docstring)."""
    current: Derived | None = None
    furthest: Derived | None = None
    for p in points:
        if current is not None and current.status in TERMINAL:
            break
        if p.status is C.RETURNED or p.status is C.EXCEPTION:
            current = Derived(p.status, p.occurred_at)
            continue
        if furthest is None or PROGRESS[p.status] > PROGRESS[furthest.status]:
            furthest = Derived(p.status, p.occurred_at)
        current = furthest
    return current


def order_status_for(status: CommonStatus) -> OrderStatus:
    return TO_ORDER_STATUS[status]


def is_terminal(status: CommonStatus | str | None) -> bool:
    """Delivered or returned: nothing moves a shipment on from there."""
    if not status:
        return False
    return CommonStatus(status) in TERMINAL


# ---- stuck shipments -----------------------------------------------------------------------

def stuck(status: OrderStatus | str, last_event_at: datetime | None, now: datetime,
          hours_by_status: Mapping[str, float]) -> bool:
    """True when a shipment in `status` has had no event for its configured hours.

    Statuses without an entry (delivered, cancelled, ...) never count as stuck.
    """
    hours = hours_by_status.get(str(getattr(status, "value", status)))
    if hours is None or last_event_at is None:
        return False
    return now - last_event_at >= timedelta(hours=hours)


# ---- configuration -------------------------------------------------------------------------

@dataclass(frozen=True)
class CarrierLimits:
    """How one tracking client may be polled.

    rate_per_second: calls (not waybills) per second; batch_size: waybills per call as the
    API allows; min_gap_minutes: never query one waybill again sooner (Kuaidi100 locks a
    number queried twice within 30 minutes); interval_minutes: this carrier's poll interval
    (None: the global one); send_phone: pass the receiver's phone (last 4 digits) along.
    """

    rate_per_second: float = 10.0
    batch_size: int = 1
    min_gap_minutes: float = 0.0
    concurrency: int = 8
    interval_minutes: float | None = None
    send_phone: bool = True


# Hard floors no configuration may go under (carriers.md §6).
MIN_GAP_FLOOR_MINUTES = {"kuaidi100": 30.0}
MAX_BATCH = {"kuaidi100": 1, "sf": 10, "zto": 1, "jd": 1}

# Rates are ours, chosen under what is known: SF allows 30 calls/s per API in its sandbox
# (production unpublished); Kuaidi100, ZTO and JD publish no query rate [UNCONFIRMED].
DEFAULT_CARRIERS: Mapping[str, CarrierLimits] = {
    "kuaidi100": CarrierLimits(rate_per_second=30, batch_size=1, min_gap_minutes=31),
    "sf": CarrierLimits(rate_per_second=25, batch_size=10, send_phone=False),
    "zto": CarrierLimits(rate_per_second=40, batch_size=1),
    "jd": CarrierLimits(rate_per_second=40, batch_size=1, send_phone=False),
    "sandbox": CarrierLimits(rate_per_second=200, batch_size=100, interval_minutes=1,
                             send_phone=False),
}
DEFAULT_STUCK_HOURS: Mapping[str, float] = {
    "shipped": 24.0, "in_transit": 36.0, "out_for_delivery": 12.0,
}


@dataclass(frozen=True)
class TrackingConfig:
    """[tracking] in config.toml; every key optional (see `from_toml`)."""

    interval_minutes: float = 15.0
    subscribed_interval_minutes: float = 120.0  # a carrier that pushes is only reconciled
    concurrency: int = 32  # carrier calls in flight, all carriers together
    max_backoff_wait_seconds: float = 30.0  # a longer Retry-After defers to a later sweep
    rate_limit_backoff_seconds: float = 60.0  # when the carrier names no Retry-After
    stuck_check_minutes: float = 30.0
    stuck_hours: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STUCK_HOURS))
    sandbox_speed: float = 60.0  # simulated seconds per real second
    carriers: Mapping[str, CarrierLimits] = field(
        default_factory=lambda: dict(DEFAULT_CARRIERS))
    route: Mapping[str, str] = field(default_factory=dict)  # shipment carrier -> client code

    def limits(self, code: str) -> CarrierLimits:
        """A client's limits; `kuaidi100.zto` (Kuaidi100 serving ZTO) has Kuaidi100's."""
        base = code.partition(".")[0]
        got = (self.carriers.get(code) or self.carriers.get(base) or DEFAULT_CARRIERS.get(base)
               or CarrierLimits())
        floor = MIN_GAP_FLOOR_MINUTES.get(base, 0.0)
        batch = min(got.batch_size, MAX_BATCH.get(base, got.batch_size))
        if got.min_gap_minutes < floor or batch != got.batch_size:
            got = replace(got, min_gap_minutes=max(floor, got.min_gap_minutes), batch_size=batch)
        return got

    def interval_for(self, code: str) -> float:
        own = self.limits(code).interval_minutes
        return self.interval_minutes if own is None else own

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str = "tracking") -> TrackingConfig:
        """Validate a [tracking] table; ValueError names the bad key."""
        return _parse(table, where)


_TOP = {"interval_minutes", "subscribed_interval_minutes", "concurrency",
        "max_backoff_wait_seconds", "rate_limit_backoff_seconds", "stuck_check_minutes",
        "sandbox_speed", "stuck_hours", "carriers", "route"}
_CARRIER = {"rate_per_second", "batch_size", "min_gap_minutes", "concurrency",
            "interval_minutes", "send_phone"}


def _parse(table: Mapping[str, Any], where: str) -> TrackingConfig:
    _known(table, _TOP, where)
    base = TrackingConfig()
    nums: dict[str, Any] = {
        k: _positive(table[k], f"{where}.{k}")
        for k in _TOP - {"stuck_hours", "carriers", "route", "concurrency"} if k in table}
    if "concurrency" in table:
        nums["concurrency"] = int(_positive(table["concurrency"], f"{where}.concurrency"))
    stuck_table = _mapping(table.get("stuck_hours", {}), f"{where}.stuck_hours")
    stuck_hours = {**base.stuck_hours, **{
        k: _positive(v, f"{where}.stuck_hours.{k}") for k, v in stuck_table.items()}}
    bad = set(stuck_hours) - {s.value for s in OrderStatus}
    if bad:
        raise ValueError(f"{where}.stuck_hours: unknown status {sorted(bad)[0]!r}")
    carriers = dict(base.carriers)
    for code, sub in _mapping(table.get("carriers", {}), f"{where}.carriers").items():
        carriers[code] = _carrier(carriers.get(code, CarrierLimits()),
                                  _mapping(sub, f"{where}.carriers.{code}"),
                                  f"{where}.carriers.{code}")
    route = {str(k): str(v) for k, v in _mapping(table.get("route", {}),
                                                 f"{where}.route").items()}
    return replace(base, **nums, stuck_hours=stuck_hours, carriers=carriers, route=route)


def _carrier(base: CarrierLimits, sub: Mapping[str, Any], where: str) -> CarrierLimits:
    _known(sub, _CARRIER, where)
    values: dict[str, Any] = {}
    for key in ("rate_per_second", "interval_minutes"):
        if key in sub:
            values[key] = _positive(sub[key], f"{where}.{key}")
    for key in ("batch_size", "concurrency"):
        if key in sub:
            values[key] = int(_positive(sub[key], f"{where}.{key}"))
    if "min_gap_minutes" in sub:
        gap = sub["min_gap_minutes"]
        if isinstance(gap, bool) or not isinstance(gap, int | float) or gap < 0:
            raise ValueError(f"{where}.min_gap_minutes: must be a number >= 0")
        values["min_gap_minutes"] = float(gap)
    if "send_phone" in sub:
        if not isinstance(sub["send_phone"], bool):
            raise ValueError(f"{where}.send_phone: must be true or false")
        values["send_phone"] = sub["send_phone"]
    return replace(base, **values)


def _known(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise ValueError(f"{where}.{extra[0]}: unknown key")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be a table")
    return value


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{where}: must be a number > 0")
    return float(value)
