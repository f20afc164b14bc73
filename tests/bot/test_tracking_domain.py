"""Tracking rules without a database: dedupe, event-time order, status, stuck, config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.tracking import (
    Checkpoint,
    TrackingConfig,
    derive,
    event_key,
    order_status_for,
    stuck,
    timeline,
)
from integrations.carriers.base import SHANGHAI, CommonStatus, TrackingEvent
from storage.models import OrderStatus

C = CommonStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)


def ev(hours: float, status: CommonStatus, text: str = "", waybill: str = "W1") -> TrackingEvent:
    return TrackingEvent(waybill, "zto", status, T0 + timedelta(hours=hours), "杭州市",
                         text or f"{status.value}@{hours}")


def statuses(*events: TrackingEvent) -> CommonStatus | None:
    derived = timeline([], list(events)).derived
    return derived.status if derived else None


def test_key_ignores_carrier_zone_and_whitespace_but_not_content() -> None:
    utc = T0.astimezone(UTC)
    assert event_key("W1", C.IN_TRANSIT, T0, "到达 上海") == \
        event_key(" W1", "in_transit", utc, "到达  上海 ")
    assert event_key("W1", C.IN_TRANSIT, T0, "到达上海") != event_key("W1", C.IN_TRANSIT, T0,
                                                                    "离开上海")
    assert event_key("W1", C.IN_TRANSIT, T0, "x") != event_key("W1", C.COLLECTED, T0, "x")
    assert len(event_key("W1", C.IN_TRANSIT, T0, "x")) == 64


def test_duplicates_are_kept_once_and_order_is_by_event_time() -> None:
    a, b, c = ev(0, C.COLLECTED), ev(5, C.IN_TRANSIT), ev(9, C.OUT_FOR_DELIVERY)
    tl = timeline([], [c, a, b, c, a])
    assert tl.added == [a, b, c]
    assert [p.status for p in tl.checkpoints] == [C.COLLECTED, C.IN_TRANSIT,
                                                  C.OUT_FOR_DELIVERY]


def test_stored_events_are_not_added_again() -> None:
    a, b = ev(0, C.COLLECTED), ev(5, C.IN_TRANSIT)
    tl = timeline([Checkpoint.of(a)], [a, b])
    assert tl.added == [b]
    assert tl.derived is not None and tl.derived.status is C.IN_TRANSIT


def test_a_late_older_event_never_moves_status_backwards() -> None:
    ofd, transit = ev(10, C.OUT_FOR_DELIVERY), ev(3, C.IN_TRANSIT)
    stored = [Checkpoint.of(ofd)]
    tl = timeline(stored, [transit])
    assert tl.derived is not None
    assert tl.derived.status is C.OUT_FOR_DELIVERY and tl.derived.at == ofd.occurred_at


def test_furthest_progress_wins_even_if_a_later_scan_is_an_earlier_kind() -> None:
    assert statuses(ev(0, C.COLLECTED), ev(5, C.OUT_FOR_DELIVERY), ev(6, C.IN_TRANSIT)) \
        is C.OUT_FOR_DELIVERY


def test_exception_shows_until_a_later_normal_event_resumes_progress() -> None:
    assert statuses(ev(0, C.COLLECTED), ev(2, C.IN_TRANSIT), ev(4, C.EXCEPTION)) is C.EXCEPTION
    assert statuses(ev(0, C.COLLECTED), ev(2, C.IN_TRANSIT), ev(4, C.EXCEPTION),
                    ev(6, C.IN_TRANSIT, "重新发出")) is C.IN_TRANSIT
    # An exception older than the newest normal event does not show.
    assert statuses(ev(1, C.EXCEPTION), ev(3, C.OUT_FOR_DELIVERY)) is C.OUT_FOR_DELIVERY


def test_delivered_is_terminal_an_exception_after_it_does_not_undo_it() -> None:
    d = ev(8, C.DELIVERED)
    tl = timeline([], [ev(0, C.COLLECTED), d, ev(9, C.EXCEPTION), ev(10, C.IN_TRANSIT)])
    assert tl.derived is not None
    assert tl.derived.status is C.DELIVERED and tl.derived.at == d.occurred_at


def test_returned_is_terminal() -> None:
    assert statuses(ev(0, C.COLLECTED), ev(3, C.RETURNED), ev(5, C.DELIVERED, "退件签收")) \
        is C.RETURNED


def test_same_second_exception_and_delivery_ends_delivered() -> None:
    assert statuses(ev(0, C.COLLECTED), ev(5, C.DELIVERED), ev(5, C.EXCEPTION)) is C.DELIVERED


def test_no_events_no_status() -> None:
    assert derive([]) is None
    assert timeline([], []).derived is None


@pytest.mark.parametrize(("common", "order"), [
    (C.INFO_RECEIVED, OrderStatus.shipped), (C.COLLECTED, OrderStatus.shipped),
    (C.IN_TRANSIT, OrderStatus.in_transit), (C.OUT_FOR_DELIVERY, OrderStatus.out_for_delivery),
    (C.DELIVERED, OrderStatus.delivered), (C.EXCEPTION, OrderStatus.exception),
    (C.RETURNED, OrderStatus.exception),
])
def test_common_status_maps_to_order_status(common: CommonStatus, order: OrderStatus) -> None:
    assert order_status_for(common) is order


def test_stuck_by_hours_per_status() -> None:
    hours = {"shipped": 24, "in_transit": 36, "out_for_delivery": 12}
    now = T0 + timedelta(hours=30)
    assert stuck(OrderStatus.shipped, T0, now, hours)
    assert not stuck(OrderStatus.in_transit, T0, now, hours)
    assert stuck("out_for_delivery", T0, now, hours)
    assert not stuck(OrderStatus.delivered, T0, now, hours)
    assert not stuck(OrderStatus.shipped, None, now, hours)
    assert stuck(OrderStatus.shipped, T0, T0 + timedelta(hours=24), hours)  # boundary counts


def test_config_defaults_and_floors() -> None:
    cfg = TrackingConfig()
    assert cfg.interval_minutes == 15
    assert cfg.limits("kuaidi100").min_gap_minutes >= 30
    assert cfg.limits("sf").batch_size == 10
    assert cfg.limits("zto").batch_size == 1
    assert cfg.interval_for("sandbox") == 1 and cfg.interval_for("sf") == 15


def test_config_from_toml_cannot_go_under_the_carrier_limits() -> None:
    cfg = TrackingConfig.from_toml({
        "interval_minutes": 10, "stuck_hours": {"in_transit": 48},
        "carriers": {"kuaidi100": {"min_gap_minutes": 5, "rate_per_second": 3},
                     "sf": {"batch_size": 50}},
        "route": {"yto": "kuaidi100"}})
    assert cfg.interval_minutes == 10
    assert cfg.stuck_hours["in_transit"] == 48 and cfg.stuck_hours["shipped"] == 24
    assert cfg.limits("kuaidi100").min_gap_minutes == 30
    assert cfg.limits("kuaidi100").rate_per_second == 3
    assert cfg.limits("sf").batch_size == 10
    assert cfg.route == {"yto": "kuaidi100"}


@pytest.mark.parametrize(("table", "key"), [
    ({"interval_minutes": 0}, "tracking.interval_minutes"),
    ({"intervall": 5}, "tracking.intervall"),
    ({"stuck_hours": {"lost": 3}}, "tracking.stuck_hours"),
    ({"carriers": {"sf": {"rate_per_second": "fast"}}}, "tracking.carriers.sf.rate_per_second"),
    ({"carriers": {"sf": {"send_phone": 1}}}, "tracking.carriers.sf.send_phone"),
])
def test_config_errors_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        TrackingConfig.from_toml(table)
