"""The one status writer (bot/orderstatus.py), on both engines, and a source rule that keeps
it the only one."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from bot import orderstatus
from bot.domain.orders import IllegalTransition
from bot.ordering import LineInput, PlaceOrder
from bot.orderstatus import Seen, Step
from storage.models import Order, OrderLog, OrderStatus

S = OrderStatus
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


async def draft(service) -> Order:
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 1)]))
    return out.order


async def log_of(order: Order) -> list[tuple[str, str | None, str | None]]:
    rows = await OrderLog.filter(order_id=order.id).order_by("id")
    return [(r.action, r.from_status, r.to_status) for r in rows]


async def test_an_illegal_move_raises_and_writes_nothing(service):
    order = await draft(service)
    with pytest.raises(IllegalTransition, match=r"待确认.*已出库"):
        async with in_transaction():
            await orderstatus.move(Seen(order.id, order.no, S.draft), Step(S.shipped, "ship"),
                                   actor="x", at=AT, columns={"shipped_at": AT})
    fresh = await Order.get(id=order.id)
    assert (fresh.status, fresh.shipped_at) == (S.draft, None)
    assert await log_of(order) == [("place", None, "draft")]


async def test_every_step_is_checked_and_logged_with_the_columns(service):
    order = await draft(service)
    async with in_transaction():
        was = await orderstatus.move(
            Seen(order.id, order.no, S.draft),
            [Step(S.confirmed, "confirm", {"k": 1}), Step(S.allocated, "allocate")],
            actor="zhangwei", at=AT, columns={"confirmed_at": AT, "gates": [{"code": "x"}]})
    assert was == S.draft
    fresh = await Order.get(id=order.id)
    assert (fresh.status, fresh.confirmed_at, fresh.gates) == (S.allocated, AT, [{"code": "x"}])
    assert await log_of(order) == [("place", None, "draft"), ("confirm", "draft", "confirmed"),
                                   ("allocate", "confirmed", "allocated")]
    entry = await OrderLog.get(order_id=order.id, action="confirm")
    assert (entry.actor, entry.detail, entry.at) == ("zhangwei", {"k": 1}, AT)
    with pytest.raises(IllegalTransition):  # a path is checked step by step
        await orderstatus.move(Seen(order.id, order.no, S.allocated),
                               [Step(S.shipped, "ship"), Step(S.confirmed, "x")],
                               actor="x", at=AT)
    assert (await Order.get(id=order.id)).status == S.allocated


async def test_a_racing_change_is_checked_again_from_what_the_order_is_now(service):
    order = await draft(service)
    await Order.filter(id=order.id).update(status=S.on_hold)  # another confirmation held it
    async with in_transaction():
        was = await orderstatus.move(Seen(order.id, order.no, S.draft),
                                     Step(S.cancelled, "cancel"), actor="x", at=AT)
    assert was == S.on_hold
    assert (await log_of(order))[-1] == ("cancel", "on_hold", "cancelled")
    # … and refused when the order has moved where the step is illegal
    other = await draft(service)
    await Order.filter(id=other.id).update(status=S.shipped)
    with pytest.raises(IllegalTransition, match="已出库"):
        await orderstatus.move(Seen(other.id, other.no, S.draft), Step(S.cancelled, "cancel"),
                               actor="x", at=AT)
    assert (await Order.get(id=other.id)).status == S.shipped


async def test_notes_keep_the_status_and_a_new_order_starts_as_a_draft(service):
    order = await draft(service)
    await orderstatus.note(Seen(order.id, order.no, S.draft), actor="lina", action="expedite",
                           at=AT, detail={"reason": "急"})
    assert (await log_of(order))[-1] == ("expedite", "draft", "draft")
    with pytest.raises(ValueError, match="starts as draft"):
        await orderstatus.created(Seen(order.id, order.no, S.shipped), actor="x",
                                  action="place", at=AT)


# ---- the source rule: no other writer ------------------------------------------------------

APP = ("bot", "handlers", "messages", "integrations", "storage")
# The demo data set writes a finished history as data, in bulk (bot/demo*.py).
EXEMPT = {"bot/orderstatus.py", "bot/demo.py", "bot/demo_data.py"}
RULES = [
    (re.compile(r"UPDATE\s+orders\s+SET", re.I), {"storage/orders_sql.py"}),
    (re.compile(r"INSERT\s+INTO\s+order_log", re.I), set()),
    (re.compile(r"\b(set_status|insert_log)\("), {"storage/orders_sql.py"}),
    (re.compile(r"\bOrderLog(\.create|\.bulk_create|\()"), {"storage/models.py"}),
    (re.compile(r"\bOrder\b[^\n]*\.update\([^)]*\bstatus\s*="), set()),
    (re.compile(r"update_fields=\[[^\]]*\"status\""), set()),
]


def test_nothing_but_the_status_writer_writes_order_status_or_the_order_log():
    offenders = []
    for package in APP:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in EXEMPT:
                continue
            text = path.read_text(encoding="utf-8")
            for pattern, allowed in RULES:
                if rel not in allowed and pattern.search(text):
                    offenders.append(f"{rel}: {pattern.pattern}")
    assert offenders == [], "write order status through bot/orderstatus.py"
