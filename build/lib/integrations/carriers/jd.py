"""JD Logistics open platform (京东物流 LOP gateway, ECAP domain): create waybill and trace.

Signing (carriers.md §4.1): POST {base}{path}?LOP-DN=ECAP&app_key&access_token&timestamp
&v=2.0&sign&algorithm=md5-salt with a JSON body, where timestamp is "yyyy-MM-dd HH:mm:ss" in
GMT+8 and sign = lower-hex MD5(secret + "access_token" + token + "app_key" + key + "method"
+ path + "param_json" + body + "timestamp" + ts + "v" + "2.0" + secret). Bodies are a JSON
array holding one object. Answers are {"code": 0 | "0", "msg", "data"}.

JD's trace push format and verification are not public, so `parse_push` refuses.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from integrations.carriers.base import (
    DEFAULT_TIMEOUT,
    JD_CATEGORIES,
    SHANGHAI,
    CarrierAuthError,
    CarrierBadResponse,
    CarrierBusinessError,
    CarrierDuplicateOrder,
    Party,
    PushNotSupported,
    PushResult,
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

CODE = "jd"
REQUIRED_KEYS = ("JD_APP_KEY", "JD_APP_SECRET", "JD_ACCESS_TOKEN", "JD_CUSTOMER_CODE")
API_BASE = "https://api.jdl.com"
CREATE_PATH = "/ecap/v1/orders/create"
TRACE_PATH = "/ecap/v1/orders/trace/query"
VERSION = "2.0"
ORDER_ORIGIN_B2C = 1
SETTLE_MONTHLY = 3
OTHER_PLATFORM = "0030001"
# JD's error codes are not public; duplicate orders and signature failures are recognised
# by their wording.
_DUPLICATE_WORDS = ("重复", "已存在")
_AUTH_WORDS = ("签名", "sign", "token", "授权")


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def lop_timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def lop_sign(app_secret: str, access_token: str, app_key: str, path: str, body: str,
             timestamp: str, v: str = VERSION) -> str:
    text = (f"{app_secret}access_token{access_token}app_key{app_key}method{path}"
            f"param_json{body}timestamp{timestamp}v{v}{app_secret}")
    return hashlib.md5(text.encode("utf-8")).hexdigest()


class JdClient:
    code = CODE

    def __init__(self, http: httpx.AsyncClient, base_url: str, app_key: str, app_secret: str,
                 access_token: str, customer_code: str, timeout: float = DEFAULT_TIMEOUT, *,
                 product_code: str = "ed-m-0001", clock: Callable[[], float] = time.time
                 ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._app_key, self._app_secret, self._token = app_key, app_secret, access_token
        self.customer_code = customer_code
        self._timeout = timeout
        self._product_code = product_code
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Any, http: httpx.AsyncClient, *,
                      timeout: float = DEFAULT_TIMEOUT) -> JdClient:
        keys = require_keys(settings, CODE, REQUIRED_KEYS)
        return cls(http, env_or(settings, "JD_API_BASE", API_BASE), keys["JD_APP_KEY"],
                   keys["JD_APP_SECRET"], keys["JD_ACCESS_TOKEN"], keys["JD_CUSTOMER_CODE"],
                   timeout)

    async def call(self, path: str, payload: Mapping[str, Any]) -> Any:
        """One signed LOP call; returns `data` of a successful answer."""
        body, ts = dumps([payload]), lop_timestamp(self._clock())
        params = {"LOP-DN": "ECAP", "app_key": self._app_key, "access_token": self._token,
                  "timestamp": ts, "v": VERSION, "algorithm": "md5-salt",
                  "sign": lop_sign(self._app_secret, self._token, self._app_key, path, body,
                                   ts)}
        headers = {"Content-Type": "application/json;charset=utf-8", "lop-tz": "8"}
        resp = await post(self._http, CODE, self._base + path, seconds=self._timeout,
                          params=params, content=body.encode("utf-8"), headers=headers)
        answer = json_object(resp, CODE)
        if "code" not in answer:
            raise bad_body(CODE, resp.text)
        if str(answer["code"]) != "0":
            raise _error(str(answer["code"]), str(answer.get("msg") or ""))
        return answer.get("data")

    async def create_waybill(self, req: WaybillRequest) -> WaybillResult:
        """A repeated orderId is refused by JD; it raises CarrierDuplicateOrder."""
        data = await self.call(CREATE_PATH, self._order(req))
        if not isinstance(data, dict) or not data.get("waybillCode"):
            raise CarrierBadResponse("京东物流下单应答中没有运单号", carrier=CODE)
        return WaybillResult(str(data["waybillCode"]), CODE, data)

    def _order(self, req: WaybillRequest) -> dict[str, Any]:
        return {
            "orderId": req.carrier_order_id, "orderOrigin": ORDER_ORIGIN_B2C,
            "customerCode": self.customer_code,
            "productsReq": {"productCode": self._product_code},
            "settleType": SETTLE_MONTHLY,
            "senderContact": _contact(req.sender), "receiverContact": _contact(req.receiver),
            "cargoes": [{"name": req.description, "quantity": req.parcel_count,
                         "weight": round(req.weight_kg, 2)}],
            "commonChannelInfo": {"channelCode": OTHER_PLATFORM},
        }

    async def query(self, waybills: Sequence[tuple[str, str | None]]) -> list[TrackingEvent]:
        """One call per waybill (b2c: customerCode identifies the shipper)."""
        events: list[TrackingEvent] = []
        for num, _phone in waybills:
            data = await self.call(TRACE_PATH, {"waybillCode": num,
                                                "orderOrigin": ORDER_ORIGIN_B2C,
                                                "customerCode": self.customer_code})
            events.extend(_trace_events(data, num))
        return sorted(events, key=lambda e: (e.waybill, e.occurred_at))

    def parse_push(self, body: bytes, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> PushResult:
        raise PushNotSupported("京东物流轨迹推送的格式与验签方式未公开，暂不接收推送，请用轮询",
                               carrier=CODE)


def _contact(p: Party) -> dict[str, str]:
    return {"name": p.name, "mobile": p.phone, "fullAddress": p.full_address}


def _error(code: str, message: str) -> Exception:
    if any(word in message for word in _DUPLICATE_WORDS):
        return CarrierDuplicateOrder(code, message, carrier=CODE)
    if any(word in message.lower() for word in _AUTH_WORDS):
        return CarrierAuthError(f"京东物流：{message}", carrier=CODE, code=code)
    return CarrierBusinessError(code, message, carrier=CODE)


def _trace_events(data: Any, num: str) -> list[TrackingEvent]:
    if isinstance(data, list) and data:
        data = data[0]
    details = data.get("traceDetails") if isinstance(data, dict) else None
    return [_event(d, num) for d in dict_items(details, CODE, "traceDetails")]


def _event(item: Mapping[str, Any], num: str) -> TrackingEvent:
    try:
        occurred = parse_carrier_time(item["operationTime"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CarrierBadResponse(f"京东物流轨迹时间无法识别：{item!r}", carrier=CODE) from exc
    description = str(item.get("operationRemark") or item.get("operationTitle") or "")
    return TrackingEvent(str(item.get("waybillCode") or num), CODE,
                         normalise(JD_CATEGORIES, item.get("category", "")), occurred,
                         "", description, dict(item))  # no documented location field
