"""Sandbox carrier: a complete, ordered, deterministic story on an accelerated clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot.domain.tracking import timeline
from integrations.carriers.base import CommonStatus, PushNotSupported
from integrations.carriers.sandbox import SandboxCarrier, SandboxTrip, issue_waybill, story
from tests.fakes import waybill_request

C = CommonStatus
SHIPPED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TRIP = SandboxTrip(SHIPPED, "杭州", "上海市")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def trips_of(known: Mapping[str, SandboxTrip]):  # type: ignore[no-untyped-def]
    asked: list[list[str]] = []

    async def lookup(numbers: Sequence[str]) -> Mapping[str, SandboxTrip]:
        asked.append(list(numbers))
        return {n: known[n] for n in numbers if n in known}

    return lookup, asked


def test_the_story_is_complete_ordered_and_says_sandbox() -> None:
    events = story("SBXZTO0000000001", TRIP)
    kinds = [e.status for e in events]
    assert kinds[0] is C.COLLECTED and kinds[-2:] == [C.OUT_FOR_DELIVERY, C.DELIVERED]
    assert set(kinds[1:-2]) == {C.IN_TRANSIT} and len(kinds[1:-2]) >= 4
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    assert all("沙箱" in e.description and e.carrier == "sandbox" for e in events)
    assert all(e.occurred_at.utcoffset() == timedelta(hours=8) for e in events)
    text = " ".join(e.description for e in events)
    assert "杭州转运中心" in text and "上海转运中心" in text
    assert events[0].location == "杭州市" and events[-1].location == "上海市"
    derived = timeline([], events).derived
    assert derived is not None and derived.status is C.DELIVERED


def test_deterministic_per_waybill_and_different_across_waybills() -> None:
    assert story("SBXZTO0000000001", TRIP) == story("SBXZTO0000000001", TRIP)
    a = [e.occurred_at for e in story("SBXZTO0000000001", TRIP)]
    b = [e.occurred_at for e in story("SBXZTO0000000002", TRIP)]
    assert a != b


def test_accelerated_clock_one_real_minute_is_one_simulated_hour() -> None:
    slow = story("SBXSF0000000007", TRIP, speed=1)
    fast = story("SBXSF0000000007", TRIP, speed=60)
    for s, f in zip(slow, fast, strict=True):
        simulated = (s.occurred_at - SHIPPED).total_seconds()
        assert (f.occurred_at - SHIPPED).total_seconds() == pytest.approx(simulated / 60, abs=1)
    total = fast[-1].occurred_at - SHIPPED
    assert timedelta(minutes=10) < total < timedelta(minutes=60)


async def test_query_returns_only_what_has_happened_by_now() -> None:
    num = "SBXZTO0000000001"
    lookup, asked = trips_of({num: TRIP})
    clock = Clock(SHIPPED)
    carrier = SandboxCarrier(speed=60, trips=lookup, clock=clock)
    full = story(num, TRIP, 60)
    assert await carrier.query([(num, None)]) == []
    clock.at = full[2].occurred_at
    assert await carrier.query([(num, None)]) == full[:3]
    clock.at = full[-1].occurred_at + timedelta(hours=1)
    assert await carrier.query([(num, None), ("73100196611386", None)]) == full
    assert asked[-1] == [num]  # real carriers' numbers are not the sandbox's business


async def test_without_a_trip_the_story_starts_when_first_seen() -> None:
    clock = Clock(SHIPPED)
    carrier = SandboxCarrier(speed=3600, clock=clock)
    assert await carrier.query([("SBX0000000000009", None)]) == []
    clock.at = SHIPPED + timedelta(hours=1)  # 3600 simulated hours: all done
    events = await carrier.query([("SBX0000000000009", None)])
    assert events and events[-1].status is C.DELIVERED


async def test_waybills_are_sbx_and_idempotent_per_carrier_order_id() -> None:
    carrier = SandboxCarrier()
    first = await carrier.create_waybill(waybill_request("LY2603020001", 1))
    again = await carrier.create_waybill(waybill_request("LY2603020001", 1))
    other = await carrier.create_waybill(waybill_request("LY2603020001", 2))
    assert first.waybill_no == again.waybill_no != other.waybill_no
    assert first.waybill_no.startswith("SBX") and first.carrier == "sandbox"
    shipment = SimpleNamespace(carrier="zto", id=42)
    assert await issue_waybill(None, shipment) == "SBXZTO0000000042"


def test_push_is_not_supported() -> None:
    with pytest.raises(PushNotSupported):
        SandboxCarrier().parse_push(b"{}", {}, {})
