"""The one credit rule. An order fits when the customer's open exposure plus its total stays
within the credit limit raised by the configured tolerance (`[gates] credit_tolerance`, a
fraction of the limit). The gate, the atomic charge, the card and the customer view all ask
here, so the figure a salesperson reads is the one the gate applies."""

from __future__ import annotations

from decimal import Decimal


def allowed(limit: Decimal, tolerance: float) -> Decimal:
    """The most exposure the limit allows: 100,000 with tolerance 0.05 → 105,000."""
    return limit * (1 + Decimal(str(tolerance)))


def left(limit: Decimal, exposure: Decimal, tolerance: float) -> Decimal:
    """What an order may still total before the gate holds it (negative when over)."""
    return allowed(limit, tolerance) - exposure
