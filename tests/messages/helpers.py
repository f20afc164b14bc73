"""Shared by the messages tests: orders made directly in the database, clocks, channels."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from messages.channels import Outgoing, Permanent, Retry, Throttled
from messages.facts import CST
from messages.notify import NotifyConfig
from storage.models import Order, OrderStatus, Shipment

PUBLIC = "https://lvyue.example"
SECRET = "test-secret"


def china(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CST).astimezone(UTC)


def link(order_no: str) -> str:
    from bot.tokens import tracking_token

    return f"{PUBLIC}/t/{tracking_token(order_no, SECRET, 30, now=NOON)}"


NOON = china(2026, 11, 25, 12)


def config(**kw: Any) -> NotifyConfig:
    base: dict[str, Any] = {"link": link, "customer_channel": "wechat_oa",
                            "staff_channel": "wecom_app", "group_channel": "wecom_group",
                            "carrier_names": {"sf": "顺丰速运", "zto": "中通快递"}}
    return NotifyConfig(**(base | kw))


async def make_order(world: dict[str, Any], no: str = "SO20261125001", *,
                     customer: str = "C0001", shipments: int = 1,
                     salesperson: str | None = "zhangwei",
                     status: OrderStatus = OrderStatus.shipped) -> Order:
    cust = world["customers"][customer]
    order = await Order.create(
        no=no, customer=cust, status=status, salesperson=salesperson,
        address_raw=cust.address, total=Decimal("1200.00"),
        promised_at=china(2026, 11, 26, 15))
    whs = ["HZ01", "SH01", "NJ01"]
    for seq in range(1, shipments + 1):
        await Shipment.create(order=order, seq=seq, warehouse=world["warehouses"][whs[seq - 1]],
                              carrier="sf", waybill_no=f"SF{no[-6:]}{seq}", status=status,
                              promised_at=china(2026, 11, 26, 15))
    return order


class Clock:
    """A settable UTC clock for the dispatcher and the outbox."""

    def __init__(self, now: datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingChannel:
    """Records what it sends; `script` holds outcomes to play before succeeding."""

    latency: float = 0.0
    sent: list[Outgoing] = field(default_factory=list)
    script: list[Exception] = field(default_factory=list)
    fail_for: dict[str, Exception] = field(default_factory=dict)  # recipient → error, always
    calls: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    async def send(self, message: Outgoing) -> str | None:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if message.recipient in self.fail_for:
                raise self.fail_for[message.recipient]
            if self.script:
                raise self.script.pop(0)
            self.sent.append(message)
            return f"r-{message.id}"
        finally:
            self.in_flight -= 1

    def per_key(self) -> Counter[str]:
        return Counter(m.dedup_key for m in self.sent)


def errors(*kinds: str) -> Sequence[Exception]:
    table: dict[str, Exception] = {
        "retry": Retry("接口繁忙"), "throttled": Throttled("限流", 30.0),
        "permanent": Permanent("用户拒收公众号消息（43101）"),
        "boom": RuntimeError("unexpected")}
    return [table[k] for k in kinds]
