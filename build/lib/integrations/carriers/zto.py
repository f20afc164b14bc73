"""ZTO open platform (中通 ZOP): create order, track query, subscribe and trace push.

Gateway (carriers.md §3.1): POST {base}/{apiName} with a JSON body and the headers
x-appKey (the official SDK calls it x-companyid; both are sent) and
x-dataDigest = Base64(MD5(body + appSecret)). Answers are
{"result", "message", "status", "statusCode"}; only status == true is success.

Pushes are forms: data (JSON), data_digest = Base64(MD5(data + appSecret)), msg_type=Traces,
company_id = appKey. ZTO re-pushes until the reply has status true.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

import httpx

from integrations.carriers.base import (
    DEFAULT_TIMEOUT,
    ZTO_ACTIONS,
    ZTO_SCAN_TYPES,
    CarrierAuthError,
    CarrierBadResponse,
    CarrierBusinessError,
    CarrierDuplicateOrder,
    CarrierRateLimited,
    CarrierUnavailable,
    Party,
    PushResult,
    PushSignatureError,
    TrackingEvent,
    WaybillRequest,
    WaybillResult,
    bad_body,
    dict_items,
    env_or,
    json_object,
    normalise,
    parse_carrier_time,
    post,
    require_keys,
)

CODE = "zto"
REQUIRED_KEYS = ("ZTO_APP_KEY", "ZTO_APP_SECRET")
API_BASE = "https://japi.zto.com"
PUSH_REPLY = {"status": True, "message": "成功", "result": "success", "statusCode": "SYS000"}
_AUTH = {"S210", "S211", "S212", "S214"}
_RATE = {"S206", "S221"}
_DOWN = {"S200", "S202", "S203"}
# ZTO's code for a repeated partnerOrderCode is not public; its wording is matched instead.
_DUPLICATE_WORDS = ("重复", "已存在")


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def data_digest(data: str, app_secret: str) -> str:
    """Base64(MD5(data + secret)): the x-dataDigest header and the push data_digest."""
    return base64.b64encode(hashlib.md5((data + app_secret).encode("utf-8")).digest()).decode()


class ZtoClient:
    code = CODE

    def __init__(self, http: httpx.AsyncClient, base_url: str, app_key: str, app_secret: str,
                 timeout: float = DEFAULT_TIMEOUT, *, account_id: str = "",
                 account_password: str = "") -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._app_key, self._app_secret = app_key, app_secret
        self._timeout = timeout
        self._account = (account_id, account_password)

    @classmethod
    def from_settings(cls, settings: Any, http: httpx.AsyncClient, *,
                      timeout: float = DEFAULT_TIMEOUT) -> ZtoClient:
        keys = require_keys(settings, CODE, REQUIRED_KEYS)
        return cls(http, env_or(settings, "ZTO_API_BASE", API_BASE), keys["ZTO_APP_KEY"],
                   keys["ZTO_APP_SECRET"], timeout)

    async def call(self, api_name: str, payload: Mapping[str, Any]) -> Any:
        """One gateway call; returns `result` of a successful answer."""
        body = dumps(payload)
        headers = {"Content-Type": "application/json;charset=UTF-8",
                   "x-appKey": self._app_key, "x-companyid": self._app_key,
                   "x-dataDigest": data_digest(body, self._app_secret)}
        resp = await post(self._http, CODE, f"{self._base}/{api_name}", seconds=self._timeout,
                          content=body.encode("utf-8"), headers=headers)
        answer = json_object(resp, CODE)
        if "status" not in answer:
            raise bad_body(CODE, resp.text)
        if answer["status"] is not True:
            raise _error(str(answer.get("statusCode", "")), str(answer.get("message", "")))
        return answer.get("result")

    # ---- create order ------------------------------------------------------------------

    async def create_waybill(self, req: WaybillRequest) -> WaybillResult:
        """A repeated partnerOrderCode raises CarrierDuplicateOrder: ZTO has no lookup by it."""
        result = await self.call("zto.open.createOrder", self._order(req))
        if not isinstance(result, dict) or not result.get("billCode"):
            raise CarrierBadResponse("中通下单应答中没有运单号", carrier=CODE)
        return WaybillResult(str(result["billCode"]), CODE, result)

    def _order(self, req: WaybillRequest) -> dict[str, Any]:
        account_id, password = self._account
        order: dict[str, Any] = {
            # partnerType 2 (non-group customer): orderType 1 全网件 needs the e-waybill
            # account; orderType 2 预约件 returns a waybill without one.
            "partnerType": "2", "orderType": "1" if account_id else "2",
            "partnerOrderCode": req.carrier_order_id,
            "senderInfo": _party("sender", req.sender),
            "receiveInfo": _party("receiver", req.receiver),
            "summaryInfo": {"quantity": req.parcel_count},
            "orderItems": [{"name": req.description, "quantity": req.parcel_count,
                            "weight": round(req.weight_kg * 1000)}],
        }
        if account_id:
            order["accountInfo"] = {"accountId": account_id, "accountPassword": password,
                                    "type": 1}
        return order

    # ---- track query, subscribe, push --------------------------------------------------

    async def query(self, waybills: Sequence[tuple[str, str | None]]) -> list[TrackingEvent]:
        """One call per number; ZTO wants the last 4 digits of a party's phone."""
        events: list[TrackingEvent] = []
        for num, phone in waybills:
            result = await self.call("zto.merchant.waybill.track.query",
                                     {"billCode": num, "mobilePhone": (phone or "")[-4:]})
            items = dict_items(result, CODE, "轨迹列表")
            events.extend(_scan_event(item, num) for item in items)
        return sorted(events, key=lambda e: (e.waybill, e.occurred_at))

    async def subscribe(self, bill_code: str, phone: str | None) -> None:
        await self.call("zto.merchant.waybill.track.subsrcibe",  # sic: ZTO's spelling
                        {"billCode": bill_code, "mobilePhone": (phone or "")[-4:]})

    def parse_push(self, body: bytes, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> PushResult:
        form = _form(body)
        data, digest = form.get("data", ""), form.get("data_digest", "")
        company = form.get("company_id", self._app_key)
        good = hmac.compare_digest(digest.encode(), data_digest(data, self._app_secret).encode())
        if not data or not good or company != self._app_key:
            raise PushSignatureError("中通推送签名校验失败", carrier=CODE)
        events = _push_events(data) if form.get("msg_type", "Traces") == "Traces" else []
        reply = json.dumps(PUSH_REPLY, ensure_ascii=False).encode("utf-8")
        return PushResult(events, reply, "application/json;charset=utf-8")


def _party(role: str, p: Party) -> dict[str, str]:
    return {f"{role}Name": p.name, f"{role}Mobile": p.phone, f"{role}Province": p.province,
            f"{role}City": p.city, f"{role}District": p.district, f"{role}Address": p.address}


def _error(code: str, message: str) -> Exception:
    text = f"中通：{message}"
    if code in _AUTH:
        return CarrierAuthError(text, carrier=CODE, code=code)
    if code in _RATE:
        return CarrierRateLimited(text, carrier=CODE, code=code)
    if code in _DOWN:
        return CarrierUnavailable(text, carrier=CODE, code=code)
    if any(word in message for word in _DUPLICATE_WORDS):
        return CarrierDuplicateOrder(code, message, carrier=CODE)
    return CarrierBusinessError(code, message, carrier=CODE)


def _scan_event(item: Mapping[str, Any], num: str) -> TrackingEvent:
    site = item.get("scanSite")
    site = site if isinstance(site, dict) else {}
    location = str(site.get("city") or site.get("name") or "")
    return _event(item, str(item.get("billCode") or num), "scanDate",
                  normalise(ZTO_SCAN_TYPES, item.get("scanType", "")), location)


def _push_events(data: str) -> list[TrackingEvent]:
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise bad_body(CODE, data) from exc
    items = dict_items(parsed if isinstance(parsed, list) else [parsed], CODE, "轨迹推送")
    return [_event(i, str(i.get("billCode", "")), "actionTime",
                   normalise(ZTO_ACTIONS, i.get("action", "")),
                   str(i.get("city") or i.get("facilityName") or "")) for i in items]


def _event(item: Mapping[str, Any], waybill: str, time_field: str, status: Any,
           location: str) -> TrackingEvent:
    try:
        occurred = parse_carrier_time(item[time_field])
    except (KeyError, ValueError, TypeError) as exc:
        raise CarrierBadResponse(f"中通轨迹时间无法识别：{item!r}", carrier=CODE) from exc
    return TrackingEvent(waybill, CODE, status, occurred, location, str(item.get("desc", "")),
                         dict(item))


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in pairs.items()}
