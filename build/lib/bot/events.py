"""Domain events that notify people: facts in the past tense, frozen, free of storage types.

Each event has a stable `event_id`: the same fact planned twice (a retried transaction, a
carrier push arriving twice) gives the same id, so the outbox's dedup key
``{event_id}:{recipient}:{channel}`` lets only one notification through. Distinct facts
must give distinct ids, so events that can recur for one order (a gate failing again after a
fix, a second 加急) carry `at` in their id.

`ShipmentStatusChanged.old/new` are status *values* (strings): the carriers' common set
(info_received, collected, in_transit, out_for_delivery, delivered, exception, returned) or
the order state machine's values (shipped, in_transit, …); `messages.notify` accepts both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


def _iso(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at is not None else ""


def _value(status: Any) -> str:
    """A StrEnum member or a plain string → its value."""
    return str(getattr(status, "value", status))


@dataclass(frozen=True)
class OrderConfirmed:
    order_no: str
    at: datetime

    @property
    def event_id(self) -> str:
        return f"order_confirmed:{self.order_no}"


@dataclass(frozen=True)
class OrderCancelled:
    """The order was cancelled (`was`: the status it had, e.g. allocated) by `by`."""

    order_no: str
    by: str
    reason: str
    was: str
    at: datetime

    @property
    def event_id(self) -> str:
        return f"order_cancelled:{self.order_no}"


@dataclass(frozen=True)
class OrderShipped:
    """One shipment of the order was handed to the carrier (已出库)."""

    order_no: str
    shipment_seq: int
    carrier: str
    waybill_no: str
    at: datetime

    @property
    def event_id(self) -> str:
        return f"shipped:{self.order_no}:{self.shipment_seq}"


@dataclass(frozen=True)
class ShipmentStatusChanged:
    """A shipment moved (bot/tracking.py); `order_old`/`order_new` are set when its order
    moved with it. `at` is the event time of the carrier node that moved it."""

    order_no: str
    shipment_id: int
    waybill: str
    carrier: str
    old: str
    new: str
    at: datetime
    order_old: str | None = None
    order_new: str | None = None

    @property
    def event_id(self) -> str:
        new = _value(self.new)
        # Progress happens once per shipment; an exception can recur (on another day).
        suffix = f":{_iso(self.at)}" if new in ("exception", "returned") else ""
        return f"status:{self.shipment_id}:{new}{suffix}"


@dataclass(frozen=True)
class GateFailed:
    """Gates stopped the order; `gates` holds (code, message) pairs of the failed ones."""

    order_no: str
    gates: tuple[tuple[str, str], ...]
    at: datetime | None = None

    @property
    def event_id(self) -> str:
        codes = ",".join(sorted(code for code, _ in self.gates))
        return f"gate_failed:{self.order_no}:{codes}:{_iso(self.at)}"


@dataclass(frozen=True)
class ReleaseRequested:
    """A salesperson asked the managers to release a credit hold (申请放行); `gates` holds
    (code, message) pairs of every gate result, so the manager sees what passed too."""

    order_no: str
    by: str
    gates: tuple[tuple[str, bool, str], ...]
    amount: str = ""  # the order total as people read it: "¥2,600.00"
    at: datetime | None = None

    @property
    def event_id(self) -> str:
        return f"release_requested:{self.order_no}:{_iso(self.at)}"


@dataclass(frozen=True)
class UrgentOrder:
    """A manager expedited the order (加急): the warehouse group hears of it."""

    order_no: str
    by: str
    reason: str
    at: datetime | None = None

    @property
    def event_id(self) -> str:
        return f"urgent:{self.order_no}:{_iso(self.at)}"


@dataclass(frozen=True)
class ShipmentHeld:
    """The carrier refused or failed to issue an e-waybill: the shipment waits and retries.

    `retry_at` is None when retries are exhausted (a person must act)."""

    order_no: str
    shipment_seq: int
    carrier: str
    reason: str
    attempts: int
    retry_at: datetime | None = None

    @property
    def event_id(self) -> str:
        # One alert per hold, and one more when retries give up.
        final = ":final" if self.retry_at is None else ""
        return f"ship_held:{self.order_no}:{self.shipment_seq}{final}"


@dataclass(frozen=True)
class ShipmentStuck:
    """No carrier event for `hours` since `since`: the salesperson should chase the carrier."""

    order_no: str
    shipment_id: int
    waybill: str
    carrier: str
    status: str
    since: datetime
    hours: float

    @property
    def event_id(self) -> str:
        return f"stuck:{self.shipment_id}:{_iso(self.since)}"


@dataclass(frozen=True)
class DelayRisk:
    """The promise `promised_at` will probably be missed: the salesperson should act."""

    order_no: str
    promised_at: datetime

    @property
    def event_id(self) -> str:
        return f"delay_risk:{self.order_no}:{_iso(self.promised_at)}"


@dataclass(frozen=True)
class DailyReport:
    day: date

    @property
    def event_id(self) -> str:
        return f"daily_report:{self.day.isoformat()}"


Event = (OrderConfirmed | OrderCancelled | OrderShipped | ShipmentStatusChanged | GateFailed
         | ReleaseRequested | UrgentOrder | ShipmentHeld | ShipmentStuck | DelayRisk | DailyReport)


def event_id(event: Any) -> str:
    """The stable id of any event above (or of a look-alike with the same fields)."""
    eid = getattr(event, "event_id", None)
    if isinstance(eid, str):
        return eid
    raise TypeError(f"not a notifying event: {type(event).__name__}")
