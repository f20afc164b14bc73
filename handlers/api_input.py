"""Reading /api requests at the edge: the JSON body, the order body, action bodies and path
parameters, checked against the one definition of the limits (bot/domain/limits.py).

Everything refused here is a 4xx problem+json naming the field, before anything is read from
or written to the database: malformed JSON or invalid UTF-8 → 400; wrong types, over-long
text, NUL or lone surrogates, numbers out of range → 422; a path parameter outside its
pattern → 404.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from bot.domain import limits
from bot.domain.invoice import INVOICE_TYPES
from bot.ordering import LineInput, PlaceOrder
from handlers.problems import Problem


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object ({} when empty)."""
    return parse_json(await request.read())


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "请求体不是有效的UTF-8", [
            {"field": "body", "code": "invalid_utf8",
             "message": f"第{exc.start}字节不是有效的UTF-8编码"}]) from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text, parse_int=limits.bounded_int)
    except json.JSONDecodeError as exc:
        raise Problem(400, "请求体不是有效的JSON", [
            {"field": "body", "code": "malformed_json",
             "message": f"JSON格式错误：第{exc.lineno}行第{exc.colno}列 {exc.msg}"}]) from exc
    except RecursionError as exc:
        raise Problem(400, "请求体嵌套过深", [
            {"field": "body", "code": "too_deep", "message": "JSON嵌套层数过多"}]) from exc
    if not isinstance(data, dict):
        raise Problem(422, "请求体应为JSON对象", [
            {"field": "body", "code": "type", "message": "请求体应为JSON对象"}])
    return data


class Errors:
    """Collects every refusal of one body, so the answer names all bad fields at once."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append({"field": field, "code": code, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise Problem(422, "请求参数有误", self.items)


def text(value: Any, field: str, errs: Errors, *, required: bool = False) -> str | None:
    """A string field within its limits (stripped), or None (absent, or refused)."""
    if value is None:
        if required:
            errs.add(field, "required", f"{field}不能为空")
        return None
    if not isinstance(value, str):
        errs.add(field, "type", f"{field}应为字符串")
        return None
    if refusal := limits.text_refusal(field, value):
        errs.add(field, refusal.code, refusal.message)
        return None
    value = value.strip()
    if required and not value:
        errs.add(field, "required", f"{field}不能为空")
        return None
    return value


def _qty(value: Any, field: str, errs: Errors) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errs.add(field, "type", "数量应为整数")
        return None
    if isinstance(value, float) and not value.is_integer():
        errs.add(field, "fractional", "数量应为整数，不能是小数")
        return None
    qty = int(value)
    if refusal := limits.qty_refusal(qty):
        errs.add(field, refusal.code, refusal.message)
        return None
    return qty


def _price(value: Any, field: str, errs: Errors) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str) or (
            isinstance(value, str) and len(value) > 32):
        errs.add(field, "type", "单价应为数字")
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        errs.add(field, "type", "单价应为数字")
        return None
    if refusal := limits.price_refusal(price):
        errs.add(field, refusal.code, refusal.message)
        return None
    return price


def _lines(data: dict[str, Any], errs: Errors) -> list[LineInput]:
    raw = data.get("lines")
    if not isinstance(raw, list) or not raw:
        errs.add("lines", "required", "lines应为非空数组")
        return []
    if refusal := limits.lines_refusal(len(raw)):
        errs.add("lines", refusal.code, refusal.message)
        return []
    out = []
    for i, ln in enumerate(raw):
        f = f"lines[{i}]"
        if not isinstance(ln, dict):
            errs.add(f, "type", "每行应为对象 {sku, qty, price?}")
            continue
        sku = ln.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            errs.add(f"{f}.sku", "type", "sku应为非空字符串")
            sku = None
        else:
            sku = text(sku, f"{f}.sku", errs)
        qty = _qty(ln.get("qty"), f"{f}.qty", errs)
        price = _price(ln.get("price"), f"{f}.price", errs)
        if sku and qty is not None:
            out.append(LineInput(sku.upper(), qty, price))
    return out


def _invoice(data: dict[str, Any], errs: Errors) -> dict[str, str] | None:
    inv = data.get("invoice")
    if inv is None:
        return None
    if not isinstance(inv, dict):
        errs.add("invoice", "type", "invoice应为对象 {type, tax_id, bank, account}")
        return None
    out = {key: text(inv.get(key), f"invoice.{key}", errs) or ""
           for key in ("type", "tax_id", "bank", "account")}
    if out["type"] and out["type"] not in INVOICE_TYPES:
        errs.add("invoice.type", "invalid", "开票类型应为普票、专票或无需")
    return out


def place_order(data: dict[str, Any], actor: str, price_approved: bool) -> PlaceOrder:
    """POST /api/orders's body as a command placed by `actor` (the key's owner)."""
    errs = Errors()
    customer = data.get("customer")
    if not isinstance(customer, str) or not customer.strip():
        errs.add("customer", "required", "customer应为客户编码（非空字符串）")
        customer = ""
    else:
        customer = text(customer, "customer", errs) or ""
    lines = _lines(data, errs)
    address = text(data.get("address"), "address", errs)
    invoice = _invoice(data, errs)
    channel = text(data.get("channel"), "channel", errs) or "api"
    campaign = text(data.get("campaign"), "campaign", errs) or None
    key = text(data.get("idempotency_key"), "idempotency_key", errs) or None
    warehouse = text(data.get("warehouse"), "warehouse", errs) or None
    errs.raise_if_any()
    return PlaceOrder(customer=customer, lines=lines, address=address, invoice=invoice,
                      channel=channel, campaign=campaign, idempotency_key=key,
                      warehouse=warehouse, actor=actor, price_approved=price_approved)


def moment(value: Any, name: str) -> datetime | None:
    """An optional ISO 8601 moment with its offset (`at` of POST /api/promise)."""
    if value is None:
        return None
    errs = Errors()
    at = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            at = None
    if at is None or at.tzinfo is None:
        errs.add(name, "bad_time", f"{name}应为带时区的ISO 8601时间，如 2026-12-04T18:00:00+08:00")
        errs.raise_if_any()
    return at


def reason(data: dict[str, Any], *, required: bool = False) -> str:
    """The `reason` of an action body (cancel, expedite, release)."""
    errs = Errors()
    value = text(data.get("reason"), "reason", errs)
    if required and not value and not errs.items:
        errs.add("reason", "required", "放行需要写明原因")
    errs.raise_if_any()
    return value or ""


def order_no(request: web.Request) -> str:
    """The `{no}` path parameter; anything outside the pattern is an order that is not there."""
    no = request.match_info["no"]
    if not limits.ORDER_NO.fullmatch(no):
        raise Problem(404, "订单不存在", [{"field": "no", "code": "not_found",
                                       "message": "订单号格式不正确，没有这个订单"}])
    return no


def customer_code(request: web.Request) -> str:
    """The `{code}` path parameter: printable, at most 32 characters, else no such customer."""
    value = request.match_info["code"].strip().upper()
    if not limits.SKU.fullmatch(value):  # the same shape rule as a SKU: 1-32, no controls
        raise Problem(404, "客户不存在", [{"field": "code", "code": "not_found",
                                       "message": "客户编码格式不正确，没有这个客户"}])
    return value


def sku(request: web.Request) -> str:
    value = request.match_info["sku"].strip().upper()
    if not limits.SKU.fullmatch(value):
        raise Problem(404, "商品不存在", [{"field": "sku", "code": "unknown_sku",
                                       "message": "商品编码格式不正确，没有这个商品"}])
    return value
