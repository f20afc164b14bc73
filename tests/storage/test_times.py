"""Times in other zones are stored and compared as the instant they are, on both engines
(SQLite compares the stored text: an aware China-time bound must not sort by its digits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from storage.models import Order, OrderStatus

CST = ZoneInfo("Asia/Shanghai")


async def test_china_time_bounds_and_values_compare_as_instants(world) -> None:
    customer = world["customers"]["C0001"]
    # 00:30 on the 26th in China is 16:30 on the 25th in UTC
    at = datetime(2026, 11, 26, 0, 30, tzinfo=CST)
    order = await Order.create(no="LY261126000001", customer=customer, status=OrderStatus.draft,
                               address_raw="x", created_at=at.astimezone(UTC),
                               promised_at=at + timedelta(days=1))  # saved in China time
    day_start = datetime(2026, 11, 26, tzinfo=CST)
    assert await Order.filter(created_at__gte=day_start).count() == 1
    assert await Order.filter(created_at__lt=day_start).count() == 0
    # a value written in China time compares with UTC bounds as the same instant
    promised = (at + timedelta(days=1)).astimezone(UTC)
    assert await Order.filter(promised_at__gt=promised - timedelta(minutes=1),
                              promised_at__lt=promised + timedelta(minutes=1)).count() == 1
    assert (await Order.get(id=order.id)).promised_at == promised
