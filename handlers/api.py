"""REST intake (DESIGN.md §5): translate JSON to commands and results to JSON. No rules here.

Errors are application/problem+json with `errors: [{field|gate, code, message}]`; bad input
writes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from tortoise.exceptions import OperationalError

from bot.domain.gates import failed
from bot.domain.invoice import INVOICE_TYPES
from bot.domain.orders import IllegalTransition
from bot.ordering import Forbidden, InputError, LineInput, NotFound, PlaceOrder
from handlers.keys import SERVICE, SETTINGS, SHIPPING
from handlers.pages import TRACKING
from handlers.problems import Problem, json_response, problem
from handlers.views import iso, order_json, outcome_json, stock_json
from integrations.carriers.base import CarrierError

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_KEY = 128


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "请求体不是有效的UTF-8", [
            {"field": "body", "code": "invalid_utf8",
             "message": f"第{exc.start}字节不是有效的UTF-8编码"}]) from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
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


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append({"field": field, "code": code, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise Problem(422, "请求参数有误", self.items)


def _opt_str(data: dict[str, Any], key: str, errs: _Errors, limit: int = 256) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errs.add(key, "type", f"{key}应为字符串")
        return None
    if len(value) > limit:
        errs.add(key, "too_long", f"{key}不能超过{limit}个字符")
        return None
    return value.strip()


def _qty(value: Any, field: str, errs: _Errors) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errs.add(field, "type", "数量应为整数")
        return None
    if isinstance(value, float) and not value.is_integer():
        errs.add(field, "fractional", "数量应为整数，不能是小数")
        return None
    qty = int(value)
    if qty <= 0:
        errs.add(field, "not_positive", "数量应大于0")
        return None
    if qty > 100_000:
        errs.add(field, "too_large", "数量过大（单行最多100000）")
        return None
    return qty


def _price(value: Any, field: str, errs: _Errors) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errs.add(field, "type", "单价应为数字")
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        errs.add(field, "type", "单价应为数字")
        return None
    if not price.is_finite() or price < 0 or price > Decimal("10000000"):
        errs.add(field, "range", "单价应在0到10000000之间")
        return None
    return price


def _lines(data: dict[str, Any], errs: _Errors) -> list[LineInput]:
    raw = data.get("lines")
    if not isinstance(raw, list) or not raw:
        errs.add("lines", "required", "lines应为非空数组")
        return []
    if len(raw) > 200:
        errs.add("lines", "too_many", "一张订单最多200行")
        return []
    out = []
    for i, ln in enumerate(raw):
        f = f"lines[{i}]"
        if not isinstance(ln, dict):
            errs.add(f, "type", "每行应为对象 {sku, qty, price?}")
            continue
        sku = ln.get("sku")
        if not isinstance(sku, str) or not sku.strip() or len(sku) > 32:
            errs.add(f"{f}.sku", "type", "sku应为非空字符串")
        qty = _qty(ln.get("qty"), f"{f}.qty", errs)
        price = _price(ln.get("price"), f"{f}.price", errs)
        if isinstance(sku, str) and qty is not None:
            out.append(LineInput(sku.strip().upper(), qty, price))
    return out


def _invoice(data: dict[str, Any], errs: _Errors) -> dict[str, str] | None:
    inv = data.get("invoice")
    if inv is None:
        return None
    if not isinstance(inv, dict):
        errs.add("invoice", "type", "invoice应为对象 {type, tax_id, bank, account}")
        return None
    out = {}
    for key in ("type", "tax_id", "bank", "account"):
        value = inv.get(key)
        if value is not None and not isinstance(value, str):
            errs.add(f"invoice.{key}", "type", f"invoice.{key}应为字符串")
        out[key] = value if isinstance(value, str) else ""
    if out["type"] and out["type"] not in INVOICE_TYPES:
        errs.add("invoice.type", "invalid", "开票类型应为普票、专票或无需")
    return out


def parse_place_order(data: dict[str, Any]) -> PlaceOrder:
    errs = _Errors()
    customer = data.get("customer")
    if not isinstance(customer, str) or not customer.strip():
        errs.add("customer", "required", "customer应为客户编码（非空字符串）")
    lines = _lines(data, errs)
    address = _opt_str(data, "address", errs)
    invoice = _invoice(data, errs)
    channel = _opt_str(data, "channel", errs, 16) or "api"
    campaign = _opt_str(data, "campaign", errs, 32) or None
    key = _opt_str(data, "idempotency_key", errs, MAX_KEY) or None
    warehouse = _opt_str(data, "warehouse", errs, 32) or None
    errs.raise_if_any()
    return PlaceOrder(customer=str(customer).strip(), lines=lines, address=address,
                      invoice=invoice, channel=channel, campaign=campaign,
                      idempotency_key=key, warehouse=warehouse)


@routes.post("/api/orders")
async def create_order(request: web.Request) -> web.Response:
    cmd = parse_place_order(await _body(request))
    svc = request.app[SERVICE]
    if cmd.warehouse and cmd.warehouse not in (await svc.catalog.fresh()).warehouses:
        raise Problem(422, "请求参数有误", [{"field": "warehouse", "code": "unknown_warehouse",
                                         "message": f"仓库“{cmd.warehouse}”不存在"}])
    result = await svc.place(cmd)
    if result.order is None:
        raise Problem(422, "订单未通过准入校验", [
            {"gate": g.code, "code": f"{g.code}_failed", "message": g.message}
            for g in failed(result.gates)], extra={"gates": _gates(result.gates)})
    body = await outcome_json(result, svc, request.app[TRACKING])
    return json_response(body, status=200 if result.replayed else 201)


def _gates(gates: Any) -> list[dict[str, Any]]:
    return [{"code": g.code, "ok": g.ok, "message": g.message} for g in gates]


@routes.get("/api/orders/{no}")
async def get_order(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    order = await svc.get(request.match_info["no"])
    return json_response(await order_json(order, svc, tracking=request.app[TRACKING]))


async def _actor(request: web.Request) -> tuple[str, dict[str, Any]]:
    data = await _body(request)
    errs = _Errors()
    actor = _opt_str(data, "actor", errs, 64) or "api"
    errs.raise_if_any()
    return actor, data


@routes.post("/api/orders/{no}/confirm")
async def confirm_order(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    actor, _ = await _actor(request)
    result = await svc.confirm(request.match_info["no"], actor)
    body = await outcome_json(result, svc, request.app[TRACKING]) if result.order else {}
    if not result.ok:
        raise Problem(409, "订单未能确认，已挂起", [
            {"gate": g.code, "code": f"{g.code}_failed", "message": g.message}
            for g in failed(result.gates)], extra={"order": body})
    return json_response(body)


@routes.post("/api/orders/{no}/cancel")
async def cancel_order(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    actor, data = await _actor(request)
    reason = data.get("reason") if isinstance(data.get("reason"), str) else ""
    order = await svc.cancel(request.match_info["no"], actor, reason)
    return json_response(await order_json(order, svc, tracking=request.app[TRACKING]))


@routes.post("/api/orders/{no}/release")
async def release_order(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    data = await _body(request)
    errs = _Errors()
    by = _opt_str(data, "by", errs, 64)
    reason = _opt_str(data, "reason", errs, 256)
    if not by:
        errs.add("by", "required", "by应为放行经理的企业微信账号")
    if not reason:
        errs.add("reason", "required", "放行需要写明原因")
    errs.raise_if_any()
    result = await svc.release_credit(request.match_info["no"], str(by), str(reason))
    body = (await order_json(result.order, svc, tracking=request.app[TRACKING])
            if result.order else {})
    if not result.ok:
        raise Problem(409, "已放行信用额度，但订单仍未通过其他校验", [
            {"gate": g.code, "code": f"{g.code}_failed", "message": g.message}
            for g in failed(result.gates)], extra={"order": body})
    return json_response(body)


@routes.post("/api/orders/{no}/expedite")
async def expedite_order(request: web.Request) -> web.Response:
    """Raise priority and re-allocate for the fastest delivery while nothing has shipped."""
    svc = request.app[SERVICE]
    actor, data = await _actor(request)
    reason = data.get("reason") if isinstance(data.get("reason"), str) else ""
    result = await svc.expedite(request.match_info["no"], actor, reason)
    return json_response(await outcome_json(result, svc, request.app[TRACKING]))


@routes.post("/api/orders/{no}/ship")
async def ship_order(request: web.Request) -> web.Response:
    """200 shipped; 202 when a carrier refused or failed: the order stays allocated, and
    `shipping_held` says why and when it is tried again (a repeated POST tries at once)."""
    svc = request.app[SERVICE]
    actor, _ = await _actor(request)
    result = await request.app[SHIPPING].ship(request.match_info["no"], actor)
    body = await order_json(result.order, svc, tracking=request.app[TRACKING])
    if result.shipped:
        return json_response(body)
    body["shipping_held"] = [{"seq": h.seq, "carrier": h.carrier, "reason": h.reason,
                              "attempts": h.attempts, "retry_at": iso(h.retry_at)}
                             for h in result.held]
    return json_response(body, status=202)



@routes.get("/api/stock/{sku}")
async def get_stock(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    sku = request.match_info["sku"].strip().upper()
    body = await stock_json(sku, await svc.catalog.fresh())
    if body is None:
        raise Problem(404, "商品不存在", [{"field": "sku", "code": "unknown_sku",
                                        "message": f"商品编码“{sku}”不存在"}])
    return json_response(body)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one edge that maps exceptions to problem+json; nothing unexpected leaks out."""
    try:
        return await handler(request)
    except Problem as p:
        return problem(p.status, p.title, p.errors, p.extra)
    except InputError as e:
        return problem(422, "请求参数有误", [{"field": e.field, "code": e.code,
                                          "message": e.message}])
    except NotFound as e:
        return problem(404, "订单不存在", [{"field": "no", "code": "not_found",
                                        "message": str(e)}])
    except IllegalTransition as e:
        return problem(409, "订单状态不允许此操作", [
            {"field": "status", "code": "illegal_transition", "message": str(e)}],
            {"status_now": e.current.value})
    except Forbidden as e:
        return problem(403, "没有权限", [{"field": "by", "code": "forbidden", "message": str(e)}])
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].max_body_bytes
        return problem(413, "请求体过大", [{"field": "body", "code": "too_large",
                                        "message": f"请求体不能超过{limit}字节"}])
    except web.HTTPException as e:
        if e.status >= 400 and request.path.startswith("/api/"):
            return problem(e.status, e.reason, [{"field": "path", "code": "http",
                                                 "message": e.reason}])
        raise
    except CarrierError as e:
        # Shipping holds carrier errors (202); one escaping from elsewhere wrote nothing.
        return problem(502, "快递公司接口出错，未出库", [{
            "field": "carrier", "code": f"carrier_{type(e).__name__}", "message": str(e)}])
    except OperationalError as e:
        if "locked" not in str(e) and "busy" not in str(e):
            raise
        log.warning("database busy on %s %s: %s", request.method, request.path, e)
        return problem(503, "系统繁忙，请稍后再试", [{"field": "body", "code": "busy",
                                                "message": "数据库繁忙，请稍后重试"}],
                       headers={"Retry-After": "1"})
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return problem(500, "系统繁忙，请稍后再试", [{"field": "body", "code": "internal",
                                                "message": "系统繁忙，请稍后再试"}])
