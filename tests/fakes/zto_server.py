"""Fake ZTO open platform gateway: POST /<apiName>, and a push producer.

Enforces carriers.md §3: the x-appKey / x-companyid header (S210), x-dataDigest =
Base64(MD5(body + secret)) (S211), a JSON body (S208), known API names (S207);
zto.open.createOrder required fields (S208), the e-waybill account for 全网件 (E404) and a
unique partnerOrderCode; zto.merchant.waybill.track.query wants a ZTO-looking number (E416)
and the last 4 digits of a phone (E413, E409 on mismatch). Rate limit is S221.
ZTO's code for a repeated partnerOrderCode is not public: E1015 below is this fake's own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from aiohttp import web

from tests.fakes import FakeCarrierServer, forced, form_body, json_reply

BILL = re.compile(r"^\d{12,15}$")
SENDER = ("senderName", "senderMobile", "senderProvince", "senderCity", "senderDistrict",
          "senderAddress")
RECEIVER = ("receiverName", "receiverMobile", "receiverProvince", "receiverCity",
            "receiverDistrict", "receiverAddress")


def digest(data: str, secret: str) -> str:
    return base64.b64encode(hashlib.md5((data + secret).encode("utf-8")).digest()).decode()


def trace(bill: str, action: str, action_time: str, desc: str, city: str = "",
          facility: str = "") -> dict[str, str]:
    """One push `data` object as ZTO sends it (field order as in the sandbox log)."""
    return {"billCode": bill, "actionTime": action_time, "city": city, "action": action,
            "facilityName": facility, "desc": desc}


def push_body(data: dict[str, Any] | str, app_key: str, secret: str,
              data_digest: str | None = None) -> bytes:
    """The form ZTO POSTs: data, data_digest, msg_type=Traces, company_id."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False,
                                                         separators=(",", ":"))
    return form_body({"data": text, "data_digest": data_digest or digest(text, secret),
                      "msg_type": "Traces", "company_id": app_key})


def scan(bill: str, scan_type: str, scan_date: str, desc: str, city: str) -> dict[str, Any]:
    """One track-query `result[]` item."""
    return {"billCode": bill, "scanType": scan_type, "scanDate": scan_date, "desc": desc,
            "scanSite": {"code": "02191", "name": f"{city}网点", "city": city, "prov": ""}}


class FakeZto(FakeCarrierServer):
    def __init__(self, app_key: str = "ZTO_TEST_KEY", app_secret: str = "ZTO_TEST_SECRET",
                 account: tuple[str, str] = ("test", "ZTO123")) -> None:
        super().__init__()
        self.app_key, self.app_secret, self.account = app_key, app_secret, account
        self.orders: dict[str, dict[str, Any]] = {}
        self.scans: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self.subscriptions: list[dict[str, Any]] = []
        self.business_error = ("E418", "鉴权失败,不存在对应的网点授权")
        self._serial = 0
        self._apis = {"zto.open.createOrder": self._create,
                      "zto.merchant.waybill.track.query": self._track,
                      "zto.merchant.waybill.track.subsrcibe": self._subscribe}

    def add_scans(self, bill: str, phone: str, *items: dict[str, Any]) -> None:
        self.scans.setdefault(bill, (phone, []))[1].extend(items)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/{api}", self.gateway)

    async def gateway(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode("utf-8")
        key = request.headers.get("x-appKey") or request.headers.get("x-companyid")
        if key != self.app_key:
            return _fail("S210", "无权限访问")
        if request.headers.get("x-dataDigest") != digest(body, self.app_secret):
            return _fail("S211", "签名错误")
        if fault := forced(request):
            return (_fail("S221", "api qps flow limit") if fault == "rate_limit"
                    else _fail(*self.business_error))
        api = self._apis.get(request.match_info["api"])
        if api is None:
            return _fail("S207", "API不存在")
        try:
            payload = json.loads(body)
        except ValueError:
            return _fail("S208", "请求体不是合法的JSON")
        return api(payload)

    def _create(self, p: dict[str, Any]) -> web.Response:
        for field in ("partnerType", "orderType", "partnerOrderCode"):
            if not p.get(field):
                return _fail("S208", f"{field}不能为空")
        for group, fields in (("senderInfo", SENDER), ("receiveInfo", RECEIVER)):
            for field in fields:
                if not (p.get(group) or {}).get(field):
                    return _fail("S208", f"{group}.{field}不能为空")
        if p["orderType"] == "1" and not self._account_ok(p.get("accountInfo") or {}):
            return _fail("E404", "鉴权失败,未绑定电子面单账号")
        if p["partnerOrderCode"] in self.orders:
            return _fail("E1015", "合作商订单号重复，请勿重复下单")
        self._serial += 1
        result = {"billCode": f"7310{self._serial:010d}", "orderCode": f"2505{self._serial:014d}",
                  "partnerOrderCode": p["partnerOrderCode"], "siteCode": "02100",
                  "siteName": "上海", "bigMarkInfo": {"mark": "300- H12 09", "bagAddr": "沪西"},
                  "verifyCode": None, "signBillInfo": None}
        self.orders[p["partnerOrderCode"]] = result
        return json_reply({"result": result, "message": "成功", "status": True,
                           "statusCode": "0000"})

    def _account_ok(self, info: dict[str, Any]) -> bool:
        return (info.get("accountId"), info.get("accountPassword")) == self.account

    def _track(self, p: dict[str, Any]) -> web.Response:
        bill, phone = str(p.get("billCode", "")), str(p.get("mobilePhone", ""))
        if not BILL.match(bill):
            return _fail("E416", "不符合中通运单号规则校验")
        if len(phone) != 4:
            return _fail("E413", "鉴权失败,请输入收寄人任一方电话号码后4位")
        known_phone, items = self.scans.get(bill, ("", []))
        if known_phone and not known_phone.endswith(phone):
            return _fail("E409", "鉴权失败,收寄人电话号码校验不一致")
        return json_reply({"result": items, "message": "操作成功", "status": True,
                           "statusCode": "SYS000"})

    def _subscribe(self, p: dict[str, Any]) -> web.Response:
        if not BILL.match(str(p.get("billCode", ""))):
            return _fail("E416", "不符合中通运单号规则校验")
        self.subscriptions.append(p)
        return json_reply({"result": None, "message": "操作成功", "statusCode": "SYS000",
                           "status": True})


def _fail(code: str, message: str) -> web.Response:
    return json_reply({"result": None, "message": message, "status": False,
                       "statusCode": code})
