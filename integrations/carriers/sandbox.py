"""Sandbox carrier: waybill numbers for shipments when no carrier keys are configured.

Numbers are derived from the shipment id, so asking twice for one shipment gives the same
number (never two waybills for one shipment). They start with SBX so nobody mistakes them
for a real carrier's.
"""

from __future__ import annotations

from typing import Any


async def issue_waybill(order: Any, shipment: Any) -> str:
    carrier = (shipment.carrier or "sbx").upper()
    return f"SBX{carrier}{shipment.id:010d}"
