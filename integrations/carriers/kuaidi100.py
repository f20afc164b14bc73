"""Kuaidi100 (快递100): real-time query, subscribe, push callback and e-waybill v2.

Envelopes and signatures follow carriers.md §1: query sign = UPPER(MD5(param + key +
customer)); push sign = MD5(param + salt); label sign = UPPER(MD5(param + t + key + secret)).
One client issues and tracks waybills of one courier (`company` = its Kuaidi100 `kuaidicom`),
under that courier's account (`account`: partnerId, … from `[kuaidi100.couriers.X]`).

Kuaidi100 locks a number queried more often than every 30 minutes (锁单: no more updates),
so `query` refuses, with CarrierRateLimited, a number this client asked for less than 30
minutes ago. Polling should prefer the push service anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

import httpx

from bot.domain.couriers import COURIERS, Kuaidi100Account
from integrations.carriers.base import (
    DEFAULT_TIMEOUT,
    KUAIDI100_CODES,
    KUAIDI100_NAMES,
    CarrierAuthError,
    CarrierBadResponse,
    CarrierBusinessError,
    CarrierRateLimited,
    CarrierUnavailable,
    CommonStatus,
    PushResult,
    PushSignatureError,
    TrackingEvent,
    WaybillRequest,
    WaybillResult,
    bad_body,
    dict_items,
    env_or,
    json_object,
    parse_carrier_time,
    post,
    require_keys,
)

CODE = "kuaidi100"
REQUIRED_KEYS = ("KUAIDI100_KEY", "KUAIDI100_CUSTOMER", "KUAIDI100_SECRET", "KUAIDI100_SALT")
POLL_BASE = "https://poll.kuaidi100.com"
API_BASE = "https://api.kuaidi100.com"
LOCK_WINDOW_S = 30 * 60
# Our courier codes <-> Kuaidi100 company codes (carriers.md §1.6, bot/domain/couriers.py).
COMPANIES = {c.code: c.kuaidicom for c in COURIERS.values()}
OUR_CODES = {v: k for k, v in COMPANIES.items()}
PUSH_REPLY = {"result": True, "returnCode": "200", "message": "成功"}
_AUTH_CODES = {"503", "600", "601"}
_DOWN_CODES = {"501", "502"}
_NO_RESULT = "500"


def dumps(obj: Any) -> str:
    """The exact `param` string that is signed and sent."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def query_sign(param: str, key: str, customer: str) -> str:
    return _md5(param + key + customer).upper()


def push_sign(param: str, salt: str) -> str:
    return _md5(param + salt).upper()


def label_sign(param: str, t: str, key: str, secret: str) -> str:
    return _md5(param + t + key + secret).upper()


class Kuaidi100Client:
    code = CODE

    def __init__(self, http: httpx.AsyncClient, poll_base: str, api_base: str, key: str,
                 customer: str, secret: str, salt: str, timeout: float = DEFAULT_TIMEOUT, *,
                 company: str = "zhongtong", clock: Callable[[], float] = time.time,
                 account: Kuaidi100Account | None = None) -> None:
        self._http = http
        self._poll_base = poll_base.rstrip("/")
        self._api_base = api_base.rstrip("/")
        self._key, self._customer, self._secret, self._salt = key, customer, secret, salt
        self._timeout = timeout
        self.company = account.kuaidicom if account else company
        self.account = account
        self._clock = clock
        self._last_query: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Any, http: httpx.AsyncClient, *,
                      timeout: float = DEFAULT_TIMEOUT, company: str = "zhongtong",
                      account: Kuaidi100Account | None = None) -> Kuaidi100Client:
        keys = require_keys(settings, CODE, REQUIRED_KEYS)
        return cls(http, env_or(settings, "KUAIDI100_POLL_BASE", POLL_BASE),
                   env_or(settings, "KUAIDI100_API_BASE", API_BASE),
                   keys["KUAIDI100_KEY"], keys["KUAIDI100_CUSTOMER"],
                   keys["KUAIDI100_SECRET"], keys["KUAIDI100_SALT"], timeout, company=company,
                   account=account)

    # ---- real-time query -------------------------------------------------------------

    async def query(self, waybills: Sequence[tuple[str, str | None]]) -> list[TrackingEvent]:
        """One call per number (the API does not batch); events sorted by time."""
        self._guard_lock([num for num, _ in waybills])
        events: list[TrackingEvent] = []
        for num, phone in waybills:
            events.extend(await self._query_one(num, phone))
        return sorted(events, key=lambda e: (e.waybill, e.occurred_at))

    def _guard_lock(self, numbers: Sequence[str]) -> None:
        now = self._clock()
        waits = {n: self._last_query[n] + LOCK_WINDOW_S - now
                 for n in numbers if n in self._last_query}
        waits = {n: w for n, w in waits.items() if w > 0}
        if waits:
            raise CarrierRateLimited(
                f"快递100：单号 {', '.join(waits)} 距上次查询不足30分钟，为避免锁单暂不查询",
                carrier=CODE, retry_after=max(waits.values()))

    async def _query_one(self, num: str, phone: str | None) -> list[TrackingEvent]:
        param = dumps({"com": self.company, "num": num, "phone": phone or "",
                       "resultv2": "4", "order": "asc"})
        form = {"customer": self._customer, "param": param,
                "sign": query_sign(param, self._key, self._customer)}
        # Counted before sending: a request that timed out may still have reached Kuaidi100.
        self._last_query[num] = self._clock()
        resp = await post(self._http, CODE, f"{self._poll_base}/poll/query.do",
                          seconds=self._timeout, data=form)
        body = json_object(resp, CODE)
        if body.get("result") is False or "returnCode" in body:
            return self._no_result_or_raise(body)
        return self._events(body, num)

    def _no_result_or_raise(self, body: Mapping[str, Any]) -> list[TrackingEvent]:
        code, message = str(body.get("returnCode", "")), str(body.get("message", ""))
        if code == _NO_RESULT:
            return []
        raise _error(code, message)

    def _events(self, result: Mapping[str, Any], num: str) -> list[TrackingEvent]:
        data = dict_items(result.get("data"), CODE, "轨迹列表")
        carrier = OUR_CODES.get(str(result.get("com", self.company)), CODE)
        waybill = str(result.get("nu") or num)
        return [_event(item, waybill, carrier) for item in data]

    # ---- subscribe and push ----------------------------------------------------------

    async def subscribe(self, number: str, phone: str | None, callback_url: str) -> None:
        """Ask Kuaidi100 to push this number's tracking; a repeat (501) is success too."""
        param = dumps({"company": self.company, "number": number, "key": self._key,
                       "parameters": {"callbackurl": callback_url, "salt": self._salt,
                                      "resultv2": "4", "phone": phone or ""}})
        resp = await post(self._http, CODE, f"{self._poll_base}/poll", seconds=self._timeout,
                          data={"schema": "json", "param": param})
        body = json_object(resp, CODE)
        if "returnCode" not in body:
            raise bad_body(CODE, resp.text)
        code = str(body["returnCode"])
        if code not in ("200", "501"):
            raise _error(code, str(body.get("message", "")))

    def parse_push(self, body: bytes, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> PushResult:
        form = _form(body)
        param, sign = form.get("param", ""), form.get("sign", "")
        expected = push_sign(param, self._salt).encode()
        if not param or not hmac.compare_digest(sign.upper().encode(), expected):
            raise PushSignatureError("快递100推送签名校验失败", carrier=CODE)
        try:
            last = json.loads(param)["lastResult"]
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_body(CODE, param) from exc
        if not isinstance(last, dict):
            raise bad_body(CODE, param)
        events = self._events(last, str(last.get("nu", "")))
        reply = json.dumps(PUSH_REPLY, ensure_ascii=False).encode("utf-8")
        return PushResult(events, reply, "application/json;charset=utf-8")

    # ---- e-waybill -------------------------------------------------------------------

    async def create_waybill(self, req: WaybillRequest) -> WaybillResult:
        """`reorder=false` + the same orderId returns the first waybill within 48 h."""
        param = dumps(self._label_param(req))
        t = str(int(self._clock() * 1000))
        form = {"method": "order", "key": self._key, "t": t, "param": param,
                "sign": label_sign(param, t, self._key, self._secret)}
        resp = await post(self._http, CODE, f"{self._api_base}/label/order",
                          seconds=self._timeout, data=form)
        body = json_object(resp, CODE)
        if "code" not in body:
            raise bad_body(CODE, resp.text)
        if str(body["code"]) != "200":
            raise CarrierBusinessError(str(body.get("code")), str(body.get("message", "")),
                                       carrier=CODE)
        data = body.get("data")
        if not isinstance(data, dict) or not data.get("kuaidinum"):
            raise bad_body(CODE, resp.text)
        return WaybillResult(str(data["kuaidinum"]), OUR_CODES.get(self.company, CODE), body)

    def _label_param(self, req: WaybillRequest) -> dict[str, Any]:
        param: dict[str, Any] = {
            "printType": "NON", "kuaidicom": self.company,
            "recMan": _man(req.receiver), "sendMan": _man(req.sender),
            "cargo": req.description, "count": req.parcel_count,
            "weight": round(req.weight_kg, 2), "payType": "MONTHLY",
            "expType": self.account.exp_type if self.account else "标准快递",
            "orderId": req.carrier_order_id, "reorder": False,
        }
        if req.monthly_card:
            param["partnerId"] = req.monthly_card
        if self.account is not None:  # the courier account Kuaidi100 issues the waybill under
            param.update(self.account.label_fields())
        return param


def _man(p: Any) -> dict[str, str]:
    return {"name": p.name, "mobile": p.phone, "printAddr": p.full_address,
            "company": p.company}


def _event(item: Mapping[str, Any], waybill: str, carrier: str) -> TrackingEvent:
    try:
        occurred = parse_carrier_time(item.get("ftime") or item["time"])
    except (KeyError, ValueError) as exc:
        raise CarrierBadResponse(f"快递100轨迹时间无法识别：{item!r}", carrier=CODE) from exc
    return TrackingEvent(waybill, carrier, _status(item), occurred,
                         str(item.get("areaName") or item.get("location") or ""),
                         str(item.get("context", "")), dict(item))


def _status(item: Mapping[str, Any]) -> CommonStatus:
    code = str(item.get("statusCode", "")).strip()
    if code in KUAIDI100_CODES:
        return KUAIDI100_CODES[code]
    return KUAIDI100_NAMES.get(str(item.get("status", "")).strip(), CommonStatus.IN_TRANSIT)


def _error(code: str, message: str) -> Exception:
    if code in _AUTH_CODES:
        return CarrierAuthError(f"快递100：{message}", carrier=CODE, code=code)
    if code in _DOWN_CODES:
        return CarrierUnavailable(f"快递100：{message}", carrier=CODE, code=code)
    return CarrierBusinessError(code, message, carrier=CODE)


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in pairs.items()}
