"""What the domain knows of a parcel's journey: the common status set every carrier's codes
map onto (integrations/carriers/*), and one tracking event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CommonStatus(StrEnum):
    INFO_RECEIVED = "info_received"
    COLLECTED = "collected"  # 已揽收
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"  # 派送中
    DELIVERED = "delivered"  # 已签收
    EXCEPTION = "exception"  # 疑难
    RETURNED = "returned"  # 退回


@dataclass(frozen=True)
class TrackingEvent:
    waybill: str
    carrier: str
    status: CommonStatus
    occurred_at: datetime
    location: str
    description: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("TrackingEvent.occurred_at must be timezone-aware")

    @property
    def key(self) -> tuple[str, str, datetime, CommonStatus, str]:
        """Identity for de-duplication: the same node pushed twice has the same key."""
        return (self.carrier, self.waybill, self.occurred_at, self.status, self.description)
