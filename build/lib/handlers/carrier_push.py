"""POST /carriers/{carrier}/push: verify the carrier's own signature, apply, answer its way.

Each carrier client's `parse_push` checks the signature (Kuaidi100 sign, ZTO data_digest, SF
callback token) and says which exact reply the carrier needs; this adapter only translates:
unknown or disabled carrier or no push channel → 404, body over 1 MiB → 413, bad signature
→ 403 with nothing stored, unreadable body → 400, and anything unexpected → 503 with a
logged traceback (never a 500), so the carrier pushes again later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from bot.domain.limits import payload_refusal
from bot.tracking import TrackingService
from handlers.problems import problem
from integrations.carriers.base import (
    CarrierClient,
    CarrierError,
    PushNotSupported,
    PushResult,
    PushSignatureError,
)
from storage.models import Shipment
from storage.tracking_models import DESCRIPTION_MAX, LOCATION_MAX

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
TRACKING = web.AppKey("tracking", TrackingService)
MAX_PUSH_BYTES = 1 << 20
WAYBILL_MAX: int = Shipment._meta.fields_map["waybill_no"].max_length  # type: ignore[attr-defined]
_CHUNK = 64 * 1024


@routes.post("/carriers/{carrier}/push")
async def carrier_push(request: web.Request) -> web.Response:
    code = request.match_info["carrier"]
    tracking = request.app[TRACKING]
    client = tracking.clients.get(code)
    if client is None:
        return _not_found(code, f"承运商“{code}”不存在或未启用")
    body = await _read(request)
    if body is None:
        return problem(413, "请求体过大", [{"field": "body", "code": "too_large",
                                        "message": f"推送内容不能超过{MAX_PUSH_BYTES}字节"}])
    parsed = _parse(client, code, body, request.headers, request.query)
    if isinstance(parsed, web.Response):
        return parsed
    if why := _unstorable(parsed):
        log.warning("carrier push %s refused: %s", code, why)
        return problem(400, "推送内容无法保存", [{"field": "body", "code": "invalid_text",
                                            "message": "推送内容含有无效字符（NUL或孤立代理项）"}])
    try:
        await tracking.apply(parsed.events, pushed=True)
    except Exception:  # the carrier keeps the push and retries; we log why
        log.exception("carrier push %s: applying %d event(s) failed", code, len(parsed.events))
        return problem(503, "系统繁忙，请稍后再试", [{"field": "body", "code": "busy",
                                                "message": "轨迹暂未保存，请稍后重推"}],
                       headers={"Retry-After": "60"})
    return web.Response(body=parsed.reply_body, status=parsed.reply_status,
                        headers={"Content-Type": parsed.reply_content_type})


def _parse(client: CarrierClient, code: str, body: bytes, headers: Mapping[str, str],
           query: Mapping[str, str]) -> PushResult | web.Response:
    try:
        return client.parse_push(body, headers, query)
    except PushSignatureError as exc:
        log.warning("carrier push %s refused: %s", code, exc.message)
        return problem(403, "推送签名校验失败", [{"field": "signature", "code": "bad_signature",
                                            "message": exc.message}])
    except PushNotSupported as exc:
        return _not_found(code, exc.message)
    except (CarrierError, ValueError, KeyError, TypeError) as exc:
        message = exc.message if isinstance(exc, CarrierError) else "推送内容无法解析"
        log.warning("carrier push %s: unreadable body: %s", code, exc)
        return problem(400, "推送内容无法解析", [{"field": "body", "code": "bad_body",
                                            "message": message}])
    except Exception:
        log.exception("carrier push %s: parsing crashed", code)
        return problem(503, "系统繁忙，请稍后再试", [{"field": "body", "code": "busy",
                                                "message": "推送暂未处理，请稍后重推"}],
                       headers={"Retry-After": "60"})


def _unstorable(parsed: PushResult) -> str | None:
    """Text the database cannot keep (bot/domain/limits.py), or a waybill number longer than
    any shipment's (no carrier issues those); location and description are cut to length."""
    for e in parsed.events:
        if len(e.waybill) > WAYBILL_MAX:
            return f"waybill number longer than {WAYBILL_MAX}"
        why = payload_refusal([e.waybill, e.location[:LOCATION_MAX],
                               e.description[:DESCRIPTION_MAX]]) or payload_refusal(e.raw)
        if why:
            return why
    return None


def _not_found(code: str, message: str) -> web.Response:
    return problem(404, "承运商不存在或不接收推送", [
        {"field": "carrier", "code": "unknown_carrier", "message": message}])


async def _read(request: web.Request) -> bytes | None:
    """The body, or None when it exceeds MAX_PUSH_BYTES (stops reading there)."""
    if request.content_length is not None and request.content_length > MAX_PUSH_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > MAX_PUSH_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
