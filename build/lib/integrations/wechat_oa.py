"""WeChat Official Account (服务号) client: access token and template messages to followers.

Protocol facts: /work/shared/reference/wecom.md §5.1.

* Token: ``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`` → access_token,
  expires_in. Cached (per app) until expiry minus a margin; one fetch at a time. On
  40001/40014/42001 from an API call it is refetched once and the call retried; a second
  refusal raises `TokenExpired`. A bad secret/appid/IP whitelist at the token endpoint is
  configuration, so `PermanentSendError`.
* ``POST /cgi-bin/message/template/send`` with touser, template_id, url, data and
  ``client_msg_id``: WeChat sends one message per openid + client_msg_id within 10 minutes
  [C], which is what makes a resend after a crash harmless (messages/outbox.py).
* errcodes → `TokenExpired | RateLimited(retry_after) | PermanentSendError | WeChatError`
  (transient), plus `WeChatUnavailable(maybe_delivered)` for transport failures. 45009
  with "daily quota" is the daily quota (100 000 by default [C]): retry after China
  midnight; any other 45009 is a frequency limit: retry after a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from integrations import cgi
from integrations.cgi import AccessToken, MemoryTokenCache, TokenCache
from integrations.wecom import CHINA, IntegrationError

log = logging.getLogger(__name__)
API_BASE = "https://api.weixin.qq.com"
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# Retrying the same request cannot help (§5.1 and the OA global return codes).
PERMANENT_ERRCODES: Mapping[int, str] = {
    43101: "用户拒收公众号消息",
    43004: "用户未关注公众号",
    40003: "openid无效（非本公众号粉丝）",
    40037: "模板ID无效",
    40036: "模板ID长度不对",
    47003: "模板参数不合法",
    47001: "请求格式不对",
    40013: "AppID无效",
    40125: "AppSecret无效",
    40164: "服务器IP不在公众号白名单",
    48001: "公众号没有模板消息权限",
    61007: "第三方平台未获授权",
}
__all__ = [
    "MemoryTokenCache",
    "PermanentSendError",
    "RateLimited",
    "TokenExpired",
    "WeChatError",
    "WeChatOAClient",
    "WeChatUnavailable",
]


class WeChatError(IntegrationError):
    """A non-zero errcode not known to be permanent: retry with back-off."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeChat errcode {errcode}: {errmsg}")


class WeChatUnavailable(WeChatError):
    """No usable answer; `maybe_delivered` when the request may have reached WeChat."""

    def __init__(self, reason: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(-1, reason)
        self.maybe_delivered = maybe_delivered


class TokenExpired(WeChatError):
    """The access token was refused even after one refetch."""


class RateLimited(WeChatError):
    def __init__(self, retry_after: float, errcode: int = 45009, errmsg: str = "") -> None:
        super().__init__(errcode, errmsg or "rate limited")
        self.retry_after = max(0.0, retry_after)


class PermanentSendError(WeChatError):
    """Retrying cannot succeed (user refused, not a follower, bad template…)."""

    @property
    def reason(self) -> str:
        return PERMANENT_ERRCODES.get(self.errcode, self.errmsg) + f"（{self.errcode}）"


def seconds_to_china_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, CHINA)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), CHINA)
    return midnight.timestamp() - now


def error_for(errcode: int, errmsg: str, now: float) -> WeChatError:
    if errcode == 45009:
        # "reach max api daily quota limit": until the quota resets at China midnight;
        # other 45009s ("api freq out of limit"): a minute, as WeCom blocks [U].
        daily = "daily" in errmsg or "quota" in errmsg
        wait = max(60.0, seconds_to_china_midnight(now)) if daily else 60.0
        return RateLimited(wait, errcode, errmsg)
    if errcode in PERMANENT_ERRCODES:
        return PermanentSendError(errcode, errmsg)
    if errcode in TOKEN_ERRCODES:
        return TokenExpired(errcode, errmsg)
    return WeChatError(errcode, errmsg)


async def _exchange(http: httpx.AsyncClient, method: str, url: str, params: Mapping[str, str],
                    body: Mapping[str, Any] | None, seconds: float) -> dict[str, Any]:
    return await cgi.exchange(http, method, url, params, body, seconds, WeChatUnavailable)


class WeChatOAClient:
    """Template messages of one official account (one appid, one secret)."""

    def __init__(self, http: httpx.AsyncClient, api_base: str, app_id: str, secret: str,
                 token_cache: TokenCache | None = None, *, timeout: float = 10.0,
                 token_margin: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self._http = http
        self._base = (api_base or API_BASE).rstrip("/").removesuffix("/cgi-bin")
        self._app_id = app_id
        self._secret = secret
        self._tokens = cgi.TokenKeeper(
            token_cache if token_cache is not None else MemoryTokenCache(),
            f"wechat_oa:{app_id}", self._fetch_token, clock)
        self._timeout = timeout
        self._margin = token_margin
        self._clock = clock

    def __repr__(self) -> str:
        return f"WeChatOAClient(app_id={self._app_id!r})"

    async def send_template(self, openid: str, template_id: str, data: Mapping[str, str], *,
                            url: str | None = None, client_msg_id: str | None = None) -> str:
        """Send a template message; returns WeChat's msgid."""
        if not openid or not template_id:
            raise ValueError("openid and template_id are required")
        body: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                "data": {k: {"value": v} for k, v in data.items()}}
        if url:
            body["url"] = url
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        answer = await self.call("message/template/send", body)
        return str(answer.get("msgid", ""))

    async def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /cgi-bin/<path> with the access token (refetched once if refused)."""
        token = await self._token()
        data = await self._post(path, token, body)
        if data["errcode"] in TOKEN_ERRCODES:
            log.info("WeChat refused the access token (errcode %s); refetching", data["errcode"])
            token = await self._token(stale=token)
            data = await self._post(path, token, body)
        if data["errcode"] != 0:
            raise error_for(data["errcode"], str(data.get("errmsg", "")), self._clock())
        return data

    async def _post(self, path: str, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await _exchange(self._http, "POST", f"{self._base}/cgi-bin/{path}",
                               {"access_token": token}, body, self._timeout)

    async def _token(self, stale: str | None = None) -> str:
        return await self._tokens.get(stale)

    async def _fetch_token(self) -> AccessToken:
        params = {"grant_type": "client_credential", "appid": self._app_id,
                  "secret": self._secret}
        data = await _exchange(self._http, "GET", f"{self._base}/cgi-bin/token", params, None,
                               self._timeout)
        errcode, errmsg = data["errcode"], str(data.get("errmsg", ""))
        if errcode in (-1, 45009):
            raise error_for(errcode, errmsg, self._clock())
        if errcode != 0 or not data.get("access_token"):
            # 40001 here is a wrong secret, not a stale token: configuration, not retry.
            raise PermanentSendError(errcode, errmsg or "no access_token")
        return cgi.expiring(str(data["access_token"]), float(data.get("expires_in") or 7200),
                            self._margin, self._clock())
