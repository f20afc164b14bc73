"""Order state machine: legal moves, refusals in plain words, split-order status."""

import pytest

from bot.domain.orders import IllegalTransition, can_move, check, derived_status
from storage.models import OrderStatus as S


@pytest.mark.parametrize(("a", "b"), [
    (S.draft, S.confirmed), (S.draft, S.on_hold), (S.on_hold, S.confirmed),
    (S.confirmed, S.allocated), (S.allocated, S.shipped), (S.shipped, S.in_transit),
    (S.in_transit, S.out_for_delivery), (S.out_for_delivery, S.delivered),
    (S.in_transit, S.exception), (S.exception, S.delivered), (S.allocated, S.cancelled),
])
def test_legal(a, b):
    assert can_move(a, b)


@pytest.mark.parametrize(("a", "b"), [
    (S.draft, S.shipped), (S.delivered, S.in_transit), (S.cancelled, S.confirmed),
    (S.shipped, S.cancelled), (S.out_for_delivery, S.in_transit), (S.delivered, S.cancelled),
])
def test_illegal_is_refused_with_a_clear_message(a, b):
    assert not can_move(a, b)
    with pytest.raises(IllegalTransition) as e:
        check("LY1", a, b)
    assert "订单LY1当前为" in str(e.value)


def test_split_order_status_is_its_least_advanced_shipment():
    assert derived_status([S.delivered, S.in_transit]) == S.in_transit
    assert derived_status([S.delivered, S.delivered]) == S.delivered
    assert derived_status([S.delivered, S.exception]) == S.exception
    assert derived_status([S.shipped, S.out_for_delivery]) == S.shipped
