"""The order state machine. Every transition is checked here; bot/orderstatus.py is the one
writer that applies it (and logs it).

Carrier events are facts about a parcel, not commands, and arrive late, twice and out of
order, so `carrier_move` decides explicitly what a carrier-reported status does:

- the same status, or one the order is already past (out_for_delivery after delivered,
  in_transit after out_for_delivery), or anything about a delivered or cancelled order:
  ignored as stale (False), never a step back;
- a legal step forward from a handed-over state (shipped, in_transit, out_for_delivery,
  exception): applied (True);
- anything about an order our records have not handed to a carrier (draft, confirmed,
  on_hold, allocated): IllegalTransition. A carrier never moves an order to `shipped`:
  shipping deducts the stock (OrderService.ship). The caller's transaction rolls back, so
  the event is not stored and is applied once the order has shipped (a push is answered
  503 and sent again; the sweep asks again).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.status import OrderStatus as S
from bot.domain.vocab import ORDER_STATUS_ZH as STATUS_ZH

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
    """Whether the state machine allows current → wanted."""
    return wanted in TRANSITIONS[current]


def check(no: str, current: S, wanted: S) -> None:
    """Raise IllegalTransition unless current → wanted is allowed."""
    if not can_move(current, wanted):
        raise IllegalTransition(no, current, wanted)


# The order is in the carrier's hands: its events may move it.
HANDED_OVER = frozenset({S.shipped, S.in_transit, S.out_for_delivery, S.exception})
FINAL = frozenset({S.delivered, S.cancelled})


def carrier_move(no: str, current: S, reported: S) -> bool:
    """Apply (True) or ignore as stale (False) a carrier-reported status; raise
    IllegalTransition for an order not handed over (see the module docstring)."""
    if reported == current or current in FINAL:
        return False
    if current not in HANDED_OVER:
        raise IllegalTransition(no, current, reported)
    # From a handed-over state every illegal target is behind it (or `shipped` after an
    # exception): a late or out-of-order event.
    return can_move(current, reported)


def derived_status(shipment_statuses: Iterable[S]) -> S:
    """A split order is as far as its least advanced shipment; any exception shows."""
    statuses = list(shipment_statuses)
    if not statuses:
        return S.allocated
    if S.exception in statuses:
        return S.exception
    return min(statuses, key=lambda s: _PROGRESS.index(s) if s in _PROGRESS else 0)
