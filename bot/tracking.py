"""Tracking use cases: apply carrier events, sweep due shipments, find stuck ones.

`apply` stores each event once, re-derives the shipment's status from all its events by
event time, moves the shipment and its order through the state machine (never backwards),
logs each order transition as ``carrier:<code>`` and returns ShipmentStatusChanged events;
all of it in one transaction per shipment, together with whatever `on_changes` writes
(the notification outbox). `sweep` polls the shipments whose `next_poll_at` is due, per
carrier, in batches the API allows, under a global concurrency bound and a per-carrier pace,
and never asks for one waybill sooner than that carrier's minimum gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot import orderstatus
from bot.domain import orders as sm
from bot.domain import tracking as domain
from bot.domain.tracking import (
    ACTIVE,
    CarrierLimits,
    Checkpoint,
    Timeline,
    TrackingConfig,
)
from bot.events import ShipmentStatusChanged
from bot.orderstatus import Seen, Step
from bot.retry import Pacer
from integrations.carriers.base import (
    CarrierClient,
    CarrierError,
    CarrierRateLimited,
    CommonStatus,
    TrackingEvent,
)
from integrations.carriers.kuaidi100 import COMPANIES as KUAIDI100_COMPANIES
from integrations.carriers.sandbox import PREFIX as SANDBOX_PREFIX
from integrations.carriers.sandbox import SandboxTrip
from storage import tracking_models as store
from storage.models import OrderStatus, Shipment
from storage.tracking_models import DESCRIPTION_MAX, LOCATION_MAX, ShipmentTracking

__all__ = ["ShipmentStatusChanged", "StuckShipment", "SweepReport", "TrackingConfig",
           "TrackingService"]
log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
CHUNK = 500  # ids per IN (...) list
# A shipment due within this much after the sweep's `now` is taken now: the scheduler starts
# each run a few ms late or early, and "now + interval" must not slip to the tick after.
DUE_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class StuckShipment:
    order_no: str
    shipment_id: int
    waybill: str
    carrier: str
    status: OrderStatus
    since: datetime  # last event, or shipping time when there was none
    hours: float
    salesperson: str | None  # the order's salesperson, else the customer's sales owner


@dataclass
class SweepReport:
    due: int = 0
    enrolled: int = 0
    queried: int = 0  # waybills sent to a carrier
    calls: int = 0
    events: int = 0  # new events stored
    changes: int = 0
    skipped_too_soon: int = 0
    deferred: int = 0  # left for a later sweep: the carrier is backing off
    no_client: int = 0
    unknown_waybills: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # exception type -> waybills
    by_carrier: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


@dataclass
class Applied:
    changes: list[ShipmentStatusChanged] = field(default_factory=list)
    stored: int = 0
    unknown: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Due:
    tracking_id: int
    shipment_id: int
    order_id: int
    last_polled_at: datetime | None
    subscribed: bool
    waybill: str
    carrier: str
    phone: str


class TrackingService:
    def __init__(self, settings: Any, clients: Mapping[str, CarrierClient],
                 clock: Clock = lambda: datetime.now(UTC), *,
                 config: TrackingConfig | None = None,
                 on_changes: Callable[[Sequence[ShipmentStatusChanged]], Awaitable[None]]
                 | None = None, serving: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.clients = dict(clients)
        self.serving = dict(serving or {})  # courier → the client key of its provider
        self.config = config or getattr(settings, "tracking", None) or TrackingConfig()
        self._clock = clock
        self._on_changes = on_changes
        self._gates: dict[str, Pacer] = {}
        self._sem = asyncio.Semaphore(self.config.concurrency)
        self.unknown_waybills = 0

    def _now(self) -> datetime:
        return _utc(self._clock())

    def apply_config(self, config: TrackingConfig) -> None:
        """New limits, stuck hours and routes take effect from the next sweep (config reload);
        the scheduler's intervals stay until a restart."""
        self.config = config
        self._gates = {}
        self._sem = asyncio.Semaphore(config.concurrency)

    # ---- routing -------------------------------------------------------------------------

    def client_for(self, carrier: str | None, waybill: str) -> str | None:
        """The client that tracks a shipment: sandbox numbers, a route, the provider serving
        the courier (its direct client, or Kuaidi100 with the courier's kuaidicom)."""
        if waybill.startswith(SANDBOX_PREFIX):
            return "sandbox" if "sandbox" in self.clients else None
        code = carrier or ""
        routed = self.config.route.get(code)
        if routed in self.clients:
            return routed
        served = self.serving.get(code)
        if served in self.clients:
            return served
        if code in self.clients:
            return code
        k100 = self.clients.get("kuaidi100")
        if k100 is not None and KUAIDI100_COMPANIES.get(code) == getattr(k100, "company", None):
            return "kuaidi100"
        return None

    def tick_minutes(self) -> float:
        """How often the sweep should run: the shortest interval of the clients present."""
        return min([self.config.interval_minutes,
                    *(self.config.interval_for(code) for code in self.clients)])

    # ---- apply ---------------------------------------------------------------------------

    async def apply(self, events: Sequence[TrackingEvent], *, pushed: bool = False
                    ) -> list[ShipmentStatusChanged]:
        """Store new events once, move shipments and orders; see the module docstring."""
        return (await self.apply_detailed(events, pushed=pushed)).changes

    async def apply_detailed(self, events: Sequence[TrackingEvent], *, pushed: bool = False
                             ) -> Applied:
        by_waybill = _by_waybill(events)
        targets = await _shipments_by_waybill(list(by_waybill))
        out = Applied(unknown=sorted(set(by_waybill) - set(targets)))
        if out.unknown:
            self.unknown_waybills += len(out.unknown)
            log.warning("tracking: %d event(s) for unknown waybills ignored: %s",
                        sum(len(by_waybill[w]) for w in out.unknown), out.unknown[:10])
        for chunk in _chunks(list(targets.items())):
            stored = await _stored([sid for _, (sid, _) in chunk])
            for waybill, (sid, oid) in chunk:
                changes, added = await self._apply_one(sid, oid, by_waybill[waybill], pushed,
                                                       stored[sid])
                out.changes += changes
                out.stored += added
        return out

    async def _apply_one(self, shipment_id: int, order_id: int,
                         events: Sequence[TrackingEvent], pushed: bool,
                         seen: Sequence[Checkpoint] | None = None
                         ) -> tuple[list[ShipmentStatusChanged], int]:
        """One shipment in one transaction; `seen` (read before) skips it when nothing is new."""
        if seen is not None and not pushed and not domain.timeline(seen, events).added:
            return [], 0  # the usual poll: nothing new, no transaction
        async with in_transaction():
            # Order row first, then the shipment: the lock order OrderService uses.
            order = await store.lock_order(order_id)
            ship = await store.lock_shipment(shipment_id)
            tl = domain.timeline((await _stored([shipment_id]))[shipment_id], events)
            if not tl.added and not pushed:
                return [], 0
            await store.insert_events([_row(shipment_id, e) for e in tl.added])
            await self._track_state(shipment_id, tl, pushed)
            changes = await self._move(order_id, order, shipment_id, ship, tl)
            if changes and self._on_changes is not None:
                await self._on_changes(changes)
        return changes, len(tl.added)

    async def _track_state(self, shipment_id: int, tl: Timeline, pushed: bool) -> None:
        values: dict[str, Any] = {}
        if tl.checkpoints:
            values["last_event_at"] = tl.checkpoints[-1].occurred_at
        if tl.derived is not None:
            values["status"] = tl.derived.status.value
        if tl.derived is not None and domain.is_terminal(tl.derived.status):
            values["next_poll_at"] = None
        elif pushed:
            minutes = self.config.subscribed_interval_minutes
            values["next_poll_at"] = self._now() + timedelta(minutes=minutes)
        if pushed:
            values["subscribed"] = True
        if values and not await store.update_tracking(shipment_id, values):
            await store.insert_tracking(shipment_id, {"next_poll_at": self._now(), **values})

    async def _move(self, order_id: int, order: tuple[str, str], shipment_id: int,
                    ship: tuple[str, str | None, str | None], tl: Timeline
                    ) -> list[ShipmentStatusChanged]:
        """Move the shipment, then its order, as the carrier reports (bot/domain/orders.py
        `carrier_move`: stale reports are ignored, reports about an order not handed over
        raise IllegalTransition and roll the whole shipment back)."""
        if tl.derived is None:
            return []
        target = domain.order_status_for(tl.derived.status)
        old, ship_carrier, waybill = OrderStatus(ship[0]), ship[1], ship[2] or ""
        if not sm.carrier_move(order[0], old, target):
            if target != old:
                log.info("tracking: %s %s → %s ignored (stale)", waybill, old.value,
                         target.value)
            return []
        delivered = tl.derived.at if target == OrderStatus.delivered else None
        await store.set_shipment(shipment_id, target.value, delivered)
        carrier = tl.added[-1].carrier if tl.added else (ship_carrier or "")
        moved = await self._move_order(order_id, order, carrier, tl, {
            "shipment_id": shipment_id, "waybill": waybill,
            "event": tl.added[-1].description if tl.added else "",
            "at": tl.derived.at.isoformat()})
        return [ShipmentStatusChanged(order[0], shipment_id, waybill, carrier, old, target,
                                      tl.derived.at, *moved)]

    async def _move_order(self, order_id: int, order: tuple[str, str], carrier: str,
                          tl: Timeline, detail: dict[str, Any]
                          ) -> tuple[OrderStatus | None, OrderStatus | None]:
        rows = await store.order_shipments(order_id)
        target = sm.derived_status(OrderStatus(s) for s, _ in rows)
        old = OrderStatus(order[1])
        if not sm.carrier_move(order[0], old, target):
            return None, None
        columns: dict[str, Any] = {}
        if target == OrderStatus.delivered:
            columns["delivered_at"] = max((at for _, at in rows if at is not None),
                                          default=tl.derived.at if tl.derived else None)
        await orderstatus.move(Seen(order_id, order[0], old), Step(target, "track", detail),
                               actor=f"carrier:{carrier}", at=self._now(), columns=columns)
        return old, target

    # ---- sweep ---------------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> SweepReport:
        """Poll every due shipment once. Carrier and per-shipment errors are counted in the
        report, never raised; only a database that cannot even list due rows raises."""
        now = _utc(now) if now else self._now()
        started = asyncio.get_running_loop().time()
        report = SweepReport(enrolled=await self._enroll(now))
        due = await _due(now)
        report.due = len(due)
        groups = await self._group(due, now, report)
        await asyncio.gather(*(self._sweep_client(code, rows, now, started, report)
                               for code, rows in groups.items()))
        report.seconds = asyncio.get_running_loop().time() - started
        log.info("tracking sweep: %s", report)
        return report

    async def _enroll(self, now: datetime) -> int:
        """Give every shipped shipment without poll state a row, due at once."""
        ids = await Shipment.filter(status__in=ACTIVE, waybill_no__isnull=False,
                                    tracking__id__isnull=True).values_list("id", flat=True)
        rows = [ShipmentTracking(shipment_id=i, next_poll_at=now) for i in ids]
        await ShipmentTracking.bulk_create(rows, batch_size=CHUNK, ignore_conflicts=True)
        return len(rows)

    async def _group(self, due: list[_Due], now: datetime, report: SweepReport
                     ) -> dict[str, list[_Due]]:
        groups: dict[str, list[_Due]] = defaultdict(list)
        later: dict[datetime, list[int]] = defaultdict(list)
        for d in due:
            code = self.client_for(d.carrier, d.waybill)
            if code is None:
                report.no_client += 1
                later[now + timedelta(minutes=self.config.interval_minutes)].append(d.tracking_id)
                continue
            gap = timedelta(minutes=self.config.limits(code).min_gap_minutes)
            if d.last_polled_at is not None and d.last_polled_at + gap > now:
                report.skipped_too_soon += 1
                later[d.last_polled_at + gap].append(d.tracking_id)
                continue
            groups[code].append(d)
        for at, ids in later.items():
            await _set_next_poll(ids, at)
        return groups

    async def _sweep_client(self, code: str, rows: list[_Due], now: datetime, started: float,
                            report: SweepReport) -> None:
        limits = self.config.limits(code)
        batches = iter([rows[i:i + limits.batch_size]
                        for i in range(0, len(rows), limits.batch_size)])
        workers = min(limits.concurrency, -(-len(rows) // limits.batch_size))
        await asyncio.gather(*(self._worker(code, limits, batches, now, started, report)
                               for _ in range(workers)))

    def _gate(self, code: str, limits: CarrierLimits) -> Pacer:
        """The carrier's pace: one call per 1/rate seconds; paused while it backs us off."""
        gate = self._gates.get(code)
        if gate is None or gate.interval != 1.0 / limits.rate_per_second:
            gate = self._gates[code] = Pacer(1.0 / limits.rate_per_second)
        return gate

    async def _worker(self, code: str, limits: CarrierLimits, batches: Iterator[list[_Due]],
                      now: datetime, started: float, report: SweepReport) -> None:
        gate = self._gate(code, limits)
        for batch in batches:
            if not await gate.wait(self.config.max_backoff_wait_seconds):
                report.deferred += len(batch)
                await _set_next_poll([d.tracking_id for d in batch],
                                     now + timedelta(seconds=gate.pause_left()))
                continue
            at = now + timedelta(seconds=asyncio.get_running_loop().time() - started)
            try:
                await self._mark_polled(code, batch, now, at)
            except Exception as exc:  # e.g. the database is busy: skip the batch, not the sweep
                log.exception("tracking: %s: recording the poll failed", code)
                report.errors[f"store:{type(exc).__name__}"] += len(batch)
                continue
            events = await self._query(code, limits, gate, batch, at, report)
            if events is not None:
                await self._apply_polled(batch, events, report)

    async def _mark_polled(self, code: str, batch: list[_Due], now: datetime, at: datetime
                           ) -> None:
        """Recorded before asking: a call that timed out may still have reached the carrier.

        The interval counts from the sweep's `now` (so the next tick finds it due), the
        carrier's minimum gap from `at`, when the call actually goes out.
        """
        gap = timedelta(minutes=self.config.limits(code).min_gap_minutes)
        by_next: dict[datetime, list[int]] = defaultdict(list)
        for d in batch:
            minutes = (self.config.subscribed_interval_minutes if d.subscribed
                       else self.config.interval_for(code))
            by_next[max(now + timedelta(minutes=minutes), at + gap)].append(d.tracking_id)
        for next_at, ids in by_next.items():
            await store.mark_polled(ids, at, next_at)

    async def _query(self, code: str, limits: CarrierLimits, gate: Pacer, batch: list[_Due],
                     at: datetime, report: SweepReport) -> list[TrackingEvent] | None:
        asks = [(d.waybill, d.phone if limits.send_phone else None) for d in batch]
        report.queried += len(batch)
        report.by_carrier[code] += len(batch)
        report.calls += 1
        try:
            async with self._sem:
                return await self.clients[code].query(asks)
        except CarrierRateLimited as exc:
            wait = exc.retry_after or self.config.rate_limit_backoff_seconds
            gate.pause(wait)
            log.warning("tracking: %s rate-limited, backing off %.0f s: %s", code, wait, exc)
            retry = at + timedelta(seconds=max(wait, limits.min_gap_minutes * 60))
            await _set_next_poll([d.tracking_id for d in batch], retry)
            report.errors[type(exc).__name__] += len(batch)
        except CarrierError as exc:
            log.warning("tracking: %s query failed for %d waybill(s): %s", code, len(batch), exc)
            report.errors[type(exc).__name__] += len(batch)
        except Exception as exc:  # a bug or an unwrapped transport error: count, go on
            log.exception("tracking: %s query crashed for %d waybill(s)", code, len(batch))
            report.errors[type(exc).__name__] += len(batch)
        return None

    async def _apply_polled(self, batch: list[_Due], events: list[TrackingEvent],
                            report: SweepReport) -> None:
        by_waybill = _by_waybill(events)
        report.unknown_waybills += len(set(by_waybill) - {d.waybill for d in batch})
        batch = [d for d in batch if by_waybill.get(d.waybill)]
        try:
            seen = await _stored([d.shipment_id for d in batch])
        except Exception as exc:
            log.exception("tracking: reading stored events failed")
            report.errors[f"apply:{type(exc).__name__}"] += len(batch)
            return
        for d in batch:
            try:
                changes, stored = await self._apply_one(d.shipment_id, d.order_id,
                                                        by_waybill[d.waybill], False,
                                                        seen[d.shipment_id])
            except Exception as exc:  # one shipment's failure must not stop the sweep
                log.exception("tracking: applying events of %s failed", d.waybill)
                report.errors[f"apply:{type(exc).__name__}"] += 1
                continue
            report.events += stored
            report.changes += len(changes)

    # ---- stuck shipments -----------------------------------------------------------------

    async def find_stuck(self, now: datetime | None = None) -> list[StuckShipment]:
        """Shipments with no event for their status's hours, each alerted once per silence."""
        now = _utc(now) if now else self._now()
        found: list[StuckShipment] = []
        for status, hours in self.config.stuck_hours.items():
            cutoff = now - timedelta(hours=hours)
            rows = await ShipmentTracking.filter(
                Q(last_event_at__lt=cutoff)
                | Q(last_event_at__isnull=True, shipment__shipped_at__lt=cutoff),
                next_poll_at__isnull=False, shipment__status=status,
            ).values_list("id", "last_event_at", "stuck_alerted_at", "shipment__shipped_at",
                          "shipment_id", "shipment__waybill_no", "shipment__carrier",
                          "shipment__order__no", "shipment__order__salesperson",
                          "shipment__order__customer__sales_owner")
            for row in rows:
                item = await self._alert_once(row, OrderStatus(status), hours, now)
                if item is not None:
                    found.append(item)
        return found

    async def _alert_once(self, row: Sequence[Any], status: OrderStatus, hours: float,
                          now: datetime) -> StuckShipment | None:
        tid, last, alerted, shipped, sid, waybill, carrier, no, sales, owner = row
        since = last or shipped
        if since is None or (alerted is not None and alerted >= since):
            return None
        if not domain.stuck(status, since, now, self.config.stuck_hours):
            return None
        guard = ShipmentTracking.filter(id=tid)
        guard = (guard.filter(stuck_alerted_at__isnull=True) if alerted is None
                 else guard.filter(stuck_alerted_at=alerted))
        if not await guard.update(stuck_alerted_at=now):
            return None  # another run alerted it meanwhile
        return StuckShipment(no, sid, waybill or "", carrier or "", status, since, hours,
                             sales or owner)

    # ---- sandbox -------------------------------------------------------------------------

    async def sandbox_trips(self, waybills: Sequence[str]) -> dict[str, SandboxTrip]:
        """What the sandbox carrier is handed: shipping time and the lane's two cities."""
        out: dict[str, SandboxTrip] = {}
        for chunk in _chunks(list(waybills)):
            rows = await Shipment.filter(waybill_no__in=chunk).values_list(
                "waybill_no", "shipped_at", "warehouse__city", "order__city")
            out.update({w: SandboxTrip(at, origin or "", dest or "")
                        for w, at, origin, dest in rows if at is not None})
        return out


# ---- queries ---------------------------------------------------------------------------------

def _chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


async def _shipments_by_waybill(waybills: list[str]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(waybills):
        rows = await Shipment.filter(waybill_no__in=chunk).values_list(
            "waybill_no", "id", "order_id")
        out.update({w: (sid, oid) for w, sid, oid in rows})
    return out


async def _stored(shipment_ids: list[int]) -> dict[int, list[Checkpoint]]:
    rows = await store.stored_checkpoints(shipment_ids)
    return {sid: [Checkpoint(k, CommonStatus(s), at) for k, s, at in points]
            for sid, points in rows.items()}


def _by_waybill(events: Sequence[TrackingEvent]) -> dict[str, list[TrackingEvent]]:
    out: dict[str, list[TrackingEvent]] = defaultdict(list)
    for e in events:
        out[e.waybill].append(e)
    return out


async def _due(now: datetime) -> list[_Due]:
    rows = await ShipmentTracking.filter(
        next_poll_at__lte=now + DUE_SLACK, shipment__status__in=ACTIVE,
    ).order_by("next_poll_at").values_list(
        "id", "shipment_id", "shipment__order_id", "last_polled_at", "subscribed",
        "shipment__waybill_no", "shipment__carrier", "shipment__order__customer__phone")
    return [_Due(t, s, o, polled, bool(sub), w or "", c or "", phone or "")
            for t, s, o, polled, sub, w, c, phone in rows if w]


async def _set_next_poll(ids: list[int], at: datetime) -> None:
    for chunk in _chunks(ids):
        await ShipmentTracking.filter(id__in=chunk).update(next_poll_at=at)


def _row(shipment_id: int, e: TrackingEvent) -> dict[str, Any]:
    return {"shipment_id": shipment_id, "carrier": e.carrier[:16], "waybill": e.waybill[:40],
            "status": e.status.value, "occurred_at": e.occurred_at,
            "location": e.location[:LOCATION_MAX],
            "description": e.description[:DESCRIPTION_MAX], "raw": _jsonable(e.raw),
            "dedupe_key": domain.key_of(e)}


def _utc(at: datetime) -> datetime:
    """Datetimes go to the database in UTC: SQLite compares them as text."""
    return at.astimezone(UTC)


def _jsonable(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v if isinstance(v, str | int | float | bool | type(None) | list | dict)
            else str(v) for k, v in raw.items()}
