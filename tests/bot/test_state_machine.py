"""Order state machine: legal moves, refusals in plain words, split-order status."""

import pytest

from bot.domain.orders import IllegalTransition, can_move, carrier_move, check, derived_status
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


# ---- what a carrier may do: apply, ignore as stale, or raise --------------------------------

@pytest.mark.parametrize(("current", "reported"), [
    (S.shipped, S.in_transit), (S.shipped, S.delivered), (S.in_transit, S.out_for_delivery),
    (S.out_for_delivery, S.delivered), (S.in_transit, S.exception),
    (S.exception, S.in_transit), (S.exception, S.delivered),
])
def test_a_carrier_moves_a_handed_over_order_forward(current, reported):
    assert carrier_move("LY1", current, reported) is True


@pytest.mark.parametrize(("current", "reported"), [
    (S.in_transit, S.in_transit),  # nothing new
    (S.out_for_delivery, S.in_transit), (S.in_transit, S.shipped),  # late, out of order
    (S.delivered, S.exception), (S.delivered, S.in_transit),  # after the end
    (S.cancelled, S.shipped), (S.cancelled, S.in_transit),  # a cancelled order's waybill
    (S.exception, S.shipped),  # re-collected after an exception: wait for real progress
])
def test_a_stale_carrier_report_is_ignored_never_a_step_back(current, reported):
    assert carrier_move("LY1", current, reported) is False


@pytest.mark.parametrize(("current", "reported"), [
    (S.allocated, S.shipped),  # shipping deducts stock: a carrier never ships an order
    (S.allocated, S.in_transit), (S.draft, S.in_transit), (S.on_hold, S.delivered),
    (S.confirmed, S.exception),
])
def test_a_carrier_report_about_an_order_not_handed_over_raises(current, reported):
    with pytest.raises(IllegalTransition, match="订单LY1当前为"):
        carrier_move("LY1", current, reported)
