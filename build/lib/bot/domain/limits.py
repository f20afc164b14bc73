"""The one definition of what input the order intake accepts: field lengths, integer and money
ranges, the text every string must be, and the patterns of path parameters.

The REST edge (handlers/api.py) checks a request against these before anything runs, and
the order use cases (bot/ordering.py) check the same values again for input that did not come
through the edge (chat). Lengths are in characters and fit the database columns, so nothing
valid here can fail on PostgreSQL (which refuses NUL and over-length values) or be stored
silently by SQLite (which would keep them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

MAX_LINES = 200
MAX_QTY = 100_000
MAX_PRICE = Decimal("10000000")
# JSON integers longer than this are not read as numbers at all (Python refuses 4,300+ digits
# with a ValueError; anything past int64 is nonsense for every field here).
MAX_INT_DIGITS = 18

# field → most characters. The names are the JSON field names of POST /api/orders (invoice
# parts as invoice.X) and of the action bodies; README lists them.
FIELD_MAX: Mapping[str, int] = {
    "customer": 128,  # a code (32) or an exact name (128)
    "lines[].sku": 32,
    "address": 256,
    "invoice.type": 8,
    "invoice.tax_id": 32,
    "invoice.bank": 128,
    "invoice.account": 64,
    "channel": 16,
    "campaign": 32,
    "idempotency_key": 128,
    "warehouse": 32,
    "reason": 256,
}

# Path parameters: an order number (LY + date + id; the column holds 24) and a SKU.
ORDER_NO = re.compile(r"[A-Za-z0-9-]{1,24}")
SKU = re.compile("[^\x00-\x1f\x7f\ud800-\udfff]{1,32}")

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls and DEL; tab, newline and carriage return are fine in free text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Refusal:
    """Why a value is refused: machine code and a Chinese sentence for the user."""

    code: str
    message: str


def text_refusal(field: str, value: str, limit: int | None = None) -> Refusal | None:
    """None when `value` is acceptable text for `field`, else why not.

    Refused: NUL and other control characters, lone UTF-16 surrogates (JSON's "\\ud800",
    which cannot be stored as UTF-8), and more than the field's characters.
    """
    limit = FIELD_MAX.get(_generic(field), 256) if limit is None else limit
    if len(value) > limit:
        return Refusal("too_long", f"{field}不能超过{limit}个字符")
    if _SURROGATE.search(value):
        return Refusal("invalid_text", f"{field}含有无效的Unicode字符（孤立代理项）")
    if _CONTROL.search(value):
        return Refusal("invalid_text", f"{field}含有控制字符（如NUL）")
    return None


def clean(value: str) -> bool:
    """No control characters or lone surrogates (any length)."""
    return not (_SURROGATE.search(value) or _CONTROL.search(value))


def qty_refusal(qty: int) -> Refusal | None:
    if qty <= 0:
        return Refusal("not_positive", "数量应大于0")
    if qty > MAX_QTY:
        return Refusal("too_large", f"数量过大（单行最多{MAX_QTY}）")
    return None


def price_refusal(price: Decimal) -> Refusal | None:
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        return Refusal("range", f"单价应在0到{MAX_PRICE}之间")
    return None


def lines_refusal(n: int) -> Refusal | None:
    if n == 0:
        return Refusal("required", "订单至少需要一行商品")
    if n > MAX_LINES:
        return Refusal("too_many", f"一张订单最多{MAX_LINES}行")
    return None


def bounded_int(digits: str) -> int:
    """`json.loads(parse_int=…)`: a number of more than MAX_INT_DIGITS digits is read as the
    nearest out-of-range value instead of being converted (Python would refuse 4,300+ digits
    with a ValueError, and converting huge numbers is quadratic)."""
    sign = -1 if digits.startswith("-") else 1
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        return sign * int("1" + "0" * MAX_INT_DIGITS)
    return int(digits)


def _generic(field: str) -> str:
    """`lines[3].sku` → `lines[].sku`."""
    return re.sub(r"\[\d+\]", "[]", field)


# ---- callbacks (WeCom after decryption, carrier pushes after their signature) --------------
# Content that comes signed by WeCom or a carrier is not a person's typing, but it still must
# fit the columns it lands in, and may carry no NUL or lone surrogate (PostgreSQL refuses
# both, in text and in JSON).
CALLBACK_TEXT_MAX = 8192
CALLBACK_FIELD_MAX: Mapping[str, int] = {
    # WeCom app (XML) and robot (JSON) fields that become user ids, chat ids, card keys.
    # A message id becomes the chat order's idempotency key "chat:<id>" (at most 128).
    "FromUserName": 64, "ToUserName": 64, "userid": 64, "chatid": 64, "MsgId": 64,
    "msgid": 100, "TaskId": 128, "task_id": 128, "ResponseCode": 128, "response_code": 128,
    "EventKey": 256, "event_key": 256, "aibotid": 64,
}


def storable(value: str) -> bool:
    """No NUL and no lone surrogate: text PostgreSQL can keep (other controls it accepts)."""
    return "\x00" not in value and not _SURROGATE.search(value)


def payload_refusal(data: object, key: str = "", depth: int = 0) -> str | None:
    """Why a decoded callback payload cannot be taken (for the log), or None when it can."""
    if depth > 32:
        return "nested too deep"
    if isinstance(data, str):
        limit = CALLBACK_FIELD_MAX.get(key, CALLBACK_TEXT_MAX)
        if len(data) > limit:
            return f"{key or 'value'}: longer than {limit}"
        return None if storable(data) else f"{key or 'value'}: NUL or lone surrogate"
    items = data.items() if isinstance(data, Mapping) else (
        ((key, v) for v in data) if isinstance(data, list | tuple) else ())
    for k, v in items:
        if isinstance(k, str) and not storable(k):
            return "a key with NUL or lone surrogate"
        if why := payload_refusal(v, str(k), depth + 1):
            return why
    return None
