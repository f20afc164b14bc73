"""SF Express open platform (顺丰丰桥): create order → waybill, route query, route push.

Envelope (carriers.md §2.2): form fields partnerID, requestID, serviceCode, timestamp (ms),
msgDigest, msgData, with msgDigest = Base64(MD5(URLEncode(msgData + timestamp + checkword)))
using Java URLEncoder semantics. The answer carries apiResultCode and apiResultData, the
latter a JSON-encoded string (parsed defensively if it is an object).

Route pushes (RoutePushService, JSON mode) carry no signature SF documents, so we verify our
own secret instead: the callback URL configured in the SF console must carry
`?token=<push_token()>`, derived from the checkword (see `callback_url`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

import httpx

from integrations.carriers.base import (
    DEFAULT_TIMEOUT,
    SF_OPCODES,
    CarrierAuthError,
    CarrierBadResponse,
    CarrierBusinessError,
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

CODE = "sf"
REQUIRED_KEYS = ("SF_PARTNER_ID", "SF_CHECKWORD")
API_BASE = "https://bspgw.sf-express.com"
SERVICE_PATH = "/std/service"
MAX_ROUTE_NUMBERS = 10
DUPLICATE_ORDER = "8016"
PUSH_REPLY = {"return_code": "0000", "return_msg": "成功"}
_AUTH = {"A1002", "A1003", "A1004", "A1006", "A1008", "A1010"}
_DOWN = {"A1009", "A1099"}
_RATE_LIMITED = "A1005"


def java_urlencode(text: str) -> str:
    """Java URLEncoder.encode(s, "UTF-8"): space → '+', '*' kept, '~' → %7E."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def msg_digest(msg_data: str, timestamp: str, checkword: str) -> str:
    raw = java_urlencode(msg_data + timestamp + checkword).encode("utf-8")
    return base64.b64encode(hashlib.md5(raw).digest()).decode("ascii")


def push_token(partner_id: str, checkword: str) -> str:
    """Our shared secret for the route-push callback URL (SF signs nothing there)."""
    mac = hmac.new(checkword.encode(), f"lvyue-sf-push:{partner_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class SfClient:
    code = CODE

    def __init__(self, http: httpx.AsyncClient, base_url: str, partner_id: str,
                 checkword: str, monthly_card: str = "", timeout: float = DEFAULT_TIMEOUT, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + SERVICE_PATH
        self._partner_id, self._checkword = partner_id, checkword
        self._monthly_card = monthly_card
        self._timeout = timeout
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Any, http: httpx.AsyncClient, *,
                      timeout: float = DEFAULT_TIMEOUT) -> SfClient:
        keys = require_keys(settings, CODE, REQUIRED_KEYS)
        return cls(http, env_or(settings, "SF_API_BASE", API_BASE), keys["SF_PARTNER_ID"],
                   keys["SF_CHECKWORD"], env_or(settings, "SF_MONTHLY_CARD", ""), timeout)

    def push_token(self) -> str:
        return push_token(self._partner_id, self._checkword)

    def callback_url(self, public_url: str) -> str:
        """The URL to enter in the SF console for RoutePushService (JSON mode)."""
        return f"{public_url.rstrip('/')}/carriers/sf/push?token={self.push_token()}"

    # ---- envelope ----------------------------------------------------------------------

    async def call(self, service_code: str, msg_data: Mapping[str, Any]) -> dict[str, Any]:
        """One service call; returns the inner msgData of a successful answer."""
        data, ts = dumps(msg_data), str(int(self._clock() * 1000))
        form = {"partnerID": self._partner_id, "requestID": uuid.uuid4().hex,
                "serviceCode": service_code, "timestamp": ts,
                "msgDigest": msg_digest(data, ts, self._checkword), "msgData": data}
        resp = await post(self._http, CODE, self._url, seconds=self._timeout, data=form)
        return _unwrap(json_object(resp, CODE), resp.text)

    # ---- create order ------------------------------------------------------------------

    async def create_waybill(self, req: WaybillRequest) -> WaybillResult:
        """Re-using an orderId returns the first waybill; an 8016 answer is looked up."""
        try:
            data = await self.call("EXP_RECE_CREATE_ORDER", self._order(req))
        except CarrierBusinessError as exc:
            if exc.code != DUPLICATE_ORDER:
                raise
            data = await self.call("EXP_RECE_SEARCH_ORDER_RESP", {
                "orderId": req.carrier_order_id, "searchType": "1", "language": "zh-CN"})
        return WaybillResult(_parent_waybill(data), CODE, data)

    def _order(self, req: WaybillRequest) -> dict[str, Any]:
        order: dict[str, Any] = {
            "language": "zh-CN", "orderId": req.carrier_order_id,
            "contactInfoList": [_contact(1, req.sender), _contact(2, req.receiver)],
            "cargoDetails": [{"name": req.description, "count": req.parcel_count}],
            "payMethod": 1, "expressTypeId": 1, "parcelQty": req.parcel_count,
            "totalWeight": round(req.weight_kg, 2), "isReturnRoutelabel": 1,
        }
        card = req.monthly_card or self._monthly_card
        if card:
            order["monthlyCard"] = card
        return order

    # ---- route query and push ----------------------------------------------------------

    async def query(self, waybills: Sequence[tuple[str, str | None]]) -> list[TrackingEvent]:
        """Batches of at most 10 numbers sharing one check phone (last 4 digits)."""
        events: list[TrackingEvent] = []
        for phone, numbers in _batches(waybills):
            msg: dict[str, Any] = {"language": "0", "trackingType": "1",
                                   "trackingNumber": numbers, "methodType": "1"}
            if phone:
                msg["checkPhoneNo"] = phone
            data = await self.call("EXP_RECE_SEARCH_ROUTES", msg)
            events.extend(_route_events(data))
        return sorted(events, key=lambda e: (e.waybill, e.occurred_at))

    def parse_push(self, body: bytes, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> PushResult:
        token = query.get("token", "")
        if not hmac.compare_digest(token.encode(), self.push_token().encode()):
            raise PushSignatureError("顺丰路由推送的回调密钥不符", carrier=CODE)
        try:
            routes = dict_items(json.loads(body)["Body"]["WaybillRoute"], CODE, "WaybillRoute")
            events = [_event(r, str(r["mailno"])) for r in routes]
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_body(CODE, body.decode("utf-8", "replace")) from exc
        reply = json.dumps(PUSH_REPLY, ensure_ascii=False).encode("utf-8")
        return PushResult(events, reply, "application/json;charset=utf-8")


def _contact(kind: int, p: Party) -> dict[str, Any]:
    return {"contactType": kind, "company": p.company or p.name, "contact": p.name,
            "mobile": p.phone, "country": "CN", "province": p.province, "city": p.city,
            "county": p.district, "address": p.address}


def _unwrap(envelope: Mapping[str, Any], text: str) -> dict[str, Any]:
    code = str(envelope.get("apiResultCode", ""))
    if not code:
        raise bad_body(CODE, text)
    if code != "A1000":
        raise _platform_error(code, str(envelope.get("apiErrorMsg") or code))
    result = envelope.get("apiResultData")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError as exc:
            raise bad_body(CODE, result) from exc
    if not isinstance(result, dict):
        raise bad_body(CODE, text)
    if result.get("success") is not True:
        raise CarrierBusinessError(str(result.get("errorCode", "")),
                                   str(result.get("errorMsg") or ""), carrier=CODE)
    msg = result.get("msgData")
    return msg if isinstance(msg, dict) else {}


def _platform_error(code: str, message: str) -> Exception:
    text = f"顺丰：{message}"
    if code in _AUTH:
        return CarrierAuthError(text, carrier=CODE, code=code)
    if code == _RATE_LIMITED:
        return CarrierRateLimited(text, carrier=CODE, code=code)
    if code in _DOWN:
        return CarrierUnavailable(text, carrier=CODE, code=code)
    return CarrierBusinessError(code, message, carrier=CODE)


def _parent_waybill(data: Mapping[str, Any]) -> str:
    infos = data.get("waybillNoInfoList") or []
    parents = [i for i in infos if isinstance(i, dict) and str(i.get("waybillType")) == "1"]
    if parents and parents[0].get("waybillNo"):
        return str(parents[0]["waybillNo"])
    if str(data.get("filterResult")) == "3":
        raise CarrierBusinessError("filterResult=3", str(data.get("remark") or "不可以收派"),
                                   carrier=CODE)
    raise CarrierBadResponse("顺丰下单应答中没有运单号", carrier=CODE)


def _batches(waybills: Sequence[tuple[str, str | None]]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for num, phone in waybills:
        groups.setdefault((phone or "")[-4:], []).append(num)
    return [(phone, nums[i:i + MAX_ROUTE_NUMBERS])
            for phone, nums in groups.items() for i in range(0, len(nums), MAX_ROUTE_NUMBERS)]


def _route_events(data: Mapping[str, Any]) -> list[TrackingEvent]:
    resps = dict_items(data.get("routeResps"), CODE, "routeResps")
    return [_event(route, str(resp.get("mailNo", "")))
            for resp in resps for route in dict_items(resp.get("routes") or [], CODE, "routes")]


def _event(route: Mapping[str, Any], waybill: str) -> TrackingEvent:
    try:
        occurred = parse_carrier_time(route["acceptTime"])
    except (KeyError, ValueError) as exc:
        raise CarrierBadResponse(f"顺丰路由时间无法识别：{route!r}", carrier=CODE) from exc
    return TrackingEvent(waybill, CODE, normalise(SF_OPCODES, route.get("opCode", "")),
                         occurred, str(route.get("acceptAddress", "")),
                         str(route.get("remark", "")), dict(route))
