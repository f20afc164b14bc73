"""Channel adapters: a rendered notification → one API call, outcomes as three exceptions.

Every adapter has ``async send(message) -> remote_id`` and turns its client's typed errors
into what the dispatcher needs to know: `Throttled(retry_after)` (a limit: try later, it
was not an attempt), `Permanent(reason)` (dead letter), `Retry(reason, maybe_delivered)`
(back off and try again).

Resending after a crash (at-least-once): each adapter says how a repeat is absorbed.
* wechat_oa: ``client_msg_id`` = hash of the dedup key; WeChat sends one message per openid +
  client_msg_id within 10 minutes [C].
* wecom_app: ``enable_duplicate_check`` with a 30-minute interval; WeCom drops a repeat of
  the same content to the same member within it [C]. Our rendering is deterministic
  (the context is stored with the row), so a resend is the same content.
* wecom_group: the robot webhook has no de-duplication; a resend can show twice.
* console: the record is the outbox row itself; a resend shows twice in the live list only.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from integrations import wechat_oa as oa
from integrations import wecom
from messages.render import Rendered

OA_FIELD_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "number": 32,
                   "letter": 32, "symbol": 5, "name": 10, "car_number": 8, "amount": 32}
_FIELD_TYPE = re.compile(r"^([a-z_]+?)\d*$")
DUPLICATE_CHECK_SECONDS = 1800


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retry(DeliveryError):
    """Transient: back off and try again."""

    def __init__(self, reason: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(reason)
        self.maybe_delivered = maybe_delivered


class Throttled(DeliveryError):
    """Over a limit: try again after `retry_after` seconds; not counted as an attempt."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(DeliveryError):
    """Retrying cannot help: a dead letter with this reason."""


@dataclass(frozen=True)
class Outgoing:
    """A claimed notification, rendered."""

    id: int
    dedup_key: str
    event: str
    recipient: str
    rendered: Rendered
    context: Mapping[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    async def send(self, message: Outgoing) -> str | None: ...


def client_msg_id(dedup_key: str) -> str:
    """A stable 32-character id for WeChat's resend protection."""
    return hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:32]


def fit_oa_value(key: str, value: str) -> str:
    """Cut a value to its 公众号 field type's length (thing ≤ 20 characters …) [C]."""
    m = _FIELD_TYPE.match(key)
    limit = OA_FIELD_LIMITS.get(m.group(1)) if m else None
    if limit is None or len(value) <= limit:
        return value
    return value[:limit - 1] + "…"


# ---- WeChat official account ------------------------------------------------------------

class WeChatOAChannel:
    """Template messages to a customer's openid; template ids per event from config."""

    def __init__(self, client: oa.WeChatOAClient, template_ids: Mapping[str, str]) -> None:
        self._client = client
        self._templates = dict(template_ids)

    async def send(self, message: Outgoing) -> str | None:
        template_id = self._templates.get(message.event) or self._templates.get("default")
        if not template_id:
            raise Permanent(f"未配置公众号模板ID（notify.wechat_oa.template_ids.{message.event}）")
        parts = message.rendered.parts
        data = {k: fit_oa_value(k, v) for k, v in parts.items() if k not in ("text", "url")}
        url = parts.get("url") or message.context.get("跟踪链接")
        try:
            return await self._client.send_template(
                message.recipient, template_id, data, url=str(url) if url else None,
                client_msg_id=client_msg_id(message.dedup_key))
        except oa.RateLimited as exc:
            raise Throttled(f"公众号限流（{exc.errcode}）", exc.retry_after) from exc
        except oa.PermanentSendError as exc:
            raise Permanent(exc.reason) from exc
        except oa.WeChatUnavailable as exc:
            raise Retry(f"公众号接口不可用：{exc.errmsg}",
                        maybe_delivered=exc.maybe_delivered) from exc
        except oa.WeChatError as exc:
            raise Retry(f"公众号错误 {exc.errcode}：{exc.errmsg}") from exc


# ---- WeCom app ---------------------------------------------------------------------------

def text_notice(parts: Mapping[str, str]) -> dict[str, Any]:
    """A text_notice template card from template parts (see daily_report.wecom_app.j2)."""
    card: dict[str, Any] = {
        "card_type": "text_notice", "source": {"desc": "履约助手", "desc_color": 0},
        "main_title": {"title": parts["main_title"], "desc": parts.get("main_desc", "")},
        "card_action": {"type": 1, "url": parts["url"]},
    }
    if parts.get("emphasis_title"):
        card["emphasis_content"] = {"title": parts["emphasis_title"],
                                    "desc": parts.get("emphasis_desc", "")}
    if parts.get("sub_title"):
        card["sub_title_text"] = parts["sub_title"]
    items = [_item(line) for line in parts.get("items", "").splitlines() if line.strip()]
    if items:
        card["horizontal_content_list"] = items[:6]
    return card


def _item(line: str) -> dict[str, str]:
    """``键名：值`` → a horizontal_content_list entry (key names ≤ 5 characters)."""
    key, sep, value = line.partition("：")
    if not sep:
        return {"keyname": "", "value": line.strip()}
    return {"keyname": key.strip()[:5], "value": value.strip()}


def wecom_message(parts: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """(msgtype, body) from the parts a template defines."""
    if "main_title" in parts:
        return "template_card", text_notice(parts)
    if "title" in parts:
        card = {k: parts[k] for k in ("title", "description", "url") if k in parts}
        if parts.get("btntxt"):
            card["btntxt"] = parts["btntxt"]
        return "textcard", card
    if "markdown" in parts:
        return "markdown", {"content": parts["markdown"]}
    return "text", {"content": parts.get("text", "")}


def _wecom_error(exc: wecom.WeComError, what: str) -> DeliveryError:
    if isinstance(exc, wecom.RateLimited):
        return Throttled(f"{what}限流（{exc.scope}）", exc.retry_after)
    if isinstance(exc, wecom.PermanentSendError):
        return Permanent(f"{what}拒绝：{exc.errcode} {exc.errmsg}")
    if isinstance(exc, wecom.WeComUnavailable):
        return Retry(f"{what}不可用：{exc.errmsg}", maybe_delivered=exc.maybe_delivered)
    return Retry(f"{what}错误 {exc.errcode}：{exc.errmsg}")


class WeComAppChannel:
    """App messages to one member (text, textcard, template_card) with WeCom's resend check."""

    def __init__(self, client: wecom.WeComClient, agent_id: int | str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._agent_id = int(agent_id)
        self._clock = clock

    async def send(self, message: Outgoing) -> str | None:
        msgtype, payload = wecom_message(message.rendered.parts)
        body = {"touser": message.recipient, "msgtype": msgtype, "agentid": self._agent_id,
                msgtype: payload, "enable_duplicate_check": 1,
                "duplicate_check_interval": DUPLICATE_CHECK_SECONDS}
        try:
            data = await self._call(message.recipient, body)
        except wecom.WeComError as exc:
            raise _wecom_error(exc, "企业微信") from exc
        if message.recipient in str(data.get("invaliduser") or "").split("|"):
            raise Permanent(f"企业微信账号无效：{message.recipient}")
        return str(data.get("msgid", "")) or None

    async def _call(self, user: str, body: Mapping[str, Any]) -> dict[str, Any]:
        # As WeComClient._send: book the member's 30/min slot, give it back if nothing left.
        booked = self._client.limiter.reserve([user], self._clock())
        try:
            return await self._client.call("message/send", body)
        except wecom.WeComUnavailable as exc:
            if not exc.maybe_delivered:
                self._client.limiter.cancel(booked)
            raise
        except wecom.WeComError:
            self._client.limiter.cancel(booked)
            raise


# ---- WeCom group robot ------------------------------------------------------------------

class WeComGroupChannel:
    """Group robot webhooks by group name (e.g. ``warehouse`` → WECOM_WEBHOOK_KEY)."""

    def __init__(self, webhooks: Mapping[str, wecom.GroupWebhook]) -> None:
        self._hooks = dict(webhooks)
        self._ids = itertools.count(1)

    async def send(self, message: Outgoing) -> str | None:
        hook = self._hooks.get(message.recipient)
        if hook is None:
            raise Permanent(f"未配置群机器人：{message.recipient}")
        parts = message.rendered.parts
        try:
            if "main_title" in parts:
                await hook.send_template_card(text_notice(parts))
            elif "markdown" in parts:
                await hook.send_markdown(parts["markdown"])
            else:
                await hook.send_text(parts.get("text", ""))
        except wecom.WeComError as exc:
            raise _wecom_error(exc, "群机器人") from exc
        return None  # the webhook answers no message id


# ---- console ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConsoleMessage:
    id: int
    recipient: str
    template: str
    text: str
    at: datetime


class ConsoleChannel:
    """Sandbox delivery: keeps the latest messages in memory for the console's live view.

    The durable record is the outbox row (`rendered`, `sent_at`); this list is a cache the
    console can poll without a query.
    """

    def __init__(self, maxlen: int = 500, clock: Callable[[], datetime] | None = None) -> None:
        self.messages: deque[ConsoleMessage] = deque(maxlen=maxlen)
        self._clock = clock or (lambda: datetime.now(UTC))

    async def send(self, message: Outgoing) -> str | None:
        self.messages.append(ConsoleMessage(message.id, message.recipient,
                                            message.rendered.template, message.rendered.text,
                                            self._clock()))
        return f"console-{message.id}"


def oa_template_ids(table: Mapping[str, Any] | None) -> dict[str, str]:
    """config.toml ``[notify.wechat_oa.template_ids]`` (event → 公众号 template id, or
    ``default``) checked; ConfigError names the bad key."""
    from bot.config import ConfigError
    from messages.render import VARIABLES

    out: dict[str, str] = {}
    for event, template_id in (table or {}).items():
        where = f"notify.wechat_oa.template_ids.{event}"
        if event != "default" and event not in VARIABLES:
            raise ConfigError(f"{where}: unknown event (known: default, {', '.join(VARIABLES)})")
        if not isinstance(template_id, str) or not template_id:
            raise ConfigError(f"{where}: expected a template id string")
        out[event] = template_id
    return out
