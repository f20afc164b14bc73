"""A fake WeCom server API: a real aiohttp server on 127.0.0.1, port 0.

What it enforces, as WeCom does (wecom.md §2.3, §3, §4.2):

* `GET /cgi-bin/gettoken` checks corpid (40013) and corpsecret (40001) and issues tokens that
  expire after `token_ttl` seconds of the fake's clock.
* Every other API call checks `access_token`: 41001 missing, 40014 unknown, 42001 expired.
* `POST /cgi-bin/message/send` checks agentid (40056), recipients (unknown members are
  listed in `invaliduser`; all unknown → 81013), msgtype (40008) and the shape of text,
  markdown, textcard and template_card bodies; interaction cards get a `response_code`.
* More than 30 messages a minute or 1000 an hour to one member are *silently dropped*: the
  answer is ok, the delivery is recorded with `dropped=True`.
* `enable_duplicate_check: 1` (WC/90236): a request with the same JSON within
  `duplicate_check_interval` (default 1800 s) is not delivered again. What WeCom answers
  then is not documented; the fake answers like the first time (its msgid and
  response_code) and records the request in `suppressed`.
* `POST /cgi-bin/message/update_template_card` consumes a response_code once, within 72 h.
* `GET /cgi-bin/media/get?media_id=` (WC/90254) answers a file a test put there with
  `add_media` (or that a member "sent": its MediaId in a file message) as a download:
  its Content-Type, `Content-Disposition: attachment; filename="…"` and Content-Length;
  an unknown id, or one older than 3 days (media ids live three days), is
  `{"errcode": 40007, "errmsg": "invalid media_id"}` with HTTP 200, as WeCom answers.
* `POST /cgi-bin/webhook/send?key=` checks the key (93000), the message, and 20 msgs/min per
  robot (45009).

Faults can be queued per endpoint: an errcode, a stall (for client timeouts), garbage.
Where WeCom's exact errcode for a shape error is not documented the fake answers 40058
("invalid parameter") with a hint; tests should not rely on those being WeCom's codes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CARD_TYPES = {"text_notice", "news_notice", "button_interaction", "vote_interaction",
              "multiple_interaction"}
INTERACTIVE = {"button_interaction", "vote_interaction", "multiple_interaction"}
TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
RESPONSE_CODE_TTL = 72 * 3600
TEXT_MAX = 2048
MEDIA_TTL = 3 * 24 * 3600


class Reject(Exception):
    """An errcode answer, raised from deep inside validation."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode, self.errmsg = errcode, errmsg


@dataclass
class Call:
    """Any request the fake received."""

    method: str
    path: str  # after /cgi-bin/, e.g. "message/send"
    query: dict[str, str]
    body: Any
    at: float


@dataclass
class Delivery:
    """One message to one member: what message/send accepted."""

    user: str
    msgtype: str
    payload: dict[str, Any]
    msgid: str
    dropped: bool = False
    truncated: bool = False
    response_code: str | None = None


@dataclass
class Fault:
    kind: str  # errcode | stall | garbage
    errcode: int = 0
    errmsg: str = ""
    seconds: float = 0.0
    status: int = 200


@dataclass
class _Code:
    expires_at: float
    used: bool = False


@dataclass
class FakeWeCom:
    corp_id: str = "ww0000fakecorp0001"
    secret: str = "fake-app-secret"
    agent_id: int = 1000002
    token_ttl: int = 7200
    members: set[str] | None = None  # None: every user id is a member
    webhook_keys: set[str] = field(default_factory=lambda: {"fake-webhook-key"})
    calls: list[Call] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook_messages: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)  # duplicate-check hits
    url: str = ""
    media: dict[str, tuple[str, str, bytes, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._offset = 0.0
        self._tokens: dict[str, float] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._per_member: dict[str, deque[float]] = {}
        self._webhook_sent: dict[str, deque[float]] = {}
        self._task_ids: set[str] = set()
        self._codes: dict[str, _Code] = {}
        self._sent_once: dict[str, tuple[float, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # ---- lifecycle ----

    async def start(self) -> FakeWeCom:
        app = web.Application()
        app.router.add_route("*", "/cgi-bin/{path:.+}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeWeCom:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- test controls ----

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock (token expiry, rate windows, response_code lifetime)."""
        self._offset += seconds

    def fail(self, path: str, errcode: int, errmsg: str = "injected", times: int = 1) -> None:
        self._queue(path, Fault("errcode", errcode=errcode, errmsg=errmsg), times)

    def stall(self, path: str, seconds: float, times: int = 1) -> None:
        """Answer only after `seconds` (then normally: the message is delivered late)."""
        self._queue(path, Fault("stall", seconds=seconds), times)

    def garble(self, path: str, status: int = 200, times: int = 1) -> None:
        """Answer with an HTML page instead of JSON."""
        self._queue(path, Fault("garbage", status=status), times)

    def expire_tokens(self) -> None:
        """Every token issued so far answers 42001 from now on."""
        for token in self._tokens:
            self._tokens[token] = self.now() - 1

    def revoke_tokens(self) -> None:
        """Forget every token issued so far: they answer 40014."""
        self._tokens.clear()

    def add_media(self, filename: str, data: bytes,
                  content_type: str = "application/octet-stream") -> str:
        """A temporary media file (as a member's file message leaves it): its media_id."""
        media_id = f"1{secrets.token_urlsafe(30)}"
        self.media[media_id] = (filename, content_type, data, self.now())
        return media_id

    # ---- what happened ----

    def click_code(self) -> str:
        """The response_code WeCom puts in a card click's callback (usable once, 72 h)."""
        code = f"rc-click-{secrets.token_hex(8)}"
        self._codes[code] = _Code(self.now() + RESPONSE_CODE_TTL)
        return code

    def requests(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def delivered(self, user: str | None = None) -> list[Delivery]:
        return [d for d in self.deliveries if not d.dropped and user in (None, d.user)]

    def dropped(self, user: str | None = None) -> list[Delivery]:
        return [d for d in self.deliveries if d.dropped and user in (None, d.user)]

    # ---- dispatch ----

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        self.calls.append(Call(request.method, path, dict(request.query), body, self.now()))
        fault = self._next_fault(path)
        if fault is not None:
            early = await self._apply(fault)
            if early is not None:
                return early
        try:
            if path == "media/get" and request.method == "GET":
                return self._media_get(request.query)
            return _ok(self._route(path, request.query, body))
        except Reject as r:
            return web.json_response({"errcode": r.errcode, "errmsg": r.errmsg})

    def _route(self, path: str, query: Any, body: Any) -> dict[str, Any]:
        if path == "gettoken":
            return self._gettoken(query)
        if path == "webhook/send":
            return self._webhook(query.get("key", ""), _object(body))
        self._check_token(query.get("access_token"))
        if path == "message/send":
            return self._message_send(_object(body))
        if path == "message/update_template_card":
            return self._update_card(_object(body))
        raise Reject(404, f"fake has no api {path}")

    async def _apply(self, fault: Fault) -> web.StreamResponse | None:
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "garbage":
            return web.Response(status=fault.status, content_type="text/html",
                                text="<html><body>502 Bad Gateway</body></html>")
        return web.json_response({"errcode": fault.errcode, "errmsg": fault.errmsg})

    def _queue(self, path: str, fault: Fault, times: int) -> None:
        self._faults.setdefault(path, deque()).extend([fault] * times)

    def _next_fault(self, path: str) -> Fault | None:
        q = self._faults.get(path)
        return q.popleft() if q else None

    # ---- endpoints ----

    def _gettoken(self, query: Any) -> dict[str, Any]:
        if query.get("corpid") != self.corp_id:
            raise Reject(40013, "invalid corpid")
        if query.get("corpsecret") != self.secret:
            raise Reject(40001, "invalid credential")
        token = f"fake-token-{next(self._ids)}-{secrets.token_hex(8)}"
        self._tokens[token] = self.now() + self.token_ttl
        return {"access_token": token, "expires_in": self.token_ttl}

    def _media_get(self, query: Any) -> web.Response:
        self._check_token(query.get("access_token"))
        found = self.media.get(query.get("media_id", ""))
        if found is None or self.now() - found[3] > MEDIA_TTL:
            raise Reject(40007, "invalid media_id")
        filename, content_type, data, _ = found
        return web.Response(body=data, headers={
            "Content-Type": content_type, "Cache-Control": "no-cache, must-revalidate",
            "Content-Disposition": f'attachment; filename="{filename}"'})

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise Reject(41001, "access_token missing")
        if token not in self._tokens:
            raise Reject(40014, "invalid access_token")
        if self._tokens[token] <= self.now():
            raise Reject(42001, "access_token expired")

    def _message_send(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_agent(body)
        valid, invalid = self._recipients(str(body.get("touser") or ""))
        msgtype = body.get("msgtype")
        payload = body.get(msgtype) if isinstance(msgtype, str) else None
        if msgtype not in ("text", "markdown", "textcard", "template_card"):
            raise Reject(40008, f"invalid message type {msgtype!r}")
        if not isinstance(payload, dict):
            raise Reject(40058, f"invalid parameter: {msgtype} body missing")
        truncated = _check_message(msgtype, payload)
        if (earlier := self._duplicate(body)) is not None:
            self.suppressed.append(body)
            return earlier
        code = self._new_card(payload) if msgtype == "template_card" else None
        msgid = f"msg-{next(self._ids)}"
        for user in valid:
            self.deliveries.append(Delivery(user, msgtype, payload, msgid, self._drop(user),
                                            truncated, code))
        answer = {"invaliduser": "|".join(invalid), "invalidparty": "", "invalidtag": "",
                  "unlicenseduser": "", "msgid": msgid}
        if code is not None:
            answer["response_code"] = code
        if body.get("enable_duplicate_check") == 1:
            self._sent_once[json.dumps(body, sort_keys=True)] = (self.now(), answer)
        return answer

    def _duplicate(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The first answer to this very request, if it is a repeat within the interval."""
        if body.get("enable_duplicate_check") != 1:
            return None
        interval = min(int(body.get("duplicate_check_interval") or 1800), 4 * 3600)
        first = self._sent_once.get(json.dumps(body, sort_keys=True))
        if first is None or first[0] <= self.now() - interval:
            return None
        return first[1]

    def _update_card(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_agent(body)
        users = body.get("userids")
        if not body.get("atall") and (not isinstance(users, list) or not 0 < len(users) <= 1000):
            raise Reject(40058, "invalid parameter: userids")
        if "template_card" in body:
            _check_card(_object(body["template_card"]))
        elif not str(_object(body.get("button")).get("replace_name") or ""):
            raise Reject(40058, "invalid parameter: button.replace_name or template_card")
        code = self._codes.get(str(body.get("response_code") or ""))
        if code is None or code.used or code.expires_at <= self.now():
            raise Reject(40058, "invalid parameter: response_code unknown, used or expired")
        code.used = True
        self.updates.append(body)
        return {}

    def _webhook(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        if key not in self.webhook_keys:
            raise Reject(93000, "invalid webhook url")
        sent = self._webhook_sent.setdefault(key, deque())
        _prune(sent, self.now(), 60)
        if len(sent) >= 20:
            raise Reject(45009, "api freq out of limit")
        _check_webhook(body)
        sent.append(self.now())
        self.webhook_messages.append(body)
        return {}

    # ---- helpers ----

    def _check_agent(self, body: dict[str, Any]) -> None:
        if body.get("agentid") != self.agent_id:
            raise Reject(40056, "invalid agentid")

    def _recipients(self, touser: str) -> tuple[list[str], list[str]]:
        users = [u for u in touser.split("|") if u]
        if not users:
            raise Reject(40058, "invalid parameter: touser empty")
        if len(users) > 1000:
            raise Reject(40031, "invalid userid list")
        valid = [u for u in users if self.members is None or u in self.members]
        if not valid:
            raise Reject(81013, "user & party & tag all invalid")
        return valid, [u for u in users if u not in valid]

    def _drop(self, user: str) -> bool:
        """WeCom's silent drop: >30/min or >1000/h from this app to one member."""
        q = self._per_member.setdefault(user, deque())
        now = self.now()
        _prune(q, now, 3600)
        last_minute = sum(1 for t in q if t > now - 60)
        if last_minute >= 30 or len(q) >= 1000:
            return True
        q.append(now)
        return False

    def _new_card(self, card: dict[str, Any]) -> str | None:
        _check_card(card)
        task_id = card.get("task_id")
        if task_id is not None:
            if task_id in self._task_ids:
                raise Reject(40058, "invalid parameter: task_id already used by this app")
            self._task_ids.add(task_id)
        if card["card_type"] not in INTERACTIVE:
            return None
        code = f"rc-{secrets.token_hex(12)}"
        self._codes[code] = _Code(self.now() + RESPONSE_CODE_TTL)
        return code


# ---- validation (module level: no state) ------------------------------------------------

def _ok(extra: dict[str, Any]) -> web.Response:
    return web.json_response({"errcode": 0, "errmsg": "ok", **extra})


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Reject(40058, "invalid parameter: body is not a JSON object")
    return value


def _prune(q: deque[float], now: float, period: float) -> None:
    while q and q[0] <= now - period:
        q.popleft()


def _size(value: Any) -> int:
    return len(str(value).encode("utf-8"))


def _check_message(msgtype: str, payload: dict[str, Any]) -> bool:
    """Validate one message body; True if WeCom would truncate part of it."""
    if msgtype == "text":
        if not payload.get("content"):
            raise Reject(44004, "empty content")
        return _size(payload["content"]) > TEXT_MAX
    if msgtype == "markdown":
        if not payload.get("content"):
            raise Reject(44004, "empty content")
        if _size(payload["content"]) > TEXT_MAX:
            raise Reject(45002, "content size out of limit")
        return False
    if msgtype == "textcard":
        for name, errcode in (("title", 41016), ("description", 41033), ("url", 41010)):
            if not payload.get(name):
                raise Reject(errcode, f"missing {name}")
        return _size(payload["title"]) > 128 or _size(payload["description"]) > 512
    return False


def _check_card(card: dict[str, Any]) -> None:
    kind = card.get("card_type")
    if kind not in CARD_TYPES:
        raise Reject(40058, f"invalid parameter: card_type {kind!r}")
    if (kind in INTERACTIVE or "action_menu" in card) and not TASK_ID.match(
            str(card.get("task_id") or "")):
        raise Reject(40058, "invalid parameter: task_id")
    checks = {"text_notice": _notice, "news_notice": _notice,
              "button_interaction": _buttons, "vote_interaction": _vote,
              "multiple_interaction": _multiple}
    checks[kind](card)


def _notice(card: dict[str, Any]) -> None:
    action = card.get("card_action")
    if not isinstance(action, dict) or action.get("type") not in (1, 2):
        raise Reject(40058, "invalid parameter: card_action required")
    title = _object_or_empty(card.get("main_title")).get("title")
    if card["card_type"] == "text_notice" and not (title or card.get("sub_title_text")):
        raise Reject(40058, "invalid parameter: main_title.title or sub_title_text required")


def _buttons(card: dict[str, Any]) -> None:
    if not _object_or_empty(card.get("main_title")).get("title"):
        raise Reject(40058, "invalid parameter: main_title.title required")
    buttons = card.get("button_list")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
        raise Reject(40058, "invalid parameter: button_list must hold 1..6 buttons")
    keys: list[str] = []
    for b in buttons:
        b = _object(b)
        if not b.get("text"):
            raise Reject(40058, "invalid parameter: button_list.text")
        if b.get("type", 0) == 1:
            if not b.get("url"):
                raise Reject(40058, "invalid parameter: button_list.url")
            continue
        key = str(b.get("key") or "")
        if not key or _size(key) > 1024:
            raise Reject(40058, "invalid parameter: button_list.key")
        keys.append(key)
    if len(set(keys)) != len(keys):
        raise Reject(40058, "invalid parameter: button_list.key duplicated")


def _vote(card: dict[str, Any]) -> None:
    box = _object_or_empty(card.get("checkbox"))
    options = box.get("option_list")
    if not box.get("question_key") or not isinstance(options, list) or not 1 <= len(options) <= 20:
        raise Reject(40058, "invalid parameter: checkbox")
    _submit(card)


def _multiple(card: dict[str, Any]) -> None:
    selects = card.get("select_list")
    if not isinstance(selects, list) or not 1 <= len(selects) <= 3:
        raise Reject(40058, "invalid parameter: select_list must hold 1..3 selectors")
    for s in selects:
        options = _object(s).get("option_list")
        if not s.get("question_key") or not isinstance(options, list) \
                or not 1 <= len(options) <= 10:
            raise Reject(40058, "invalid parameter: select_list item")
    _submit(card)


def _submit(card: dict[str, Any]) -> None:
    if not _object_or_empty(card.get("submit_button")).get("key"):
        raise Reject(40058, "invalid parameter: submit_button.key")


def _object_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _check_webhook(body: dict[str, Any]) -> None:
    msgtype = body.get("msgtype")
    payload = _object_or_empty(body.get(msgtype)) if isinstance(msgtype, str) else {}
    limits = {"text": TEXT_MAX, "markdown": 4096}
    if msgtype in limits:
        if not payload.get("content"):
            raise Reject(44004, "empty content")
        if _size(payload["content"]) > limits[msgtype]:
            raise Reject(40058, "invalid parameter: content too long")
        return
    if msgtype == "template_card":
        if payload.get("card_type") not in ("text_notice", "news_notice"):
            raise Reject(40058, "invalid parameter: card_type")
        _check_card(payload)
        return
    raise Reject(40008, f"invalid message type {msgtype!r}")
