"""WeCom server API client: access token, app messages, template cards, group robot webhook.

A narrow async client over an injected `httpx.AsyncClient` (wechatpy 1.8 is sync-only and has
no template_card support). Protocol facts follow /work/shared/reference/wecom.md:

* The access token (`/cgi-bin/gettoken`, §3.1) is cached until it expires minus a margin and
  fetched by one caller at a time. On 40014/42001/40001 from an API call it is refetched once
  and the call retried; a second token error raises `TokenExpired`.
* errcodes become typed exceptions (`IntegrationError → WeComError → TokenExpired |
  RateLimited | PermanentSendError`, plus `WeComUnavailable` for transport failures).
* WeCom *silently drops* app messages beyond 30/min and 1000/h to one member (§3.4), so the
  client counts them itself and raises `RateLimited(retry_after)` instead of sending.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from integrations import cgi
from integrations.cgi import AccessToken, TokenCache
from integrations.cgi import MemoryTokenCache as MemoryTokenCache  # the clients' default

log = logging.getLogger(__name__)

API_BASE = "https://qyapi.weixin.qq.com"
CHINA = timezone(timedelta(hours=8))
TOKEN_ERRCODES = frozenset({40014, 42001, 40001})
# errcode → seconds to wait. 45009: a blocked window lasts the window (§3.4), a minute at least.
RATE_LIMIT_ERRCODES: Mapping[int, float] = {45009: 60.0, 45033: 1.0}
# Retrying cannot help: bad recipients, arguments, permissions or configuration (WC/90313).
PERMANENT_ERRCODES = frozenset({
    40003, 40008, 40013, 40031, 40032, 40033, 40035, 40056, 40058, 40063, 40066, 40068,
    40091, 40094, 41001, 41002, 41004, 41009, 41010, 41011, 41016, 41033, 44004, 45002,
    48002, 50002, 50003, 60011, 60020, 81013, 82001, 82002, 82003, 93000, 301002,
})
MAX_USERS = 1000
INTERACTIVE_CARDS = frozenset({"button_interaction", "vote_interaction", "multiple_interaction"})
WEBHOOK_CARDS = frozenset({"text_notice", "news_notice"})


# ---- errors ---------------------------------------------------------------------------------

class IntegrationError(Exception):
    """An outside system failed; subclasses say whether and when to retry."""


class WeComError(IntegrationError):
    """WeCom answered with a non-zero errcode not known to be permanent: retry with back-off."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeCom errcode {errcode}: {errmsg}")


class WeComUnavailable(WeComError):
    """No usable answer (timeout, connection error, HTTP error, not JSON): retry later.

    `maybe_delivered` is True when the request may have reached WeCom (a read timeout), so a
    blind resend could show the message twice.
    """

    def __init__(self, reason: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(-1, reason)
        self.maybe_delivered = maybe_delivered


class TokenExpired(WeComError):
    """The access token was refused even after one refetch."""


class RateLimited(WeComError):
    """Over a limit: retry after `retry_after` seconds.

    `scope` says whose limit: "wecom" when WeCom answered 45009/45033; "member:<userid>:...",
    "app:day" or "webhook" when the client's own count refused to send (errcode then reads
    45009 too, but nothing reached WeCom).
    """

    def __init__(self, retry_after: float, errcode: int = 45009, errmsg: str = "",
                 scope: str = "wecom") -> None:
        super().__init__(errcode, errmsg or f"rate limited ({scope})")
        self.retry_after = max(0.0, retry_after)
        self.scope = scope


class PermanentSendError(WeComError):
    """Retrying the same request cannot succeed: dead-letter it."""


def error_for(errcode: int, errmsg: str = "") -> WeComError:
    """The exception for a non-zero errcode of an API call (token codes excluded)."""
    if errcode in RATE_LIMIT_ERRCODES:
        return RateLimited(RATE_LIMIT_ERRCODES[errcode], errcode, errmsg)
    if errcode in PERMANENT_ERRCODES:
        return PermanentSendError(errcode, errmsg)
    if errcode in TOKEN_ERRCODES:
        return TokenExpired(errcode, errmsg)
    return WeComError(errcode, errmsg)


# ---- limits ---------------------------------------------------------------------------------

class SlidingWindow:
    """At most `limit` events in any `period` seconds, per key.

    A sliding window is at least as strict as a fixed one of the same size, so it stays under
    WeCom's limit whichever kind WeCom counts.
    """

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._events: dict[str, deque[float]] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds until one more event for `key` fits (0 if it fits now)."""
        q = self._prune(key, now)
        if len(q) < self.limit:
            return 0.0
        return q[len(q) - self.limit] + self.period - now

    def add(self, key: str, now: float) -> None:
        self._events.setdefault(key, deque()).append(now)

    def discard(self, key: str, at: float) -> None:
        q = self._events.get(key)
        if q is not None and at in q:
            q.remove(at)

    def count(self, key: str, now: float) -> int:
        return len(self._prune(key, now))

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._events.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.period:
            q.popleft()
        if not q:
            del self._events[key]
        return q


class DailyQuota:
    """Per app: at most `limit` recipients (人次) per natural day in China time (§3.4)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._day = ""
        self._used = 0

    def wait(self, n: int, now: float) -> float:
        self._roll(now)
        if self._used + n <= self.limit:
            return 0.0
        today = datetime.fromtimestamp(now, CHINA).date()
        midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), CHINA)
        return midnight.timestamp() - now

    def add(self, n: int, now: float) -> None:
        self._roll(now)
        self._used += n

    def refund(self, n: int, booked_at: float) -> None:
        if _china_day(booked_at) == self._day:  # yesterday's bookings are gone anyway
            self._used = max(0, self._used - n)

    def _roll(self, now: float) -> None:
        day = _china_day(now)
        if day != self._day:
            self._day, self._used = day, 0


def _china_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, CHINA).date().isoformat()


@dataclass(frozen=True)
class Reservation:
    users: tuple[str, ...]
    at: float


class MemberLimiter:
    """Counts app messages per member (30/min, 1000/h by default) and per app per day.

    All checks and the booking happen without an await in between, so concurrent senders in
    one event loop cannot overbook. Counts are per process: instances that share one app
    should share one sender (the outbox) or split the quota.
    """

    def __init__(self, windows: Iterable[tuple[int, float]] = ((30, 60.0), (1000, 3600.0)),
                 daily_quota: int | None = None) -> None:
        self.windows = [SlidingWindow(limit, period) for limit, period in windows]
        self.daily = DailyQuota(daily_quota) if daily_quota else None

    def reserve(self, users: Sequence[str], now: float) -> Reservation:
        """Book one message for each user, or raise RateLimited and book nothing."""
        if not users:
            return Reservation((), now)
        for w in self.windows:
            waits = {u: w.wait(u, now) for u in users}
            worst = max(waits, key=lambda u: waits[u])
            if waits[worst] > 0:
                raise RateLimited(waits[worst], scope=f"member:{worst}:{w.limit}/{w.period:g}s")
        if self.daily is not None:
            wait = self.daily.wait(len(users), now)
            if wait > 0:
                raise RateLimited(wait, scope="app:day")
            self.daily.add(len(users), now)
        for w in self.windows:
            for u in users:
                w.add(u, now)
        return Reservation(tuple(users), now)

    def cancel(self, r: Reservation) -> None:
        """Give the slots back: WeCom refused the message, nothing was delivered."""
        for w in self.windows:
            for u in r.users:
                w.discard(u, r.at)
        if self.daily is not None:
            self.daily.refund(len(r.users), r.at)


# ---- transport ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SendResult:
    msgid: str
    response_code: str | None = None
    invalid_users: tuple[str, ...] = ()
    unlicensed_users: tuple[str, ...] = ()


def _base(api_base: str) -> str:
    base = (api_base or API_BASE).rstrip("/")
    return base.removesuffix("/cgi-bin")


async def _exchange(http: httpx.AsyncClient, method: str, url: str, params: Mapping[str, str],
                    body: Mapping[str, Any] | None, seconds: float) -> dict[str, Any]:
    """One HTTP round trip to a WeCom endpoint → the decoded JSON object with an errcode."""
    return await cgi.exchange(http, method, url, params, body, seconds, WeComUnavailable)


def _user_list(user_ids: Sequence[str]) -> list[str]:
    if isinstance(user_ids, str):
        raise TypeError("user_ids must be a sequence of user ids, not one string")
    users = list(dict.fromkeys(user_ids))
    if not users or not all(users):
        raise ValueError("user_ids must name at least one user and no empty ids")
    if len(users) > MAX_USERS:
        raise ValueError(f"at most {MAX_USERS} users per message")
    return users


def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(v for v in str(value or "").split("|") if v)


class WeComClient:
    """App messages and template cards for one self-built app (one agent id, one secret)."""

    def __init__(self, http: httpx.AsyncClient, api_base: str, corp_id: str, secret: str,
                 agent_id: int | str, token_cache: TokenCache, *,
                 limiter: MemberLimiter | None = None, timeout: float = 10.0,
                 token_margin: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self._http = http
        self._base = _base(api_base)
        self._corp_id = corp_id
        self._secret = secret
        self._agent_id = int(agent_id)
        self._tokens = cgi.TokenKeeper(token_cache, f"wecom:{corp_id}:{self._agent_id}",
                                       self._fetch_token, clock)
        self.limiter = limiter if limiter is not None else MemberLimiter()
        self._timeout = timeout
        self._margin = token_margin
        self._clock = clock

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self._corp_id!r}, agent_id={self._agent_id})"

    # -- messages --

    async def send_text(self, user_ids: Sequence[str], text: str) -> SendResult:
        """A text message (≤2048 bytes; WeCom truncates beyond that)."""
        return await self._send(user_ids, "text", {"content": text})

    async def send_markdown(self, user_ids: Sequence[str], content: str) -> SendResult:
        """A markdown message (≤2048 bytes; not rendered in the WeChat plug-in)."""
        return await self._send(user_ids, "markdown", {"content": content})

    async def send_textcard(self, user_ids: Sequence[str], title: str, description: str,
                            url: str, btntxt: str | None = None) -> SendResult:
        """A text card: title ≤128 B, description ≤512 B, url required, btntxt ≤4 chars."""
        card = {"title": title, "description": description, "url": url}
        if btntxt:
            card["btntxt"] = btntxt
        return await self._send(user_ids, "textcard", card)

    async def send_template_card(self, user_ids: Sequence[str], card: Mapping[str, Any]
                                 ) -> str | None:
        """A template card; returns the response_code WeCom gives interaction cards (§2.3)."""
        result = await self._send(user_ids, "template_card", dict(card))
        if result.response_code is None and card.get("card_type") in INTERACTIVE_CARDS:
            log.warning("WeCom returned no response_code for a %s card", card.get("card_type"))
        return result.response_code

    async def update_template_card(self, user_ids: Sequence[str], response_code: str,
                                   card: Mapping[str, Any]) -> None:
        """Replace the card these users see; a response_code works once, within 72 h."""
        await self._update(user_ids, response_code, {"template_card": dict(card)})

    async def update_button(self, user_ids: Sequence[str], response_code: str,
                            replace_name: str) -> None:
        """Grey out the card's button with a new label (e.g. 已确认)."""
        await self._update(user_ids, response_code, {"button": {"replace_name": replace_name}})

    async def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /cgi-bin/<path> with the access token; the JSON answer, or a typed error."""
        token = await self._token()
        data = await self._post(path, token, body)
        if data["errcode"] in TOKEN_ERRCODES:
            log.info("WeCom refused the access token (errcode %s); refetching", data["errcode"])
            token = await self._token(stale=token)
            data = await self._post(path, token, body)
        if data["errcode"] != 0:
            raise error_for(data["errcode"], str(data.get("errmsg", "")))
        return data

    async def get_media(self, media_id: str, max_bytes: int) -> Media:
        """Download a temporary media file (GET /cgi-bin/media/get, WC/90254): the body is
        the file (its name in Content-Disposition), an error is a JSON errcode. A file over
        `max_bytes` raises MediaTooLarge without reading the rest."""
        token = await self._token()
        result = await self._download(media_id, token, max_bytes)
        if isinstance(result, dict) and result.get("errcode") in TOKEN_ERRCODES:
            token = await self._token(stale=token)
            result = await self._download(media_id, token, max_bytes)
        if isinstance(result, dict):
            raise error_for(int(result.get("errcode") or -1), str(result.get("errmsg", "")))
        return result

    async def _download(self, media_id: str, token: str, max_bytes: int
                        ) -> Media | dict[str, Any]:
        url = f"{self._base}/cgi-bin/media/get"
        params = {"access_token": token, "media_id": media_id}
        try:
            async with self._http.stream("GET", url, params=params,
                                         timeout=self._timeout) as resp:
                kind = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                disposition = resp.headers.get("Content-Disposition", "")
                if resp.status_code != 200:
                    raise WeComUnavailable(f"media/get answered HTTP {resp.status_code}")
                declared = int(resp.headers.get("Content-Length") or 0)
                if declared > max_bytes:
                    raise MediaTooLarge(declared)
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(size)
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise WeComUnavailable(f"media/get failed: {exc!r}") from exc
        body = b"".join(chunks)
        if kind in ("application/json", "text/plain") and not disposition:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict) and "errcode" in data:
                return data
        return Media(_filename(disposition) or media_id, kind, body)

    async def _send(self, user_ids: Sequence[str], msgtype: str,
                    payload: Mapping[str, Any]) -> SendResult:
        users = _user_list(user_ids)
        body = {"touser": "|".join(users), "msgtype": msgtype, "agentid": self._agent_id,
                msgtype: payload}
        booked = self.limiter.reserve(users, self._clock())
        try:
            data = await self.call("message/send", body)
        except WeComUnavailable as exc:
            if not exc.maybe_delivered:
                self.limiter.cancel(booked)
            raise
        except WeComError:
            self.limiter.cancel(booked)
            raise
        return SendResult(
            msgid=str(data.get("msgid", "")),
            response_code=data.get("response_code") or None,
            invalid_users=_split(data.get("invaliduser")),
            unlicensed_users=_split(data.get("unlicenseduser")),
        )

    async def _update(self, user_ids: Sequence[str], response_code: str,
                      change: Mapping[str, Any]) -> None:
        if not response_code:
            raise ValueError("response_code is empty")
        body = {"userids": _user_list(user_ids), "agentid": self._agent_id,
                "response_code": response_code, **change}
        await self.call("message/update_template_card", body)

    # -- token --

    async def _token(self, stale: str | None = None) -> str:
        """A valid access token; `stale` is one WeCom just refused, never to be returned."""
        return await self._tokens.get(stale)

    async def _fetch_token(self) -> AccessToken:
        params = {"corpid": self._corp_id, "corpsecret": self._secret}
        data = await _exchange(self._http, "GET", f"{self._base}/cgi-bin/gettoken", params,
                               None, self._timeout)
        errcode = data["errcode"]
        if errcode in RATE_LIMIT_ERRCODES or errcode == -1:
            raise error_for(errcode, str(data.get("errmsg", "")))
        if errcode != 0 or not data.get("access_token"):
            # 40001 here is a wrong secret, not a stale token: configuration, not retry.
            raise PermanentSendError(errcode, str(data.get("errmsg", "no access_token")))
        return cgi.expiring(str(data["access_token"]), float(data.get("expires_in") or 7200),
                            self._margin, self._clock())

    async def _post(self, path: str, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await _exchange(self._http, "POST", f"{self._base}/cgi-bin/{path}",
                               {"access_token": token}, body, self._timeout)


@dataclass(frozen=True)
class Media:
    filename: str
    content_type: str
    data: bytes


class MediaTooLarge(IntegrationError):
    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"media of {size} bytes or more")


_FILENAME_STAR = re.compile(r"filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)")
_FILENAME = re.compile(r'filename\s*=\s*"?([^";]+)"?')


def _filename(disposition: str) -> str:
    """attachment; filename="x.xlsx" (or RFC 5987 filename*=UTF-8''%E6...) → the name."""
    if m := _FILENAME_STAR.search(disposition):
        return urllib.parse.unquote(m[1].strip())
    if m := _FILENAME.search(disposition):
        return m[1].strip()
    return ""


class GroupWebhook:
    """The group robot (消息推送) webhook: send-only, ≤20 messages/min per robot (§4.2)."""

    def __init__(self, http: httpx.AsyncClient, base: str, key: str, *,
                 window: SlidingWindow | None = None, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not key:
            raise ValueError("the webhook key is empty")
        self._http = http
        self._url = f"{_base(base)}/cgi-bin/webhook/send"
        self._key = key
        self.window = window if window is not None else SlidingWindow(20, 60.0)
        self._timeout = timeout
        self._clock = clock

    def __repr__(self) -> str:
        return "GroupWebhook(key='**********')"

    async def send_text(self, content: str, mentioned: Sequence[str] = (),
                        mentioned_mobiles: Sequence[str] = ()) -> None:
        """Text ≤2048 B; `mentioned` user ids (or "@all") are @-mentioned."""
        text: dict[str, Any] = {"content": content}
        if mentioned:
            text["mentioned_list"] = list(mentioned)
        if mentioned_mobiles:
            text["mentioned_mobile_list"] = list(mentioned_mobiles)
        await self._send({"msgtype": "text", "text": text})

    async def send_markdown(self, content: str) -> None:
        """Markdown ≤4096 B; `<@userid>` in the content mentions a member."""
        await self._send({"msgtype": "markdown", "markdown": {"content": content}})

    async def send_template_card(self, card: Mapping[str, Any]) -> None:
        """Only text_notice and news_notice cards: the webhook has no callbacks."""
        if card.get("card_type") not in WEBHOOK_CARDS:
            raise ValueError(f"the group webhook only sends {sorted(WEBHOOK_CARDS)} cards")
        await self._send({"msgtype": "template_card", "template_card": dict(card)})

    async def _send(self, body: Mapping[str, Any]) -> None:
        now = self._clock()
        wait = self.window.wait("robot", now)
        if wait > 0:
            raise RateLimited(wait, scope="webhook")
        self.window.add("robot", now)
        try:
            data = await _exchange(self._http, "POST", self._url, {"key": self._key}, body,
                                   self._timeout)
        except WeComUnavailable as exc:
            if not exc.maybe_delivered:
                self.window.discard("robot", now)
            raise
        if data["errcode"] != 0:
            self.window.discard("robot", now)
            raise error_for(data["errcode"], str(data.get("errmsg", "")))


APP_KEYS = ("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID")


def client_from_env(http: httpx.AsyncClient, env: Mapping[str, str]) -> WeComClient | None:
    """The self-built app's API client from the environment keys (WECOM_API_BASE overrides
    the public API, for tests); None when the app is not configured. The one place both the
    chat front and the notification channels build it."""
    if not all(env.get(k) for k in APP_KEYS):
        return None
    return WeComClient(http, env.get("WECOM_API_BASE") or API_BASE, env["WECOM_CORP_ID"],
                       env["WECOM_SECRET"], env["WECOM_AGENT_ID"], MemoryTokenCache())
