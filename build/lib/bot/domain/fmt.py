"""How people see times, money and personal data: one rule each, for every surface.

Masking rule (the stricter of the two the project had; pushes and the tracking page now agree):

- phone: a mobile number keeps its first three and last four digits (138****0001); a landline
  its area code and last four digits (0571-****6666); anything shorter than eight digits is
  hidden entirely (****). The old push rule showed short or odd numbers in full.
- name: 王*傅, 李*, 杭州***修厂 (first and last characters; two of each for long names).
- address: province, city and district only, then ****; the street, house number and any
  landmark never leave the server. The old push rule kept the street up to the first digit
  (文三路***) and showed an address without digits in full.

Standard library only.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from bot.domain.vocab import CST

UNKNOWN = "待定"  # a time, carrier or warehouse not known yet
MASK = "****"
_NOT_DIGIT = re.compile(r"\D")


# ---- time -------------------------------------------------------------------------------

def day(d: date) -> str:
    """``11月6日`` (no leading zeros); a datetime is first put in China time."""
    if isinstance(d, datetime):
        d = d.astimezone(CST)
    return f"{d.month}月{d.day}日"


def day_time(at: datetime) -> str:
    """``11月26日 15:00`` in China time."""
    local = at.astimezone(CST)
    return f"{day(local)} {local:%H:%M}"


def fmt_time(at: datetime | None) -> str:
    """`day_time`, or 待定 when unknown."""
    return UNKNOWN if at is None else day_time(at)


# ---- money ------------------------------------------------------------------------------

def amount(value: Decimal | float | int) -> str:
    """``1,234.50``: two decimals with thousands separators."""
    return f"{value:,.2f}"


def money(value: Decimal | float | int) -> str:
    """``¥1,234.50``."""
    return "¥" + amount(value)


# ---- masking ----------------------------------------------------------------------------

def mask_phone(phone: str | None) -> str:
    """13800000001 → 138****0001; a landline keeps its area code and last four digits."""
    p = (phone or "").strip()
    digits = _NOT_DIGIT.sub("", p)
    if not digits:
        return ""
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}{MASK}{digits[-4:]}"
    if len(digits) >= 8:
        head = p.split("-")[0] if "-" in p and len(p.split("-")[0]) <= 4 else digits[:3]
        return f"{head}-{MASK}{digits[-4:]}" if "-" in p else f"{head}{MASK}{digits[-4:]}"
    return MASK


def mask_name(name: str | None) -> str:
    """王师傅 → 王*傅, 李明 → 李*, 杭州西湖恒通汽修厂 → 杭州***修厂."""
    n = (name or "").strip()
    if len(n) <= 1:
        return n
    if len(n) == 2:
        return n[0] + "*"
    if len(n) <= 4:
        return n[0] + "*" * (len(n) - 2) + n[-1]
    return n[:2] + "***" + n[-2:]


def mask_address(province: str | None, city: str | None, district: str | None) -> str:
    """浙江省杭州市西湖区****: the area only (a municipality's city is not repeated)."""
    parts: list[str] = []
    for part in (province, city, district):
        if part and part not in parts:
            parts.append(part)
    return "".join(parts) + MASK if parts else MASK
