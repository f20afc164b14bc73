"""Idempotency keys as the payment APIs treat them: a key names one request. The same key
with the same request gives the first answer again; with a different request (another body,
or another caller) it is a conflict, never silently the first order.

`fingerprint` is what "the same request" means: SHA-256 over the normalised order (customer,
lines, address, invoice, channel, campaign, warehouse) and who placed it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any


class IdempotencyConflict(Exception):
    """The key was first used with another request."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency_key “{key}” 已用于另一个不同的请求")


def fingerprint(*, actor: str, customer: str, lines: Iterable[tuple[str, int, Decimal | None]],
                address: str | None, invoice: Mapping[str, str] | None, channel: str,
                campaign: str | None, warehouse: str | None) -> str:
    """A hex digest that is equal exactly when two requests mean the same order."""
    body: dict[str, Any] = {
        "actor": actor, "customer": customer.strip(),
        "lines": [[sku.strip().upper(), qty, None if price is None else str(price.normalize())]
                  for sku, qty, price in lines],
        "address": address, "channel": channel, "campaign": campaign, "warehouse": warehouse,
        "invoice": {k: str(v) for k, v in sorted(invoice.items())} if invoice else None,
    }
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def same_request(stored: str | None, given: str) -> bool:
    """Orders placed before fingerprints were kept (None) match any request."""
    return stored is None or stored == given
