"""Fake JD Logistics LOP gateway: /ecap/v1/orders/create and /ecap/v1/orders/trace/query.

Enforces carriers.md §4: the query string (LOP-DN=ECAP, app_key, access_token, timestamp,
v=2.0, sign, algorithm=md5-salt), the timestamp as "yyyy-MM-dd HH:mm:ss" GMT+8 within
10 minutes of now, sign = lower-hex MD5 over secret/token/key/path/raw body/timestamp/v, a
body that is a JSON array of one object, customerCode, and a unique orderId per customer
(JD's docs: re-using an orderId is an error). JD's gateway error codes are not public:
the 1xxx/2xxx codes below are this fake's own; successes are {"code": 0, "msg", "data"}.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from tests.fakes import FakeCarrierServer, forced, json_reply

GMT8 = ZoneInfo("Asia/Shanghai")
QUERY = ("LOP-DN", "app_key", "access_token", "timestamp", "v", "sign", "algorithm")
SKEW_S = 600
CREATE_FIELDS = ("orderId", "senderContact.name", "senderContact.mobile",
                 "senderContact.fullAddress", "receiverContact.name", "receiverContact.mobile",
                 "receiverContact.fullAddress", "productsReq.productCode", "settleType",
                 "cargoes.0.name", "cargoes.0.quantity", "cargoes.0.weight")


def sign(secret: str, token: str, key: str, path: str, body: str, ts: str, v: str) -> str:
    text = (f"{secret}access_token{token}app_key{key}method{path}param_json{body}"
            f"timestamp{ts}v{v}{secret}")
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def trace_node(waybill: str, time: str, category: int, remark: str, title: str = ""
               ) -> dict[str, Any]:
    return {"waybillCode": waybill, "operationTime": time, "operationTitle": title or remark,
            "operationRemark": remark, "category": category}


class FakeJd(FakeCarrierServer):
    def __init__(self, app_key: str = "JD_TEST_KEY", app_secret: str = "JD_TEST_SECRET",
                 access_token: str = "JD_TEST_TOKEN", customer_code: str = "010K000001"
                 ) -> None:
        super().__init__()
        self.app_key, self.app_secret = app_key, app_secret
        self.access_token, self.customer_code = access_token, customer_code
        self.orders: dict[str, dict[str, Any]] = {}
        self.traces: dict[str, list[dict[str, Any]]] = {}
        self.business_error = ("2002", "收件地址超出配送范围")
        self._serial = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/ecap/v1/orders/create", self.create)
        app.router.add_post("/ecap/v1/orders/trace/query", self.trace)

    async def _checked(self, request: web.Request) -> dict[str, Any] | web.Response:
        q, body = request.query, (await request.read()).decode("utf-8")
        missing = [k for k in QUERY if not q.get(k)]
        if missing:
            return _fail("1000", f"缺少公共参数：{missing[0]}")
        if q["LOP-DN"] != "ECAP" or q["v"] != "2.0" or q["algorithm"] != "md5-salt":
            return _fail("1000", "公共参数取值错误")
        if q["app_key"] != self.app_key or q["access_token"] != self.access_token:
            return _fail("1001", "app_key 或 access_token 无效")
        if not self._fresh(q["timestamp"]):
            return _fail("1002", "timestamp 非法或已过期")
        expected = sign(self.app_secret, self.access_token, self.app_key, request.path, body,
                        q["timestamp"], q["v"])
        if q["sign"] != expected:
            return _fail("1003", "sign 签名校验失败")
        if fault := forced(request):
            return (web.Response(status=429, headers={"Retry-After": "30"}, text="Too Many")
                    if fault == "rate_limit" else _fail(*self.business_error))
        return _one_object(body)

    def _fresh(self, ts: str) -> bool:
        try:
            at = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
        except ValueError:
            return False
        return abs(at.timestamp() - self.now()) <= SKEW_S

    async def create(self, request: web.Request) -> web.Response:
        p = await self._checked(request)
        if isinstance(p, web.Response):
            return p
        missing = next((f for f in CREATE_FIELDS if _get(p, f) in (None, "")), None)
        if missing:
            return _fail("2000", f"{missing}不能为空")
        if p.get("orderOrigin") != 1 or p.get("customerCode") != self.customer_code:
            return _fail("2003", "客户编码不存在或未签约")
        if p["orderId"] in self.orders:
            return _fail("2001", "商家订单号已存在，请勿重复下单")
        self._serial += 1
        data = {"orderId": p["orderId"], "waybillCode": f"JDV{self._serial:012d}",
                "orderCode": f"ECO{self._serial:012d}"}
        self.orders[p["orderId"]] = data
        return json_reply({"code": 0, "msg": "成功", "data": data})

    async def trace(self, request: web.Request) -> web.Response:
        p = await self._checked(request)
        if isinstance(p, web.Response):
            return p
        if not p.get("waybillCode") or p.get("customerCode") != self.customer_code:
            return _fail("2000", "waybillCode 和 customerCode 不能为空")
        nodes = self.traces.get(p["waybillCode"], [])
        return json_reply({"code": 0, "msg": "成功",
                           "data": {"waybillCode": p["waybillCode"], "traceDetails": nodes}})


def _one_object(body: str) -> dict[str, Any] | web.Response:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not (isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], dict)):
        return _fail("1004", "param_json 须为只含一个对象的 JSON 数组")
    return parsed[0]


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)] if part.isdigit() and int(part) < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def _fail(code: str, msg: str) -> web.Response:
    return json_reply({"code": code, "msg": msg, "data": None})
