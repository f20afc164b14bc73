"""One credit rule (issue 12): with a tolerance configured, the gate, the atomic charge, the
chat card and the customer view all give the same credit left."""

from dataclasses import replace
from decimal import Decimal

import pytest

from bot import customerview
from bot.catalog import Catalog
from bot.ordering import LineInput, OrderService, PlaceOrder
from handlers.chat.views import order_view
from storage.models import Customer
from tests.conftest import HANGZHOU


@pytest.fixture
def tolerant(settings):
    return replace(settings, credit_tolerance=0.1)


async def test_card_customer_view_and_gate_agree_on_credit_left(world, tolerant):
    await Customer.filter(code="C0001").update(credit_limit=Decimal("10000"),
                                               exposure=Decimal("9000"))
    service = OrderService(tolerant, Catalog(tolerant))
    # 11,000 allowed (10 % over 10,000), 9,000 used: 2,000 left
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 1)], address=HANGZHOU))
    order = out.order
    [gate] = [g for g in out.gates if g.code == "credit"]
    assert gate.ok and Decimal(gate.checked["credit_left"]) == Decimal("2000.00")
    card = await order_view(order, await service.catalog.fresh(), "task-1")
    assert Decimal(card.credit_left.replace(",", "")) == Decimal("2000.00") - order.total
    customer = await Customer.get(code="C0001")
    view = await customerview.load(customer, await service.catalog.fresh())
    assert view.credit.left == Decimal("2000.00")
    # the charge applies the same allowance: confirming leaves 2,000 minus the order
    await service.confirm(order.no)
    customer = await Customer.get(code="C0001")
    view = await customerview.load(customer, await service.catalog.fresh())
    assert view.credit.left == Decimal("2000.00") - order.total


async def test_an_order_over_the_tolerance_is_held_and_the_card_shows_it_negative(world,
                                                                                  tolerant):
    await Customer.filter(code="C0001").update(credit_limit=Decimal("1000"),
                                               exposure=Decimal("1090"))
    service = OrderService(tolerant, Catalog(tolerant))
    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 1)], address=HANGZHOU,
                                         keep_failed=True))
    [gate] = [g for g in out.gates if g.code == "credit"]
    left = Decimal(gate.checked["credit_left"])
    assert left == Decimal("10.00") and out.order.total > left and not gate.ok
    card = await order_view(out.order, await service.catalog.fresh(), "task-2")
    assert Decimal(card.credit_left.replace(",", "")) == left - out.order.total < 0
