"""Fake SF open platform: one /std/service dispatching on serviceCode, and a push producer.

Enforces carriers.md §2: the form envelope (A1001 on a missing field), the partner
(A1004), msgDigest with Java URLEncoder semantics (A1006), apiResultData returned as a JSON
*string*; EXP_RECE_CREATE_ORDER validates contacts, cargo and a 10-digit monthly card (6126)
and, as SF documents, answers a re-used orderId with the first waybill (set
`duplicate_policy = "8016"` to get the 8016 重复下单 the overview also lists);
EXP_RECE_SEARCH_ORDER_RESP finds an order by orderId (8018 otherwise);
EXP_RECE_SEARCH_ROUTES takes at most 10 numbers (8003). Rate limit is A1005.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from tests.fakes import FakeCarrierServer, forced, form_fields, json_reply

ENVELOPE = ("partnerID", "requestID", "serviceCode", "timestamp", "msgDigest", "msgData")
CARD = re.compile(r"^\d{10}$")


def digest(msg_data: str, timestamp: str, checkword: str) -> str:
    encoded = quote_plus(msg_data + timestamp + checkword, safe="*").replace("~", "%7E")
    return base64.b64encode(hashlib.md5(encoded.encode("utf-8")).digest()).decode()


def route(route_id: int, mailno: str, order_id: str, accept_time: str, op_code: str,
          remark: str, address: str = "") -> dict[str, Any]:
    """One WaybillRoute node as RoutePushService sends it (and the route query lists it)."""
    return {"id": str(route_id), "mailno": mailno, "orderid": order_id,
            "acceptTime": accept_time, "acceptAddress": address, "remark": remark,
            "opCode": op_code}


def push_body(routes: list[dict[str, Any]]) -> bytes:
    """RoutePushService JSON mode: {"Body": {"WaybillRoute": [...]}} (≤ 10 nodes)."""
    return json.dumps({"Body": {"WaybillRoute": routes}}, ensure_ascii=False).encode("utf-8")


class FakeSf(FakeCarrierServer):
    def __init__(self, partner_id: str = "LVYUE_TEST", checkword: str = "CHECKWORD_TEST"
                 ) -> None:
        super().__init__()
        self.partner_id, self.checkword = partner_id, checkword
        self.orders: dict[str, dict[str, Any]] = {}
        self.routes: dict[str, list[dict[str, Any]]] = {}
        self.duplicate_policy = "same"
        self.business_error = ("8119", "月结卡号已失效，请联系顺丰业务员")
        self._serial = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/std/service", self.service)

    def add_route(self, node: dict[str, Any]) -> None:
        self.routes.setdefault(node["mailno"], []).append(node)

    async def service(self, request: web.Request) -> web.Response:
        form = form_fields(await request.read())
        missing = [k for k in ENVELOPE if not form.get(k)]
        if missing:
            return _platform("A1001", f"必传参数不可为空：{missing[0]}")
        if form["partnerID"] != self.partner_id:
            return _platform("A1004", "无对应服务权限")
        if form["msgDigest"] != digest(form["msgData"], form["timestamp"], self.checkword):
            return _platform("A1006", "数字签名无效")
        if fault := forced(request):
            return (_platform("A1005", "流量超限") if fault == "rate_limit"
                    else _business(*self.business_error))
        return self._dispatch(form["serviceCode"], json.loads(form["msgData"]))

    def _dispatch(self, service: str, msg: dict[str, Any]) -> web.Response:
        if service == "EXP_RECE_CREATE_ORDER":
            return self._create(msg)
        if service == "EXP_RECE_SEARCH_ORDER_RESP":
            found = self.orders.get(msg.get("orderId", ""))
            return _ok(found) if found else _business("8018", "未获取到订单信息")
        if service == "EXP_RECE_SEARCH_ROUTES":
            return self._routes(msg)
        return _platform("A1004", "无对应服务权限")

    def _create(self, msg: dict[str, Any]) -> web.Response:
        error = _order_error(msg)
        if error:
            return _business(*error)
        first = self.orders.get(msg["orderId"])
        if first is not None:
            return _business("8016", "重复下单") if self.duplicate_policy == "8016" else _ok(first)
        self._serial += 1
        data = {"orderId": msg["orderId"], "originCode": "571", "destCode": "021",
                "filterResult": 2, "remark": "",
                "waybillNoInfoList": [{"waybillType": 1, "waybillNo": f"SF{self._serial:013d}"}],
                "routeLabelInfo": [{"code": "1000", "routeLabelData": {"destRouteLabel": "021W"}}]}
        self.orders[msg["orderId"]] = data
        return _ok(data)

    def _routes(self, msg: dict[str, Any]) -> web.Response:
        numbers = msg.get("trackingNumber") or []
        if not numbers:
            return _business("8013", "未传入查询单号")
        if len(numbers) > 10:
            return _business("8003", "查询单号超过最大限制10")
        resps = [{"mailNo": n, "routes": [_query_node(r) for r in self.routes.get(n, [])]}
                 for n in numbers]
        return _ok({"routeResps": resps})


def _query_node(node: dict[str, Any]) -> dict[str, Any]:
    return {k: node[k] for k in ("acceptTime", "acceptAddress", "remark", "opCode")}


def _order_error(msg: dict[str, Any]) -> tuple[str, str] | None:
    if not msg.get("orderId"):
        return ("1010", "订单号不能为空")
    kinds = {c.get("contactType"): c for c in msg.get("contactInfoList") or []}
    for kind, label in ((1, "寄件方"), (2, "收件方")):
        contact = kinds.get(kind) or {}
        if not contact.get("address") or not contact.get("contact"):
            return ("1011", f"{label}地址或联系人不能为空")
        if not (contact.get("mobile") or contact.get("tel")):
            return ("1012", f"{label}联系电话不能为空")
    cargo = msg.get("cargoDetails") or [{}]
    if not cargo[0].get("name"):
        return ("1016", "托寄物名称不能为空")
    card = msg.get("monthlyCard")
    if card is not None and not CARD.match(str(card)):
        return ("6126", "月结卡号不合法")
    return None


def _envelope(code: str, message: str, result: Any) -> web.Response:
    return json_reply({"apiResultCode": code, "apiErrorMsg": message,
                       "apiResponseID": uuid.uuid4().hex.upper(),
                       "apiResultData": None if result is None
                       else json.dumps(result, ensure_ascii=False)})


def _platform(code: str, message: str) -> web.Response:
    return _envelope(code, message, None)


def _ok(msg_data: dict[str, Any]) -> web.Response:
    return _envelope("A1000", "", {"success": True, "errorCode": "S0000", "errorMsg": None,
                                   "msgData": msg_data})


def _business(code: str, message: str) -> web.Response:
    return _envelope("A1000", "", {"success": False, "errorCode": code, "errorMsg": message,
                                   "msgData": None})
