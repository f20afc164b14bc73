"""What every carrier client shares: the common status set, events, requests, errors, HTTP edge.

Each carrier module (kuaidi100, sf, zto, jd) speaks its own envelope and signature and maps
its status codes onto `CommonStatus` with the tables at the end of this module (sources in
/work/shared/reference/carriers.md). Carrier times are naive "yyyy-MM-dd HH:mm:ss" in China
local time; `parse_carrier_time` reads them as Asia/Shanghai.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from bot.domain.parcels import CommonStatus as CommonStatus
from bot.domain.parcels import TrackingEvent as TrackingEvent
from bot.domain.vocab import CARRIER_ZH as CARRIER_NAMES
from bot.domain.vocab import CST as SHANGHAI

DEFAULT_TIMEOUT = 10.0


def dedupe_sorted(events: Sequence[TrackingEvent]) -> list[TrackingEvent]:
    """Drop repeated events and order the rest by time (pushes arrive twice and out of order)."""
    unique = {e.key: e for e in events}
    return sorted(unique.values(), key=lambda e: (e.waybill, e.occurred_at))


@dataclass(frozen=True)
class Party:
    """A sender (the warehouse) or a receiver."""

    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str
    company: str = ""

    @property
    def full_address(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.address}"


@dataclass(frozen=True)
class WaybillRequest:
    order_no: str
    shipment_seq: int
    sender: Party
    receiver: Party
    parcel_count: int
    weight_kg: float
    description: str
    monthly_card: str | None = None

    @property
    def carrier_order_id(self) -> str:
        """The idempotent order id sent to the carrier: one per shipment of an order."""
        return f"{self.order_no}-{self.shipment_seq}"


@dataclass(frozen=True)
class WaybillResult:
    waybill_no: str
    carrier: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class PushResult:
    """What a push yields, and the exact HTTP answer the carrier requires."""

    events: list[TrackingEvent]
    reply_body: bytes
    reply_content_type: str
    reply_status: int = 200


class CarrierClient(Protocol):
    code: str

    async def create_waybill(self, req: WaybillRequest) -> WaybillResult: ...

    async def query(self, waybills: Sequence[tuple[str, str | None]]) -> list[TrackingEvent]: ...

    def parse_push(self, body: bytes, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> PushResult: ...


# ---- errors ------------------------------------------------------------------------------

class CarrierError(Exception):
    """Anything that went wrong talking to a carrier; `message` is fit to show (Chinese)."""

    def __init__(self, message: str, *, carrier: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.carrier = carrier
        self.code = code


class CarrierDisabled(CarrierError):
    def __init__(self, message: str, *, carrier: str = "", missing: Sequence[str] = ()) -> None:
        super().__init__(message, carrier=carrier)
        self.missing = tuple(missing)


class CarrierAuthError(CarrierError):
    """Keys, signature, token or IP refused by the carrier."""


class CarrierTimeout(CarrierError):
    pass


class CarrierUnavailable(CarrierError):
    """5xx, connection failure, or the carrier saying its own backend is down."""

    def __init__(self, message: str, *, carrier: str = "", code: str = "",
                 status: int | None = None) -> None:
        super().__init__(message, carrier=carrier, code=code)
        self.status = status


class CarrierBadResponse(CarrierError):
    """A body that is not what the protocol promises (HTML, truncated JSON, missing fields)."""


class CarrierBusinessError(CarrierError):
    """The carrier refused the request; `message` is the carrier's own words."""

    def __init__(self, code: str, message: str, *, carrier: str = "") -> None:
        super().__init__(message, carrier=carrier, code=code)


class CarrierDuplicateOrder(CarrierBusinessError):
    """The order id was already used and the API offers no way to fetch the first waybill."""


class CarrierRateLimited(CarrierError):
    def __init__(self, message: str, *, carrier: str = "", code: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message, carrier=carrier, code=code)
        self.retry_after = retry_after


class PushSignatureError(CarrierError):
    """A push whose signature (or secret) does not verify: answer 403, keep nothing."""


class PushNotSupported(CarrierError):
    """The carrier has no push channel we can verify."""


# ---- configuration -------------------------------------------------------------------------

def missing_keys(settings: Any, keys: Sequence[str]) -> list[str]:
    env: Mapping[str, Any] = settings.env
    return [k for k in keys if not env.get(k)]


def require_keys(settings: Any, carrier: str, keys: Sequence[str]) -> dict[str, str]:
    """The secret values of `keys`, or CarrierDisabled naming the missing ones."""
    missing = missing_keys(settings, keys)
    if missing:
        raise CarrierDisabled(f"{CARRIER_NAMES[carrier]}未配置密钥：{', '.join(missing)}",
                              carrier=carrier, missing=missing)
    return {k: settings.env[k].value for k in keys}


def env_or(settings: Any, key: str, default: str) -> str:
    secret = settings.env.get(key)
    return secret.value if secret else default


# ---- HTTP edge -----------------------------------------------------------------------------

async def post(http: httpx.AsyncClient, carrier: str, url: str, *, seconds: float,
               **kwargs: Any) -> httpx.Response:
    """POST with a `seconds` time limit; transport failures and bad statuses become errors."""
    name = CARRIER_NAMES[carrier]
    try:
        resp = await http.post(url, timeout=seconds, **kwargs)
    except httpx.TimeoutException as exc:
        # the bulkhead's total deadline (integrations/http.py) may fire before `seconds`
        waited = getattr(exc, "deadline_s", seconds)
        if isinstance(exc, httpx.PoolTimeout):
            raise CarrierTimeout(f"{name}接口繁忙（{waited:g} 秒内请求未能发出）",
                                 carrier=carrier) from exc
        raise CarrierTimeout(f"{name}接口超时（{waited:g} 秒未响应）", carrier=carrier) from exc
    except httpx.TransportError as exc:
        raise CarrierUnavailable(f"{name}接口无法连接：{exc!r}", carrier=carrier) from exc
    check_status(resp, carrier)
    return resp


def check_status(resp: httpx.Response, carrier: str) -> None:
    name, status = CARRIER_NAMES[carrier], resp.status_code
    if status == 429:
        raise CarrierRateLimited(f"{name}接口限流（HTTP 429）", carrier=carrier,
                                 retry_after=_retry_after(resp))
    if status >= 500:
        raise CarrierUnavailable(f"{name}接口故障（HTTP {status}）", carrier=carrier,
                                 status=status)
    if status in (401, 403):
        raise CarrierAuthError(f"{name}拒绝访问（HTTP {status}）", carrier=carrier)
    if status >= 400:
        raise CarrierBadResponse(f"{name}接口返回 HTTP {status}", carrier=carrier)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return float(value)
    except ValueError:
        return None


def json_object(resp: httpx.Response, carrier: str) -> dict[str, Any]:
    """The response body as a JSON object, or CarrierBadResponse quoting its start."""
    try:
        data = resp.json()
    except ValueError as exc:
        raise bad_body(carrier, resp.text) from exc
    if not isinstance(data, dict):
        raise bad_body(carrier, resp.text)
    return data


def dict_items(items: Any, carrier: str, what: str) -> list[dict[str, Any]]:
    """A list of JSON objects, or CarrierBadResponse naming what was expected."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise CarrierBadResponse(f"{CARRIER_NAMES[carrier]}应答中的{what}格式不对",
                                 carrier=carrier)
    return items


def bad_body(carrier: str, text: str) -> CarrierBadResponse:
    snippet = " ".join(text.split())[:80]
    return CarrierBadResponse(f"{CARRIER_NAMES[carrier]}返回了无法识别的内容：{snippet!r}",
                              carrier=carrier)


# ---- times ---------------------------------------------------------------------------------

_EPOCH = re.compile(r"^\d{10}(\d{3})?$")
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


def parse_carrier_time(text: str | int | float) -> datetime:
    """A carrier timestamp as an aware datetime in Asia/Shanghai.

    Naive strings are China local time; strings with an offset are converted; 10- or
    13-digit numbers are epoch seconds or milliseconds. Raises ValueError otherwise.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = str(int(text))
    if not isinstance(text, str):
        raise ValueError(f"not a carrier time: {text!r}")
    value = text.strip()
    if _EPOCH.match(value):
        seconds = int(value) / (1000 if len(value) == 13 else 1)
        return datetime.fromtimestamp(seconds, SHANGHAI)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = _strptime(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=SHANGHAI)
    return parsed.astimezone(SHANGHAI)


def _strptime(value: str) -> datetime:
    for fmt in _FORMATS:
        try:
            return datetime.strptime(value, fmt)  # noqa: DTZ007 (zone set by the caller)
        except ValueError:
            continue
    raise ValueError(f"not a carrier time: {value!r}")


# ---- normalisation tables (carriers.md §1.2, §2.7, §3.3, §3.5, §4.2) ------------------------
# Seven common statuses only: "available for pickup" (locker/station) counts as
# out_for_delivery, a cancelled waybill as exception (someone has to look at it).

S = CommonStatus

# Kuaidi100 `state` (main) and `statusCode` (resultv2=4 sub-states) share one key space.
KUAIDI100_CODES: dict[str, CommonStatus] = {
    "1": S.COLLECTED, "101": S.INFO_RECEIVED, "102": S.INFO_RECEIVED, "103": S.COLLECTED,
    "0": S.IN_TRANSIT, "1001": S.IN_TRANSIT, "1002": S.IN_TRANSIT, "1003": S.IN_TRANSIT,
    "5": S.OUT_FOR_DELIVERY, "501": S.OUT_FOR_DELIVERY,
    "3": S.DELIVERED, "301": S.DELIVERED, "302": S.DELIVERED, "303": S.DELIVERED,
    "304": S.DELIVERED,
    "6": S.RETURNED, "4": S.RETURNED, "401": S.EXCEPTION,
    "14": S.EXCEPTION, "7": S.IN_TRANSIT,
    "2": S.EXCEPTION, **{str(c): S.EXCEPTION for c in range(201, 211)},
    "8": S.IN_TRANSIT, "10": S.IN_TRANSIT, "11": S.IN_TRANSIT, "12": S.IN_TRANSIT,
    "13": S.EXCEPTION,
}
# The Chinese state name each `data[]` item carries with resultv2>=1.
KUAIDI100_NAMES: dict[str, CommonStatus] = {
    "揽收": S.COLLECTED, "已下单": S.INFO_RECEIVED, "待揽收": S.INFO_RECEIVED,
    "已揽收": S.COLLECTED, "在途": S.IN_TRANSIT, "干线": S.IN_TRANSIT,
    "到达派件城市": S.IN_TRANSIT, "转递": S.IN_TRANSIT, "派件": S.OUT_FOR_DELIVERY,
    "投柜或驿站": S.OUT_FOR_DELIVERY, "签收": S.DELIVERED, "本人签收": S.DELIVERED,
    "代签": S.DELIVERED, "投柜或站签收": S.DELIVERED, "派件异常后签收": S.DELIVERED,
    "退回": S.RETURNED, "退签": S.RETURNED, "已销单": S.EXCEPTION, "拒签": S.EXCEPTION,
    "转投": S.IN_TRANSIT, "疑难": S.EXCEPTION, "清关": S.IN_TRANSIT, "待清关": S.IN_TRANSIT,
    "清关中": S.IN_TRANSIT, "已清关": S.IN_TRANSIT, "清关异常": S.EXCEPTION,
}

SF_OPCODES: dict[str, CommonStatus] = {
    **dict.fromkeys(("50", "51", "54", "43", "607"), S.COLLECTED),
    **dict.fromkeys(("30", "31", "36", "10", "11", "105", "106", "302", "304", "3036", "34",
                     "123"), S.IN_TRANSIT),
    **dict.fromkeys(("44", "204", "122", "630", "125", "130", "678"), S.OUT_FOR_DELIVERY),
    **dict.fromkeys(("80", "128", "679"), S.DELIVERED),
    **dict.fromkeys(("33", "70", "72", "77", "66", "15", "17", "18", "611"), S.EXCEPTION),
    **dict.fromkeys(("99", "648", "631"), S.RETURNED),
}

# ZTO push `action` (carriers.md §3.5).
ZTO_ACTIONS: dict[str, CommonStatus] = {
    "GOT": S.COLLECTED, "DEPARTURE": S.IN_TRANSIT, "ARRIVAL": S.IN_TRANSIT,
    "DISPATCH": S.OUT_FOR_DELIVERY, "INBOUND": S.OUT_FOR_DELIVERY,
    "HANDOVERSCAN_SIGNED": S.DELIVERED, "DEPARTURE_SIGNED": S.DELIVERED, "SIGNED": S.DELIVERED,
    "PROBLEM": S.EXCEPTION, "RETURN_SCAN": S.RETURNED, "RETURN_SIGNED": S.RETURNED,
}
# ZTO track query `scanType` (carriers.md §3.3): here ARRIVAL means "put into a locker".
ZTO_SCAN_TYPES: dict[str, CommonStatus] = {
    "收件": S.COLLECTED, "发件": S.IN_TRANSIT, "到件": S.IN_TRANSIT,
    "派件": S.OUT_FOR_DELIVERY, "ARRIVAL": S.OUT_FOR_DELIVERY,
    "签收": S.DELIVERED, "第三方签收": S.DELIVERED, "SIGNED": S.DELIVERED,
    "退件": S.RETURNED, "退件签收": S.RETURNED, "问题件": S.EXCEPTION,
}

# JD `category` (carriers.md §4.2, unconfirmed against JD's own docs).
JD_CATEGORIES: dict[str, CommonStatus] = {
    "100": S.INFO_RECEIVED, "390": S.COLLECTED, "420": S.COLLECTED, "430": S.IN_TRANSIT,
    "440": S.OUT_FOR_DELIVERY, "510": S.DELIVERED, "530": S.EXCEPTION, "690": S.EXCEPTION,
    "700": S.RETURNED,
}


def normalise(table: Mapping[str, CommonStatus], code: Any,
              default: CommonStatus = S.IN_TRANSIT) -> CommonStatus:
    """Look a carrier code up; unknown codes fall back to in_transit (raw text is kept)."""
    return table.get(str(code).strip(), default)
