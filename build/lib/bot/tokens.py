"""Signed tracking tokens for the customer tracking page `/t/{token}`.

A token is ``<payload>.<mac>``, both base64url without padding: the payload is
``<order_no>:<expiry, epoch seconds>``, the MAC the first 128 bits of HMAC-SHA256 over the
payload with `LVYUE_SECRET`. It is unguessable without the secret, expires, and needs no
database row. Tokens are bearer links: whoever holds one sees that order's tracking page.
Links are built and checked in one place, `bot.trackview.TrackingPageConfig` (the app gives
it a key kept in the database when LVYUE_SECRET is unset); these are its primitives.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime, timedelta

MAC_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the one spelling `_b64` makes (no padding, no stray or trailing bits),
    so one token has exactly one valid string form."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not the canonical base64url form")
    return raw


def _mac(payload: bytes, secret: str) -> bytes:
    return hmac.digest(secret.encode("utf-8"), payload, "sha256")[:MAC_BYTES]  # one-shot, in C


def tracking_token(order_no: str, secret: str, ttl_days: float = 30,
                   now: datetime | None = None) -> str:
    """A url-safe token naming `order_no`, valid for `ttl_days` from `now`."""
    if not secret:
        raise ValueError("tracking tokens need a secret (LVYUE_SECRET)")
    if not order_no or ":" in order_no:
        raise ValueError(f"bad order number for a token: {order_no!r}")
    now = now or datetime.now(UTC)
    expires = int((now + timedelta(days=ttl_days)).timestamp())
    payload = f"{order_no}:{expires}".encode()
    return f"{_b64(payload)}.{_b64(_mac(payload, secret))}"


def verify_tracking_token(token: str, secret: str, now: datetime | None = None) -> str | None:
    """The order number of a genuine, unexpired token; None for anything else."""
    if not secret or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(given, _mac(payload, secret)):
        return None
    order_no, _, expires = payload.decode("utf-8", "replace").rpartition(":")
    if not order_no or not expires.isdigit():
        return None
    if int(expires) <= (now or datetime.now(UTC)).timestamp():
        return None
    return order_no

