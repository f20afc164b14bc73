"""Order use cases: place, confirm, cancel, release, ship. Adapters call these; they own no rule.

Commands are plain dataclasses; results carry the gate results as values. Failures of input
(unknown SKU, bad quantity) raise InputError naming the field; illegal transitions raise
IllegalTransition; gate failures are results.

Notifications: each state change hands its domain events (bot/events.py) to `notify` inside
the same transaction, which writes them to the outbox (messages/delivery.Notifier): the
change and its notifications commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot import events as ev
from bot import orderstatus
from bot.catalog import Catalog, ProductInfo
from bot.config import AllocationRule, Settings
from bot.domain import eta, vocab
from bot.domain import orders as sm
from bot.domain.allocation import (
    Allocation,
    Destination,
    LineNeed,
    Rank,
    StockLevel,
    WarehouseInfo,
    allocate,
)
from bot.domain.coverage import choose_carrier, transit_hours
from bot.domain.gates import CustomerView, GateResult, IntakeFacts, destination, failed, run_intake
from bot.domain.idempotency import IdempotencyConflict as IdempotencyConflict
from bot.domain.idempotency import fingerprint, same_request
from bot.domain.limits import MAX_PRICE
from bot.domain.roles import APPROVERS
from bot.order_input import InputError as InputError
from bot.order_input import PriceNotApproved as PriceNotApproved
from bot.order_input import check_order, check_prices
from bot.orderstatus import Seen, Step
from integrations import geocode
from storage import orders_sql, reservations
from storage import stock as stock_q
from storage.models import Customer, Order, OrderLine, OrderLog, OrderStatus, Shipment, Staff

Notify = Callable[[Sequence[Any]], Awaitable[None]]
# InputError, PriceNotApproved and IdempotencyConflict are raised here and re-exported for the
# adapters; they are defined with the checks (bot/order_input.py, bot/domain/idempotency.py).


class NotFound(LookupError):
    def __init__(self, no: str) -> None:
        self.no = no
        super().__init__(f"订单{no}不存在")


class Forbidden(PermissionError):
    pass


class WaybillMissing(RuntimeError):
    """A reserved shipment has no e-waybill yet: ShippingService asks the carrier first."""


@dataclass(frozen=True)
class LineInput:
    sku: str
    qty: int
    price: Decimal | None = None


@dataclass(frozen=True)
class PlaceOrder:
    customer: str
    lines: Sequence[LineInput]
    address: str | None = None
    invoice: Mapping[str, str] | None = None
    channel: str = "api"
    campaign: str | None = None
    idempotency_key: str | None = None
    warehouse: str | None = None
    salesperson: str | None = None
    keep_failed: bool = False  # chat keeps a failing draft for a fix or a manager's release
    actor: str = "api"
    # Unit prices below [pricing] max_discount need a manager (APPROVERS): the adapter says
    # whether the caller is one (API key role; chat: the staff member's role).
    price_approved: bool = False


@dataclass(frozen=True)
class Approver:
    """Who releases a credit hold, when the adapter has already checked the role (an API key
    of a manager): the name written on the order."""

    userid: str
    name: str


@dataclass
class Outcome:
    order: Order | None
    gates: list[GateResult] = field(default_factory=list)
    replayed: bool = False
    customer: Customer | None = None
    lines: list[OrderLine] | None = None
    shipments: list[Shipment] | None = None

    @property
    def ok(self) -> bool:
        return not failed(self.gates)


@dataclass(frozen=True)
class Planned:
    """A tentative or final plan: gate facts, allocation and per-shipment promise."""

    facts: IntakeFacts
    gates: list[GateResult]
    allocation: Allocation
    shipments: list[dict[str, Any]]
    promised_at: datetime | None


class OrderService:
    def __init__(self, settings: Settings, catalog: Catalog, notify: Notify | None = None
                 ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.notify = notify

    async def _emit(self, *events: Any) -> None:
        """Inside the caller's transaction: the events' notifications join it."""
        if self.notify is not None and events:
            await self.notify(events)

    def apply_settings(self, settings: Settings) -> None:
        """New rules take effect for the next order (config reload)."""
        self.settings = settings
        self.catalog.apply_settings(settings)

    # ---- place -------------------------------------------------------------------------
    async def place(self, cmd: PlaceOrder) -> Outcome:
        check_order(cmd)
        fp = _fingerprint(cmd) if cmd.idempotency_key else None
        if cmd.idempotency_key and fp:
            existing = await orders_sql.order_by_key(cmd.idempotency_key)
            if existing is not None:
                return _replay(existing, cmd.idempotency_key, fp)
        now = _now()
        customer, lines, address, invoice, plan = await self._intake(cmd, now)
        if failed(plan.gates) and (not cmd.keep_failed or customer is None):
            return Outcome(None, plan.gates)
        try:
            order, rows, ships = await self._write_draft(cmd, customer, lines, address, invoice,
                                                         plan, now, fp)
        except IntegrityError:
            if not cmd.idempotency_key or not fp:
                raise
            replay = await orders_sql.order_by_key(cmd.idempotency_key)
            if replay is None:
                raise
            return _replay(replay, cmd.idempotency_key, fp)
        return Outcome(order, plan.gates, customer=customer, lines=rows, shipments=ships)

    async def quote(self, cmd: PlaceOrder, at: datetime) -> Planned:
        """What placing `cmd` as if confirmed `at` would plan: shipments with their promises
        and the gates, as a draft would have them. Writes nothing (POST /api/promise)."""
        check_order(cmd)
        return (await self._intake(cmd, at))[4]

    async def _intake(self, cmd: PlaceOrder, at: datetime) -> tuple[
            Customer | None, list[tuple[ProductInfo, int, Decimal]], str, dict[str, str],
            Planned]:
        """What placing and quoting share: lines checked against the catalogue and the price
        floor, the customer, the address and invoice (the customer master's by default), and
        the plan as of `at`: (customer, lines, address, invoice, plan)."""
        cat = await self.catalog.fresh()
        lines = self._validate_lines(cmd.lines, cat.products)
        check_prices([(i, p.sku, p.price, price) for i, (p, _, price) in enumerate(lines)],
                     self.settings.pricing, cmd.price_approved)
        customer = await _find_customer(cmd.customer)
        address = (cmd.address if cmd.address is not None
                   else customer.address if customer else "")
        invoice = _invoice_for(cmd.invoice, customer)
        plan = await self._plan(customer, cmd.customer, lines, address, invoice, cmd.campaign,
                                cmd.warehouse, None, at)
        return customer, lines, address, invoice, plan

    def _validate_lines(self, lines: Sequence[LineInput], products: Mapping[str, ProductInfo]
                        ) -> list[tuple[ProductInfo, int, Decimal]]:
        out = []  # count, quantities and given prices were checked by check_order
        for i, ln in enumerate(lines):
            p = products.get(ln.sku.strip().upper()) if ln.sku else None
            if p is None or not p.active:
                raise InputError(f"lines[{i}].sku", "unknown_sku", f"商品编码“{ln.sku}”不存在")
            price = p.price if ln.price is None else ln.price
            if price < 0 or price > MAX_PRICE:  # a list price outside the range
                raise InputError(f"lines[{i}].price", "bad_price", "单价应为0到一千万之间")
            out.append((p, ln.qty, price.quantize(Decimal("0.01"))))
        return out

    async def _plan(self, customer: Customer | None, ref: str,
                    lines: Sequence[tuple[ProductInfo, int, Decimal]], address: str,
                    invoice: Mapping[str, str], campaign: str | None, preferred: str | None,
                    released_by: str | None, at: datetime, urgent: bool = False) -> Planned:
        cat = self.catalog
        place = geocode.parse(address) if address else None
        dest = destination(place) if place else None
        needs = [LineNeed(i, p.sku, p.category, q) for i, (p, q, _) in enumerate(lines)]
        levels = await _stock_levels([p.id for p, _, _ in lines], cat)
        rank = self._fastest(dest, at) if urgent and dest else None
        alloc = (allocate(needs, dest, levels, cat.warehouses, self.settings, campaign, preferred,
                          rank)
                 if dest else _no_destination(needs, levels, cat, campaign))
        total = sum((price * q for _, q, price in lines), Decimal("0.00"))
        facts = IntakeFacts(
            customer=_view(customer), customer_ref=ref, total=total, allocation=alloc,
            place=place, address_raw=address or "", invoice=invoice,
            names={p.sku: p.name for p, _, _ in lines}, warehouses=cat.warehouses,
            credit_released_by=released_by,
            address_missing=geocode.missing_parts(address) if address and not place else "")
        gates = run_intake(facts, self.settings)
        shipments = self._shipments(alloc, dest, at) if dest and alloc.ok else []
        promised = max((s["promised_at"] for s in shipments if s["promised_at"]), default=None)
        return Planned(facts, gates, alloc, shipments, promised)

    def _fastest(self, dest: Destination, at: datetime) -> Rank:
        """Rank warehouses by when a parcel from them would arrive (urgent orders)."""
        def rank(wh: WarehouseInfo, rule: AllocationRule) -> float:
            carrier = choose_carrier(dest, rule.carriers, self.settings)
            if carrier is None:
                return float("inf")
            return self._promise(carrier, wh, dest, at)[0].timestamp()

        return rank

    def _promise(self, carrier: str, wh: WarehouseInfo, dest: Destination, at: datetime
                 ) -> tuple[datetime, float | None]:
        """The learnt wave's promise (and its within-window share) where the lane has one,
        else departure + transit hours (learnt or configured)."""
        cfg = self.settings.promise
        table = self.catalog.transit
        if table.waves:
            weekday = eta.departure_day(at, wh.cutoff, cfg).isoweekday()
            wave = table.wave(carrier, wh, dest, weekday)
            if wave is not None:
                promised = eta.promise_on_wave(at, wh.cutoff, cfg, wave[0])
                if promised is not None:
                    return promised, wave[1]
        hours = transit_hours(self.settings.carriers[carrier], wh, dest, self.settings.regions,
                              table)
        return eta.promise(at, wh.cutoff, hours, cfg), None

    def _shipments(self, alloc: Allocation, dest: Any, at: datetime) -> list[dict[str, Any]]:
        out = []
        order = list(self.catalog.warehouses)
        for seq, (wh_code, picks) in enumerate(alloc.by_warehouse(order), start=1):
            wh = self.catalog.warehouses[wh_code]
            rule = alloc.rules[picks[0].line]
            carrier = choose_carrier(dest, rule.carriers, self.settings)
            promised = None
            if carrier:
                promised = self._promise(carrier, wh, dest, at)[0]
            out.append({"seq": seq, "warehouse": wh_code, "carrier": carrier,
                        "promised_at": promised, "picks": picks})
        return out

    async def _write_draft(self, cmd: PlaceOrder, customer: Customer,
                           lines: Sequence[tuple[ProductInfo, int, Decimal]], address: str,
                           invoice: Mapping[str, str], plan: Planned, now: datetime,
                           fp: str | None = None
                           ) -> tuple[Order, list[OrderLine], list[Shipment]]:
        place = plan.facts.place
        status = OrderStatus.draft
        gates = [g.as_dict() for g in plan.gates]
        async with in_transaction():
            order = await orders_sql.insert_order(orders_sql.NewOrder(
                no_prefix=order_no_prefix(now), idempotency_key=cmd.idempotency_key,
                customer_id=customer.id, status=status, channel=cmd.channel,
                campaign=cmd.campaign, salesperson=cmd.salesperson,
                preferred_warehouse=cmd.warehouse, address_raw=address or "",
                province=place.province if place else "", city=place.city if place else "",
                district=place.area if place else "", adcode=place.adcode if place else "",
                lat=place.lat if place else None, lon=place.lon if place else None,
                invoice_type=invoice.get("type") or "普票", tax_id=invoice.get("tax_id", ""),
                bank=invoice.get("bank", ""), account=invoice.get("account", ""),
                total=plan.facts.total, gates=gates, promised_at=plan.promised_at,
                created_at=now, idempotency_fingerprint=fp))
            rows = await orders_sql.insert_lines(order.id, [
                orders_sql.NewLine(p.id, p.sku, p.name, p.category, q, price)
                for p, q, price in lines])
            ships = await orders_sql.replace_shipments(order.id, self._new_shipments(plan),
                                                       reserved=False, first=True)
            await orderstatus.created(Seen(order.id, order.no, status), actor=cmd.actor,
                                      action="place", at=now,
                                      detail={"channel": cmd.channel, "gates": gates})
        return order, rows, ships

    def _new_shipments(self, plan: Planned) -> list[orders_sql.NewShipment]:
        wh_ids, products = self.catalog.warehouse_ids, self.catalog.products
        return [orders_sql.NewShipment(
            s["seq"], wh_ids[s["warehouse"]], s["carrier"], s["promised_at"],
            [{"line": p.line, "sku": p.sku, "qty": p.qty, "floor": p.floor,
              "product_id": products[p.sku].id} for p in s["picks"]])
            for s in plan.shipments]

    async def _write_shipments(self, order: Order, plan: Planned, reserved: bool
                               ) -> list[Shipment]:
        return await orders_sql.replace_shipments(order.id, self._new_shipments(plan), reserved)

    # ---- confirm -----------------------------------------------------------------------
    async def confirm(self, no: str, actor: str = "api") -> Outcome:
        """Re-run the gates on current data, charge credit and reserve stock atomically."""
        read = await orders_sql.for_confirm(no)
        if read is None:
            raise NotFound(no)
        order, customer = read.order, read.customer
        sm.check(no, order.status, OrderStatus.confirmed)
        await self.catalog.fresh()
        lines = [(self.catalog.products_by_id[r.product_id], r.qty, r.unit_price)
                 for r in read.lines]
        now = _now()
        plan = await self._plan(customer, customer.code, lines, order.address_raw,
                                _order_invoice(order), order.campaign, order.preferred_warehouse,
                                order.credit_released_by, now, urgent=order.priority > 0)
        if failed(plan.gates):
            return await self._hold(order, actor, plan.gates)
        gates = [g.as_dict() for g in plan.gates]
        try:
            async with in_transaction():
                # The status write comes first: it also locks the order row on PostgreSQL,
                # so a second confirmation of the same order waits here, then finds it moved.
                await orderstatus.move(Seen(order.id, no, order.status), [
                    Step(OrderStatus.confirmed, "confirm", {"gates": gates}),
                    Step(OrderStatus.allocated, "allocate",
                         {"shipments": [_ship_summary(s) for s in plan.shipments]})],
                    actor=actor, at=now, columns={"gates": gates, "promised_at": plan.promised_at,
                                                  "confirmed_at": now})
                await stock_q.charge_credit(
                    customer.id, plan.facts.total, self.settings.credit_tolerance,
                    force=bool(order.credit_released_by),
                    seen=stock_q.CreditSeen(read.exposure_seen, customer.credit_limit))
                await reservations.reserve(order.id, self._holds(plan, read.lines), now)
                ships = await self._write_shipments(order, plan, reserved=True)
                await self._emit(ev.OrderConfirmed(no, now))
        except stock_q.CreditExceeded:
            return await self._hold(order, actor, _replace(plan.gates, GateResult(
                "credit", False, "信用额度不足（其他订单刚占用了额度），需经理放行或先回款")))
        except stock_q.OutOfStock as exc:
            return await self._hold(order, actor, _replace(plan.gates, GateResult(
                "stock", False, f"库存不足：{exc.move.sku}在{exc.move.warehouse}刚被其他订单锁定，"
                "请重新确认", {"sku": exc.move.sku, "warehouse": exc.move.warehouse})))
        order.gates, order.promised_at, order.confirmed_at = gates, plan.promised_at, now
        order.status = OrderStatus.allocated
        return Outcome(order, plan.gates, customer=customer, lines=read.lines, shipments=ships)

    def _holds(self, plan: Planned, lines: Sequence[OrderLine]) -> list[reservations.Hold]:
        """One reservation per pick: order line × warehouse × quantity."""
        ids = self.catalog.warehouse_ids
        return [reservations.Hold(lines[p.line].id, stock_q.StockMove(
                    ids[p.warehouse], self.catalog.products[p.sku].id, p.qty, p.floor, p.sku,
                    p.warehouse))
                for p in plan.allocation.picks]

    async def _hold(self, order: Order, actor: str, gates: list[GateResult]) -> Outcome:
        async with in_transaction():
            fresh = await Order.filter(id=order.id).select_for_update().get()
            if fresh.status not in (OrderStatus.draft, OrderStatus.on_hold):
                # Another confirmation won the race: refuse as a sequential one would.
                raise sm.IllegalTransition(fresh.no, fresh.status, OrderStatus.confirmed)
            # News for the salesperson: the order going on hold, or a hold whose failed gates
            # changed; a repeated confirm with the same result is not (however far apart).
            news = (fresh.status != OrderStatus.on_hold
                    or _failed_key(fresh.gates) != _failed_key([g.as_dict() for g in gates]))
            fresh.gates = [g.as_dict() for g in gates]
            await orderstatus.move(
                Seen(fresh.id, fresh.no, fresh.status),
                Step(OrderStatus.on_hold, "hold",
                     {"failed": [g.as_dict() for g in failed(gates)]}),
                actor=actor, at=_now(), columns={"gates": fresh.gates})
            fresh.status = OrderStatus.on_hold
            if news and actor != fresh.salesperson:  # one confirming in chat sees the card
                await self._emit(ev.GateFailed(fresh.no, tuple(
                    (g.code, g.message) for g in failed(gates)), _now()))
        return Outcome(fresh, gates)

    # ---- cancel, release, ship ---------------------------------------------------------
    async def cancel(self, no: str, actor: str = "api", reason: str = "") -> Order:
        """Cancel before shipping: reservations released, credit refunded, people told."""
        async with in_transaction():
            order = await Order.filter(no=no).select_for_update().get_or_none()
            if order is None:
                raise NotFound(no)
            sm.check(no, order.status, OrderStatus.cancelled)
            now = _now()
            if order.status == OrderStatus.allocated:
                await reservations.release(order.id, now)
                await stock_q.refund_credit(order.customer_id, order.total)
                await Shipment.filter(order_id=order.id).update(reserved=False,
                                                                status=OrderStatus.cancelled)
            prev = await orderstatus.move(
                Seen(order.id, no, order.status),
                Step(OrderStatus.cancelled, "cancel", {"reason": reason}), actor=actor, at=now)
            order.status = OrderStatus.cancelled
            await self._emit(ev.OrderCancelled(no, actor, reason, prev.value, now))
        return order

    async def release_credit(self, no: str, actor: str, reason: str,
                             approver: Approver | None = None) -> Outcome:
        """A manager lets an order past a failed credit gate; logged with who and why.

        Chat passes the staff member's user id as `actor` (checked here); the API passes the
        key's owner as `approver`, its role already checked."""
        if approver is None:
            staff = await Staff.get_or_none(userid=actor, active=True)
            if staff is None or staff.role not in APPROVERS:
                raise Forbidden(f"{actor}不是经理，不能放行信用额度")
            approver = Approver(staff.userid, staff.name)
        if not reason.strip():
            raise InputError("reason", "required", "放行需要写明原因")
        async with in_transaction():
            order = await Order.filter(no=no).select_for_update().get_or_none()
            if order is None:
                raise NotFound(no)
            if order.status not in (OrderStatus.draft, OrderStatus.on_hold):
                raise sm.IllegalTransition(no, order.status, OrderStatus.confirmed)
            order.credit_released_by = approver.name
            await order.save(update_fields=["credit_released_by"])
            await orderstatus.note(Seen(order.id, no, order.status), actor=actor,
                                   action="release_credit", at=_now(),
                                   detail={"by": approver.userid, "name": approver.name,
                                           "reason": reason})
        return await self.confirm(no, actor)

    async def request_release(self, no: str, actor: str) -> Outcome:
        """申请放行: the salesperson asks the managers to release a credit hold. A draft is
        held, and every manager is told once, with the gate results; asking again changes
        nothing (`replayed`). Only a failed credit gate can be released: anything else is
        an InputError telling what to fix."""
        async with in_transaction():
            order = await Order.filter(no=no).select_for_update().get_or_none()
            if order is None:
                raise NotFound(no)
            if order.status not in (OrderStatus.draft, OrderStatus.on_hold):
                raise sm.IllegalTransition(no, order.status, OrderStatus.on_hold)
            gates = _gates_from(order)
            bad = failed(gates)
            if not any(g.code == "credit" for g in bad):
                raise InputError("gates", "not_credit",
                                 "只有信用额度不足可以申请放行；请先修改：" +
                                 "；".join(g.message for g in bad))
            if await OrderLog.filter(order_id=order.id, action="request_release").exists():
                return Outcome(order, gates, replayed=True)
            now, seen = _now(), Seen(order.id, no, order.status)
            if order.status == OrderStatus.draft:
                await orderstatus.move(seen, Step(OrderStatus.on_hold, "hold", {
                    "failed": [g.as_dict() for g in bad]}), actor=actor, at=now)
                order.status = OrderStatus.on_hold
                seen = Seen(order.id, no, order.status)
            await orderstatus.note(seen, actor=actor, action="request_release", at=now)
            await self._emit(ev.ReleaseRequested(
                no, actor, tuple((g.code, g.ok, g.message) for g in gates),
                f"¥{order.total:,.2f}", now))
        return Outcome(order, gates)

    async def expedite(self, no: str, actor: str, reason: str = "") -> Outcome:
        """Raise priority and, while nothing has shipped, re-allocate for the fastest delivery.

        A draft or held order is allocated fastest-first when it is confirmed. An allocated
        order is re-planned now: its reservation moves in one transaction, or stays as it was
        when the faster warehouses cannot reserve (nothing is half-moved).
        """
        order = await _get(no)
        if order.status not in (OrderStatus.draft, OrderStatus.on_hold, OrderStatus.confirmed,
                                OrderStatus.allocated):
            raise sm.IllegalTransition(no, order.status, OrderStatus.allocated)
        before = order.promised_at
        plan = None
        # A shipment with its e-waybill already issued (shipping held or under way) stays
        # where it is: moving it would orphan a waybill the carrier has on record.
        if order.status == OrderStatus.allocated and not await Shipment.filter(
                order_id=order.id, waybill_no__isnull=False).exists():
            await self.catalog.fresh()
            customer = await Customer.get(id=order.customer_id)
            rows = await OrderLine.filter(order_id=order.id).order_by("id")
            lines = [(self.catalog.products_by_id[r.product_id], r.qty, r.unit_price)
                     for r in rows]
            plan = await self._plan(customer, customer.code, lines, order.address_raw,
                                    _order_invoice(order), order.campaign, None,
                                    order.credit_released_by, _now(), urgent=True)
            # Credit was charged at confirmation; only stock decides whether it can move.
            # Its own reservation still counts against it: move only to a faster promise.
            if not plan.allocation.ok or not plan.promised_at or (
                    before and plan.promised_at >= before):
                plan = None
        try:
            async with in_transaction():
                fresh = await Order.filter(id=order.id).select_for_update().get()
                now = _now()
                if plan and fresh.status == OrderStatus.allocated:
                    await reservations.release(fresh.id, now)
                    await reservations.reserve(fresh.id, self._holds(plan, rows), now)
                    await self._write_shipments(fresh, plan, reserved=True)
                    fresh.promised_at = plan.promised_at
                fresh.priority = max(fresh.priority, 1)
                await fresh.save(update_fields=["priority", "promised_at"])
                await orderstatus.note(Seen(fresh.id, no, fresh.status), actor=actor,
                                       action="expedite", at=now, detail={
                    "reason": reason, "moved": bool(plan),
                    "promised_before": before.isoformat() if before else None,
                    "promised_after": fresh.promised_at.isoformat() if fresh.promised_at
                    else None})
                await self._emit(ev.UrgentOrder(fresh.no, actor, reason, _now()))
        except stock_q.OutOfStock:
            return await self._mark_urgent(order, actor, reason, before)
        return Outcome(fresh, _gates_from(fresh))

    async def _mark_urgent(self, order: Order, actor: str, reason: str,
                           before: datetime | None) -> Outcome:
        """The faster stock went meanwhile: keep the allocation, still mark it urgent."""
        async with in_transaction():
            fresh = await Order.filter(id=order.id).select_for_update().get()
            fresh.priority = max(fresh.priority, 1)
            await fresh.save(update_fields=["priority"])
            await orderstatus.note(Seen(fresh.id, fresh.no, fresh.status), actor=actor,
                                   action="expedite", at=_now(), detail={
                "reason": reason, "moved": False,
                "promised_before": before.isoformat() if before else None})
            await self._emit(ev.UrgentOrder(fresh.no, actor, reason, _now()))
        return Outcome(fresh, _gates_from(fresh))

    async def ship(self, no: str, actor: str) -> Order:
        """The ship transaction, once every reserved shipment has its e-waybill (stored by
        ShippingService, which calls this): the reservations are consumed (on-hand and
        reserved go down together), the shipments and the order become `shipped`.

        Raises NotFound, IllegalTransition, or WaybillMissing (nothing changed then).
        """
        async with in_transaction():
            order = await Order.filter(no=no).select_for_update().get_or_none()
            if order is None:
                raise NotFound(no)
            sm.check(no, order.status, OrderStatus.shipped)
            ships = await Shipment.filter(order_id=order.id, reserved=True).order_by("seq")
            if missing := [s.seq for s in ships if not s.waybill_no]:
                raise WaybillMissing(f"order {no}: shipment(s) {missing} have no waybill")
            now = _now()
            await reservations.consume(order.id, now)
            await Shipment.filter(id__in=[s.id for s in ships]).update(
                status=OrderStatus.shipped, reserved=False, shipped_at=now)
            await orderstatus.move(Seen(order.id, no, order.status),
                                   Step(OrderStatus.shipped, "ship"), actor=actor, at=now,
                                   columns={"shipped_at": now})
            order.status, order.shipped_at = OrderStatus.shipped, now
            await self._emit(*(ev.OrderShipped(no, s.seq, s.carrier or "", s.waybill_no or "",
                                               now) for s in ships))
        return order

    async def get(self, no: str) -> Order:
        return await _get(no)


# ---- helpers ---------------------------------------------------------------------------


def _failed_key(gates: Sequence[Mapping[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    """The failed gates of stored gate results, comparable: (code, message) pairs."""
    return tuple(sorted((str(g.get("code")), str(g.get("message", "")))
                        for g in gates or () if not g.get("ok")))

def _now() -> datetime:
    return datetime.now(UTC)


def order_no_prefix(created_at: datetime) -> str:
    """LY + order date (Asia/Shanghai); storage/orders_sql.py appends the row id on insert,
    so numbers are unique and short enough to say on the phone."""
    return f"LY{created_at.astimezone(vocab.CST):%y%m%d}"


async def _get(no: str) -> Order:
    order = await Order.get_or_none(no=no)
    if order is None:
        raise NotFound(no)
    return order


async def _find_customer(ref: str) -> Customer | None:
    ref = (ref or "").strip()
    if not ref:
        return None
    return await orders_sql.customer_by_ref(ref)


def _fingerprint(cmd: PlaceOrder) -> str:
    return fingerprint(actor=cmd.actor, customer=cmd.customer,
                       lines=[(ln.sku, ln.qty, ln.price) for ln in cmd.lines],
                       address=cmd.address, invoice=cmd.invoice, channel=cmd.channel,
                       campaign=cmd.campaign, warehouse=cmd.warehouse)


def _replay(order: Order, key: str, fp: str) -> Outcome:
    """The order first placed with this key, when the request is the same one."""
    if not same_request(order.idempotency_fingerprint, fp):
        raise IdempotencyConflict(key)
    return Outcome(order, list(_gates_from(order)), replayed=True)


def _view(c: Customer | None) -> CustomerView | None:
    if c is None:
        return None
    return CustomerView(c.code, c.name, c.active, c.credit_limit, c.exposure)


def _invoice_for(given: Mapping[str, str] | None, c: Customer | None) -> dict[str, str]:
    """The order's invoice: what the request gave, each blank field filled from the customer
    master (a chat order that only says 专票 uses the tax ID, bank and account on file)."""
    on_file = ({"type": c.invoice_type, "tax_id": c.tax_id, "bank": c.bank,
                "account": c.account} if c is not None
               else {"type": "普票", "tax_id": "", "bank": "", "account": ""})
    if not given:
        return on_file
    return {k: str(given.get(k) or "").strip() or (on_file[k] or "") for k in on_file}


def _order_invoice(o: Order) -> dict[str, str]:
    return {"type": o.invoice_type, "tax_id": o.tax_id, "bank": o.bank, "account": o.account}


async def _stock_levels(product_ids: list[int], cat: Catalog) -> dict[str, list[StockLevel]]:
    rows = await orders_sql.stock_rows(product_ids)
    out: dict[str, list[StockLevel]] = {}
    for pid, wid, on_hand, reserved, safety in rows:
        sku = cat.products_by_id[pid].sku
        out.setdefault(sku, []).append(
            StockLevel(cat.warehouse_codes[wid], on_hand - reserved, safety))
    return out


def _no_destination(needs: list[LineNeed], levels: Mapping[str, list[StockLevel]], cat: Catalog,
                    campaign: str | None) -> Allocation:
    """Without an address there is no allocation; stock is still checked in total."""
    from bot.domain.allocation import Shortage

    shortages = []
    for n in needs:
        rows = [s for s in levels.get(n.sku, [])
                if cat.warehouses.get(s.warehouse) and
                (s.warehouse == campaign if campaign else not cat.warehouses[s.warehouse].virtual)]
        servable = sum(max(0, s.available - s.safety_stock) for s in rows)
        if servable < n.qty:
            shortages.append(Shortage(n.index, n.sku, n.qty, servable,
                                      tuple(s.warehouse for s in rows)))
    return Allocation((), tuple(shortages), {})


def _ship_summary(s: Mapping[str, Any]) -> dict[str, Any]:
    return {"warehouse": s["warehouse"], "carrier": s["carrier"],
            "promised_at": s["promised_at"].isoformat() if s["promised_at"] else None,
            "lines": [{"sku": p.sku, "qty": p.qty} for p in s["picks"]]}


def _replace(gates: list[GateResult], new: GateResult) -> list[GateResult]:
    return [new if g.code == new.code else g for g in gates]


def _gates_from(order: Order) -> list[GateResult]:
    return [GateResult(g["code"], g["ok"], g["message"], g.get("checked", {}))
            for g in order.gates or []]
