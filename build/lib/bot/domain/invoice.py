"""Invoice data checks: 专票 needs a valid tax ID, bank and account."""

from __future__ import annotations

import re

from stdnum.cn import uscc

INVOICE_TYPES = ("普票", "专票", "无需")
_TAX_ID = re.compile(r"^[0-9A-Z]+$")
_ACCOUNT = re.compile(r"^[0-9]{8,32}$")


def normalise_tax_id(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "").upper()


def tax_id_problem(value: str) -> str | None:
    """None when the tax ID is acceptable, else the reason in Chinese.

    Tax IDs are 15, 17, 18 or 20 letters/digits; an 18-character one is a unified social
    credit code and must pass its GB 32100-2015 check character.
    """
    tid = normalise_tax_id(value)
    if not tid:
        return "缺少税号"
    if not _TAX_ID.match(tid):
        return f"税号“{value}”只能包含数字和大写字母"
    if len(tid) not in (15, 17, 18, 20):
        return f"税号“{value}”长度为{len(tid)}位，应为15、17、18或20位"
    if len(tid) == 18 and not uscc.is_valid(tid):
        return f"税号“{value}”不是有效的统一社会信用代码（校验位不符）"
    return None


def invoice_problems(kind: str, tax_id: str, bank: str, account: str) -> list[str]:
    """Every reason the invoice data cannot be used (empty when it is fine)."""
    if kind not in INVOICE_TYPES:
        return [f"开票类型“{kind}”无效，应为普票、专票或无需"]
    if kind != "专票":
        if tax_id and (p := tax_id_problem(tax_id)):
            return [p]
        return []
    problems = []
    if p := tax_id_problem(tax_id):
        problems.append(p)
    if not (bank or "").strip():
        problems.append("专票缺少开户行")
    acct = re.sub(r"[\s-]", "", account or "")
    if not acct:
        problems.append("专票缺少银行账号")
    elif not _ACCOUNT.match(acct):
        problems.append(f"银行账号“{account}”应为8到32位数字")
    return problems


def uscc_with_check(body17: str) -> str:
    """Append the GB 32100-2015 check character to a 17-character body."""
    return body17 + uscc.calc_check_digit(body17)
