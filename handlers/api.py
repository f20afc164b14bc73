"""REST intake (DESIGN.md §5): translate JSON to commands and results to JSON. No rules here.

Every route needs an API key and declares the roles it accepts (handlers/auth.py); the actor
of everything is the key's owner. Bodies are read and checked at the edge
(handlers/api_input.py). Errors are application/problem+json with
`errors: [{field|gate, code, message}]`; bad input writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web
from tortoise.exceptions import OperationalError

from bot import customerview, sheet_orders
from bot.domain.gates import failed
from bot.domain.orders import STATUS_ZH, IllegalTransition
from bot.domain.roles import APPROVERS
from bot.ordering import (
    Approver,
    Forbidden,
    IdempotencyConflict,
    InputError,
    NotFound,
    PriceNotApproved,
)
from handlers import api_input
from handlers.auth import MULTIPART, principal, roles
from handlers.keys import DISPATCHER, SERVICE, SETTINGS, SHIPPING
from handlers.pages import TRACKING
from handlers.problems import Problem, json_response, problem
from handlers.views import iso, order_json, outcome_json, stock_json
from integrations.carriers.base import CarrierError
from storage.models import Customer, Staff

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# Who may do what (admin may do everything). README lists these.
READ = ("sales", "manager", "warehouse", "finance", "integration")
ORDER = ("sales", "manager", "integration")
SHIP = ("warehouse", "manager", "integration")
KEY_MAX = 96  # a sheet's idempotency key; each order's is key:customer (≤128)


@routes.post("/api/orders")
@roles(*ORDER)
async def create_order(request: web.Request) -> web.Response:
    who = principal(request)
    cmd = api_input.place_order(await api_input.read_json(request), who.name,
                                price_approved=who.role in APPROVERS)
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


@routes.post("/api/orders/import")
@roles(*ORDER, content=(MULTIPART,))
async def import_orders(request: web.Request) -> web.Response:
    """A spreadsheet (multipart field `file`, .xlsx/.csv): one draft per customer, the same
    rules as chat (bot/sheet_orders.py). 201 with the drafts and the rows not matched; 422
    naming the rows when no draft could be placed."""
    who = principal(request)
    name, data, key, customer = await _sheet_upload(request)
    svc = request.app[SERVICE]
    parser = request.app[DISPATCHER].deps["parser"]
    try:
        result = await sheet_orders.read_orders(data, name, parser,
                                                (await svc.catalog.fresh()).products,
                                                customer=customer)
    except sheet_orders.SheetError as e:
        raise Problem(413 if e.code == "too_large" else 422, "表格无法读取",
                      [{"field": "file", "code": e.code, "message": e.message}]) from None
    placed = await sheet_orders.place_all(result, svc, channel="api", actor=who.name,
                                          price_approved=who.role in APPROVERS, key=key)
    unmatched = [u.to_json() for u in result.unmatched]
    orders = [await outcome_json(p.outcome, svc, request.app[TRACKING])
              for p in placed if p.outcome is not None and p.outcome.order is not None]
    refused = [{"field": "customer", "code": "refused", "customer": p.sheet.customer,
                "rows": [ln.row for ln in p.sheet.lines],
                "message": p.error or "；".join(
                    g.message for g in failed(p.outcome.gates if p.outcome else []))}
               for p in placed if p.outcome is None or p.outcome.order is None]
    if not orders:
        raise Problem(422, "表格中没有可以下单的行", [
            {**u, "field": f"rows[{u['row']}].{u['field']}"} for u in unmatched] + refused,
            extra={"rows": result.total_rows})
    return json_response({"rows": result.total_rows, "orders": orders,
                          "unmatched": unmatched, "refused": refused}, status=201)


async def _sheet_upload(request: web.Request) -> tuple[str, bytes, str | None, str]:
    """(file name, bytes, idempotency key, customer) of the multipart body, bounded."""
    def bad(code: str, message: str, status: int = 422) -> Problem:
        return Problem(status, "请求参数有误", [{"field": "file", "code": code,
                                             "message": message}])
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, KeyError) as exc:
        raise bad("bad_multipart", "请求体不是有效的 multipart/form-data") from exc
    name, data, key, customer = "", None, None, ""
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and data is None:
                name = part.filename or ""
                data = await _bounded(part, sheet_orders.MAX_BYTES)
                if data is None:
                    raise bad("too_large", f"文件不能超过 {sheet_orders.MAX_BYTES // 1048576} MB",
                              413)
            elif part.name == "idempotency_key":
                key = (await part.text()).strip()[:KEY_MAX] or None
            elif part.name == "customer":
                customer = (await part.text()).strip()[:128]
    except ValueError as exc:
        raise bad("bad_multipart", "请求体不是有效的 multipart/form-data") from exc
    if data is None:
        raise bad("required", "请在表单字段 file 中上传 .xlsx 或 .csv 文件")
    return name or "upload", data, f"import:{key}" if key else None, customer


async def _bounded(part: BodyPartReader, limit: int) -> bytes | None:
    chunks, size = [], 0
    while chunk := await part.read_chunk():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@routes.post("/api/promise")
@roles(*ORDER)
async def quote_promise(request: web.Request) -> web.Response:
    """The body of POST /api/orders plus `at` (ISO 8601, as if confirmed then; default now):
    the shipments and gates a draft would get. Nothing is kept."""
    who = principal(request)
    data = await api_input.read_json(request)
    at = api_input.moment(data.get("at"), "at")
    cmd = api_input.place_order({k: v for k, v in data.items() if k != "at"}, who.name,
                                price_approved=who.role in APPROVERS)
    svc = request.app[SERVICE]
    if cmd.warehouse and cmd.warehouse not in (await svc.catalog.fresh()).warehouses:
        raise Problem(422, "请求参数有误", [{"field": "warehouse", "code": "unknown_warehouse",
                                         "message": f"仓库“{cmd.warehouse}”不存在"}])
    plan = await svc.quote(cmd, at or datetime.now(UTC))
    return json_response({
        "shipments": [{"warehouse": s["warehouse"], "carrier": s["carrier"],
                       "promised_at": iso(s["promised_at"]),
                       "lines": [{"sku": p.sku, "qty": p.qty} for p in s["picks"]]}
                      for s in plan.shipments],
        "promised_at": iso(plan.promised_at), "gates": _gates(plan.gates)})


def _gates(gates: Any) -> list[dict[str, Any]]:
    return [{"code": g.code, "ok": g.ok, "message": g.message} for g in gates]


@routes.get("/api/orders/{no}")
@roles(*READ)
async def get_order(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    order = await svc.get(api_input.order_no(request))
    return json_response(await order_json(order, svc, tracking=request.app[TRACKING]))


@routes.post("/api/orders/{no}/confirm")
@roles(*ORDER)
async def confirm_order(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    no = api_input.order_no(request)
    await api_input.read_json(request)
    result = await svc.confirm(no, principal(request).name)
    body = await outcome_json(result, svc, request.app[TRACKING]) if result.order else {}
    if not result.ok:
        raise Problem(409, "订单未能确认，已挂起", [
            {"gate": g.code, "code": f"{g.code}_failed", "message": g.message}
            for g in failed(result.gates)], extra={"order": body})
    return json_response(body)


@routes.post("/api/orders/{no}/cancel")
@roles(*ORDER)
async def cancel_order(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    no = api_input.order_no(request)
    reason = api_input.reason(await api_input.read_json(request))
    order = await svc.cancel(no, principal(request).name, reason)
    return json_response(await order_json(order, svc, tracking=request.app[TRACKING]))


@routes.post("/api/orders/{no}/release")
@roles("manager")
async def release_order(request: web.Request) -> web.Response:
    """A manager's key releases a held credit gate; the releasing manager is the key's owner
    (a `by` in the body is ignored)."""
    svc = request.app[SERVICE]
    no = api_input.order_no(request)
    reason = api_input.reason(await api_input.read_json(request), required=True)
    who = principal(request)
    staff = await Staff.get_or_none(userid=who.name)
    approver = Approver(who.name, staff.name if staff else who.name)
    result = await svc.release_credit(no, who.name, reason, approver)
    body = (await order_json(result.order, svc, tracking=request.app[TRACKING])
            if result.order else {})
    if not result.ok:
        raise Problem(409, "已放行信用额度，但订单仍未通过其他校验", [
            {"gate": g.code, "code": f"{g.code}_failed", "message": g.message}
            for g in failed(result.gates)], extra={"order": body})
    return json_response(body)


@routes.post("/api/orders/{no}/expedite")
@roles(*ORDER)
async def expedite_order(request: web.Request) -> web.Response:
    """Raise priority and re-allocate for the fastest delivery while nothing has shipped."""
    svc = request.app[SERVICE]
    no = api_input.order_no(request)
    reason = api_input.reason(await api_input.read_json(request))
    result = await svc.expedite(no, principal(request).name, reason)
    return json_response(await outcome_json(result, svc, request.app[TRACKING]))


@routes.post("/api/orders/{no}/ship")
@roles(*SHIP)
async def ship_order(request: web.Request) -> web.Response:
    """200 shipped; 202 when a carrier refused or failed: the order stays allocated, and
    `shipping_held` says why and when it is tried again (a repeated POST tries at once)."""
    svc = request.app[SERVICE]
    no = api_input.order_no(request)
    await api_input.read_json(request)
    result = await request.app[SHIPPING].ship(no, principal(request).name)
    body = await order_json(result.order, svc, tracking=request.app[TRACKING])
    if result.shipped:
        return json_response(body)
    body["shipping_held"] = [{"seq": h.seq, "carrier": h.carrier, "reason": h.reason,
                              "attempts": h.attempts, "retry_at": iso(h.retry_at)}
                             for h in result.held]
    return json_response(body, status=202)


@routes.get("/api/customers/{code}")
@roles("sales", "manager", "finance", "integration")
async def get_customer(request: web.Request) -> web.Response:
    """The order master view (bot/customerview.py) of one customer, by its code."""
    code = api_input.customer_code(request)
    customer = await Customer.get_or_none(code=code)
    if customer is None:
        raise Problem(404, "客户不存在", [{"field": "code", "code": "not_found",
                                        "message": f"客户编码“{code[:32]}”不存在"}])
    cat = await request.app[SERVICE].catalog.fresh()
    view = await customerview.load(customer, cat)
    return json_response(customerview.as_json(view, cat, iso, STATUS_ZH))


@routes.get("/api/stock/{sku}")
@roles(*READ)
async def get_stock(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    sku = api_input.sku(request)
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
        return problem(p.status, p.title, p.errors, p.extra, headers=p.headers)
    except PriceNotApproved as e:
        return problem(403, "单价低于允许的折扣，需经理审批", [
            {"field": f"lines[{b.index}].price", "code": "below_floor", "message": b.message}
            for b in e.lines], {"rule": "pricing.max_discount",
                                "max_discount": request.app[SETTINGS].pricing.max_discount})
    except IdempotencyConflict as e:
        return problem(409, "幂等键已用于另一个请求", [
            {"field": "idempotency_key", "code": "idempotency_conflict", "message": str(e)}],
            {"idempotency_key": e.key})
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
        return problem(403, "没有权限", [{"field": "Authorization", "code": "forbidden",
                                       "message": str(e)}])
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].max_body_bytes
        return problem(413, "请求体过大", [{"field": "body", "code": "too_large",
                                        "message": f"请求体不能超过{limit}字节"}])
    except web.HTTPException as e:
        if e.status >= 400 and request.path.startswith("/api/"):
            return problem(e.status, e.reason, [{"field": "path", "code": "http",
                                                 "message": e.reason}])
        raise
    except ConnectionResetError:
        raise  # the client went away: handlers/ops.py logs it (INFO) and counts it as 499
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
