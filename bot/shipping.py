"""Handing orders to carriers: e-waybills first, then the ship transaction; holds and retries.

`ShippingService.ship` asks the provider serving the shipment's courier (its direct client, or
Kuaidi100 with the courier's account; only in sandbox mode, with no live provider configured at
all, the sandbox) for an e-waybill per reserved shipment *outside* any transaction, so a slow
carrier never holds the order's row lock, and stores each number on its shipment at once
(only while none is stored). The carrier order id is `{order no}-{shipment seq}`, so asking
again never makes a second waybill at the carrier: SF and Kuaidi100 answer a repeat with the
first waybill; ZTO and JD refuse it, and the number a concurrent caller stored is taken instead.

When every shipment has its waybill, `OrderService.ship` deducts stock and moves the order in
one transaction. A carrier error holds the shipment instead (`storage.shipping_models`): the
carrier's own words, the attempts, and the next try after an exponential back-off with
jitter (bot/retry.py); when the attempts run out `retry_at` is None and a person must act.
Tracking pushes are subscribed after the ship commit, best effort (the sweep polls anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tortoise.transactions import in_transaction

from bot.domain import couriers
from bot.domain.orders import IllegalTransition
from bot.events import ShipmentHeld
from bot.ordering import NotFound, OrderService, WaybillMissing
from bot.retry import RetryPolicy
from integrations import geocode
from integrations.carriers import sandbox
from integrations.carriers.base import (
    CARRIER_NAMES,
    CarrierClient,
    CarrierDuplicateOrder,
    CarrierError,
    CarrierRateLimited,
    Party,
    WaybillRequest,
)
from storage import shipping_models as holds
from storage.models import (
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Role,
    Shipment,
    Staff,
    Warehouse,
)

log = logging.getLogger(__name__)
Notify = Callable[[Sequence[Any]], Awaitable[None]]
RETRY_ACTOR = "system:retry"
# A refused repeat (ZTO, JD) while another caller's number is on its way to the database.
DUPLICATE_WAIT_S, DUPLICATE_POLLS = 0.25, 12
# A refused or failed waybill: 1 min, doubling, capped at 1 h, 8 attempts, ±20 % spread.
DEFAULT_POLICY = RetryPolicy()


class Held(NamedTuple):
    seq: int
    carrier: str
    reason: str
    attempts: int
    retry_at: datetime | None


@dataclass
class ShipResult:
    order: Order
    shipped: bool
    held: list[Held] = field(default_factory=list)


class ShippingService:
    def __init__(self, service: OrderService, clients: Mapping[str, CarrierClient],
                 notify: Notify | None = None, policy: RetryPolicy = DEFAULT_POLICY,
                 clock: Callable[[], datetime] | None = None, *,
                 rand: Callable[[], float] = random.random, sandbox: bool | None = None
                 ) -> None:
        self.service = service
        self.clients = clients
        # Sandbox mode (SBX numbers) only with no live provider at all; by default: no clients.
        self.sandbox = not clients if sandbox is None else sandbox
        self.notify = notify
        self.policy = policy
        self._clock = clock
        self._rand = rand
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(UTC)

    # ---- ship ----------------------------------------------------------------------------

    async def ship(self, no: str, actor: str) -> ShipResult:
        """Waybills for every reserved shipment, then ship; or hold what the carrier refused.

        Raises NotFound, or IllegalTransition when the order is not `allocated`.
        """
        async with self._order_lock(no):
            try:
                return await self._ship(no, actor)
            except WaybillMissing:  # re-allocated between the carrier and the commit
                return await self._ship(no, actor)

    async def _ship(self, no: str, actor: str) -> ShipResult:
        order = await self.service.get(no)
        if order.status != OrderStatus.allocated:
            raise IllegalTransition(no, order.status, OrderStatus.shipped)
        ships = await Shipment.filter(order_id=order.id, reserved=True).order_by("seq")
        missing = [s for s in ships if not s.waybill_no]
        known = {h.shipment_id for h in await holds.holds_of(order.id)}
        answers = await asyncio.gather(*[self._issue(order, s) for s in missing])
        held = [await self._hold(order, s, a) for s, a in zip(missing, answers, strict=True)
                if isinstance(a, CarrierError)]
        await holds.release([s.id for s, a in zip(missing, answers, strict=True)
                             if s.id in known and not isinstance(a, CarrierError)])
        if held:
            return ShipResult(await self.service.get(no), False, held)
        shipped = await self.service.ship(no, actor)
        if known:
            await holds.release_order(shipped.id)
        await self._subscribe(shipped)
        return ShipResult(shipped, True, [])

    @contextlib.asynccontextmanager
    async def _order_lock(self, no: str) -> AsyncIterator[None]:
        """One ship of an order at a time in this process (others find it done)."""
        lock = self._locks.get(no)
        if lock is None:
            lock = self._locks[no] = asyncio.Lock()
        async with lock:
            yield

    async def _issue(self, order: Order, s: Shipment) -> str | CarrierError:
        """The shipment's waybill, stored at once; or the carrier's error."""
        client = self.clients.get(s.carrier or "")
        try:
            if client is None and self.sandbox:
                number = await sandbox.issue_waybill(order, s)
            elif client is None:  # a live installation never issues a sandbox number
                raise CourierUnavailable(self._why_unavailable(s.carrier or ""),
                                         carrier=s.carrier or "")
            else:
                number = await self._create(client, order, s)
        except CarrierError as exc:
            return exc
        except Exception as exc:  # a carrier client bug must hold, not crash, the shipment
            log.exception("waybill for %s-%s: carrier call crashed", order.no, s.seq)
            name = CARRIER_NAMES.get(s.carrier or "", s.carrier or "")
            return CarrierError(f"{name}接口异常：{type(exc).__name__}", carrier=s.carrier or "")
        stored = await holds.store_waybill(s.id, number)
        if stored is not None and stored != number:
            log.error("shipment %s-%s: carrier gave %s but %s was stored first; keeping it",
                      order.no, s.seq, number, stored)
        s.waybill_no = stored or number
        return s.waybill_no

    def _why_unavailable(self, courier: str) -> str:
        service = couriers.plan(self.service.settings).get(courier)
        if service is not None and service.reason:
            return service.reason
        return f"{couriers.short_name(courier) or '未指定快递'}未开通：没有可用的承运渠道"

    async def _create(self, client: CarrierClient, order: Order, s: Shipment) -> str:
        try:
            return (await client.create_waybill(await request_for(
                order, s, self.service.settings.default_weight_kg))).waybill_no
        except CarrierDuplicateOrder:
            # The first request's number is stored by whoever got it (another instance).
            for _ in range(DUPLICATE_POLLS):
                if number := await holds.waybill_of(s.id):
                    return number
                await asyncio.sleep(DUPLICATE_WAIT_S)
            raise

    async def _hold(self, order: Order, s: Shipment, exc: CarrierError) -> Held:
        now, carrier = self._now(), s.carrier or exc.carrier
        reason = reason_of(exc, carrier)
        # Asking again cannot undo a refused repeat, nor configure a courier: a person acts.
        final = isinstance(exc, CarrierDuplicateOrder | CourierUnavailable)
        wait = exc.retry_after if isinstance(exc, CarrierRateLimited) else None
        rand = self._rand()

        def retry_at(attempts: int) -> datetime | None:
            return None if final else self.policy.retry_at(attempts, now, rand, wait)

        async with in_transaction():
            hold = await holds.record_failure(s.id, carrier, reason, now, retry_at)
            if self.notify is not None:
                await self.notify([ShipmentHeld(order.no, s.seq, carrier, reason,
                                                hold.attempts, hold.retry_at)])
        log.warning("shipment %s-%s held (attempt %d, retry %s): %s", order.no, s.seq,
                    hold.attempts, hold.retry_at.isoformat() if hold.retry_at else "never",
                    reason)
        return Held(s.seq, carrier, reason, hold.attempts, hold.retry_at)

    # ---- tracking subscription -----------------------------------------------------------

    async def _subscribe(self, order: Order) -> None:
        """Ask carriers that push to push these waybills; a failure is only logged."""
        ships = [s for s in await Shipment.filter(order_id=order.id).order_by("seq")
                 if s.waybill_no and getattr(self.clients.get(s.carrier or ""), "subscribe",
                                             None)]
        if not ships:
            return
        phone = (await Customer.get(id=order.customer_id)).phone
        for s in ships:
            client = self.clients[s.carrier or ""]
            try:
                await self._subscribe_one(client, s.waybill_no or "", phone)
            except Exception as exc:  # the 15-minute sweep polls it anyway
                log.warning("tracking subscription of %s (%s) failed: %s", s.waybill_no,
                            client.code, exc)

    async def _subscribe_one(self, client: Any, number: str, phone: str) -> None:
        if client.code == "kuaidi100":  # pushes go to our callback, signed with the salt
            base = self.service.settings.public_url.rstrip("/")
            await client.subscribe(number, phone, f"{base}/carriers/{client.code}/push")
        else:
            await client.subscribe(number, phone)

    # ---- retries -------------------------------------------------------------------------

    async def retry_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """Ship orders whose holds are due, longest waiting first; returns how many shipped."""
        await holds.drop_settled()
        shipped = 0
        for no in await holds.due_orders(now or self._now(), limit):
            try:
                result = await self.ship(no, RETRY_ACTOR)
            except (IllegalTransition, NotFound):  # shipped or cancelled meanwhile
                continue
            except Exception:
                log.exception("shipping retry of %s failed; its hold stays", no)
                continue
            shipped += result.shipped
        return shipped


class CourierUnavailable(CarrierError):
    """No provider serves the shipment's courier in this (live) installation."""


def reason_of(exc: CarrierError, carrier: str) -> str:
    """The carrier's message with its Chinese name in front: "顺丰：月结卡号已失效"."""
    code = exc.carrier or carrier
    name = CARRIER_NAMES.get(code) or couriers.short_name(code)
    message = exc.message or str(exc) or type(exc).__name__
    if isinstance(exc, CourierUnavailable):  # "京东物流未开通：…" names the courier already
        return message
    return message if message.startswith(name) else f"{name}：{message}"


async def request_for(order: Order, shipment: Shipment, default_weight_kg: float = 0.5
                      ) -> WaybillRequest:
    wh = await Warehouse.get(id=shipment.warehouse_id)
    customer = await Customer.get(id=order.customer_id)
    skus = [ln["sku"] for ln in shipment.lines]
    weights = dict(await Product.filter(sku__in=skus).values_list("sku", "weight_kg"))
    kg = sum(int(ln["qty"]) * float(weights.get(ln["sku"]) or default_weight_kg)
             for ln in shipment.lines)
    names = await OrderLine.filter(order_id=order.id, sku__in=skus).values_list("name", flat=True)
    return WaybillRequest(
        order_no=order.no, shipment_seq=shipment.seq,
        sender=await _sender(wh),
        receiver=Party(customer.contact or customer.name, customer.phone, order.province,
                       order.city, order.district, _street(order), company=customer.name),
        parcel_count=1, weight_kg=max(0.1, round(kg, 1)),
        description="汽车配件：" + "、".join(dict.fromkeys(_short(n) for n in names))[:60])


async def _sender(wh: Warehouse) -> Party:
    """The warehouse as sender: its contact and phone (import 联系人, 电话); without a phone,
    the first warehouse staff member's. The district is read from the address."""
    place = geocode.parse(f"{wh.province}{wh.city}{wh.address}") if wh.address else None
    phone = wh.phone
    if not phone:
        phones = await Staff.filter(role=Role.warehouse, active=True).exclude(
            mobile="").order_by("id").limit(1).values_list("mobile", flat=True)
        phone = str(phones[0]) if phones else ""
    return Party(wh.contact or wh.name, phone, _province(wh.province),
                 _city(wh.city), place.district if place else "",
                 (place.detail if place and place.detail else "") or wh.address,
                 company="履约配送中心")


def _street(order: Order) -> str:
    raw = order.address_raw
    for part in (order.province, order.city, order.district):
        raw = raw.replace(part, "", 1) if part else raw
    return raw.strip() or order.address_raw


def _province(name: str) -> str:
    return name if name.endswith(("省", "市", "区")) or not name else (
        name + "市" if name in ("上海", "北京", "天津", "重庆") else name + "省")


def _city(name: str) -> str:
    return name if not name or name.endswith("市") else name + "市"


def _short(name: str) -> str:
    """博世 前刹车片 大众朗逸 0986AB1234 → 前刹车片 (the part, not the brand or fitment)."""
    words = name.split()
    return words[1] if len(words) > 1 else name
