"""The order state machine. Every transition is checked here and logged by the caller."""

from __future__ import annotations

from collections.abc import Iterable

from storage.models import OrderStatus as S

STATUS_ZH = {
    S.draft: "待确认", S.confirmed: "已确认", S.allocated: "已分仓", S.shipped: "已出库",
    S.in_transit: "运输中", S.out_for_delivery: "派件中", S.delivered: "已签收",
    S.on_hold: "已挂起", S.cancelled: "已取消", S.exception: "异常",
}

TRANSITIONS: dict[S, frozenset[S]] = {
    S.draft: frozenset({S.confirmed, S.on_hold, S.cancelled}),
    S.on_hold: frozenset({S.confirmed, S.cancelled, S.on_hold}),
    S.confirmed: frozenset({S.allocated, S.on_hold, S.cancelled}),
    S.allocated: frozenset({S.shipped, S.cancelled, S.on_hold}),
    S.shipped: frozenset({S.in_transit, S.out_for_delivery, S.delivered, S.exception}),
    S.in_transit: frozenset({S.out_for_delivery, S.delivered, S.exception}),
    S.out_for_delivery: frozenset({S.delivered, S.exception}),
    S.exception: frozenset({S.in_transit, S.out_for_delivery, S.delivered}),
    S.delivered: frozenset(),
    S.cancelled: frozenset(),
}

# Progress order of the shipping states, used to derive a split order's status.
_PROGRESS = [S.allocated, S.shipped, S.in_transit, S.out_for_delivery, S.delivered]


class IllegalTransition(Exception):
    """An order was asked to move where its state machine does not allow."""

    def __init__(self, no: str, current: S, wanted: S) -> None:
        self.no, self.current, self.wanted = no, current, wanted
        super().__init__(
            f"订单{no}当前为“{STATUS_ZH[current]}”，不能变为“{STATUS_ZH[wanted]}”")


def can_move(current: S, wanted: S) -> bool:
    return wanted in TRANSITIONS[current]


def check(no: str, current: S, wanted: S) -> None:
    if not can_move(current, wanted):
        raise IllegalTransition(no, current, wanted)


def derived_status(shipment_statuses: Iterable[S]) -> S:
    """A split order is as far as its least advanced shipment; any exception shows."""
    statuses = list(shipment_statuses)
    if not statuses:
        return S.allocated
    if S.exception in statuses:
        return S.exception
    return min(statuses, key=lambda s: _PROGRESS.index(s) if s in _PROGRESS else 0)
