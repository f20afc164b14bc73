"""Chat replies through the outbox: a worked WeCom message's replies become outbox rows on
the `wecom_chat` channel, keyed by the message (``reply:<inbox key>:<n>``), written in the
transaction that marks the message worked and sent at once by the same worker.

So a reply exists exactly when its message counts as worked, a crash never loses one, and a
resend after a crash is absorbed by WeCom's duplicate check (the stored request is resent
byte for byte). A text identical to one sent for another message shortly before (the same
question asked twice) is sent without that check, or WeCom would swallow the answer.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.dispatch import Incoming, Reply, TextReply, UpdateCard
from integrations import wecom
from messages.channels import (
    DUPLICATE_CHECK_SECONDS,
    Outgoing,
    Permanent,
    WeComAppChannel,
    _wecom_error,
)
from storage.chat_models import ChatCard
from storage.outbox import Notification

CHANNEL = "wecom_chat"
CODE_USED = 40058  # update_template_card: response_code unknown, used or expired


def reply_rows(key: str, msg: Incoming, replies: Sequence[Reply]) -> list[Notification]:
    """The outbox rows of one message's replies, keyed by the message and position."""
    return [_row(f"reply:{key}:{i}", msg, r) for i, r in enumerate(replies)]


def _row(dedup_key: str, msg: Incoming, r: Reply) -> Notification:
    context: dict[str, Any]
    if isinstance(r, TextReply):
        event, template, context = "chat_reply", "chat_reply.wecom_app", {"文本": r.text}
    else:
        card = dict(r.card)
        context = {"标题": _title(card), "卡片": card}
        if isinstance(r, UpdateCard):
            context |= {"更新": r.task_id, "response_code": msg.response_code}
        event, template = "chat_card", "chat_card.wecom_app"
    return Notification(dedup_key=dedup_key, event=event, channel=CHANNEL,
                        recipient=msg.user_id, template=template, context=context)


def _title(card: Mapping[str, Any]) -> str:
    main = card.get("main_title")
    title = main.get("title") if isinstance(main, Mapping) else None
    return str(title or card.get("card_type") or "卡片")


class WeComChatChannel(WeComAppChannel):
    """Sends chat replies: text, a new card (its response code kept for later updates), or
    an update of a card the member has."""

    def __init__(self, client: wecom.WeComClient, agent_id: int | str, *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, agent_id, clock=clock)
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}

    async def send(self, message: Outgoing) -> str | None:
        ctx = message.context
        try:
            if "更新" in ctx:
                return await self._update(message, ctx)
            if "卡片" in ctx:
                return await self._card(message, dict(ctx["卡片"]))
            return await self._text(message, str(ctx.get("文本", "")))
        except wecom.WeComError as exc:
            raise _wecom_error(exc, "企业微信") from exc

    async def _text(self, message: Outgoing, text: str) -> str | None:
        body = self._body(message.recipient, "text", {"content": text})
        body |= self._duplicate_check(message, body)
        data = await self._deliver(message.recipient, body)
        return str(data.get("msgid", "")) or None

    async def _card(self, message: Outgoing, card: dict[str, Any]) -> str | None:
        body = self._body(message.recipient, "template_card", card)
        body |= {"enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECONDS}
        data = await self._deliver(message.recipient, body)
        if code := data.get("response_code"):
            await ChatCard.filter(task_id=card.get("task_id", "")).update(response_code=code)
        return str(data.get("msgid", "")) or None

    async def _update(self, message: Outgoing, ctx: Mapping[str, Any]) -> str | None:
        """Replace the card in place with a response code (each works once: the click's, else
        the one kept from the last send or click). Without a usable one (e.g. a second edit
        typed in words) the changed card goes out as a new message, under a new task id."""
        task = str(ctx["更新"])
        code = ctx.get("response_code")
        stored = await ChatCard.get_or_none(task_id=task)
        if not code and stored is not None:
            code = stored.response_code
        if code:
            try:
                await self._client.update_template_card([message.recipient], str(code),
                                                        ctx["卡片"])
            except wecom.WeComError as exc:
                if exc.errcode != CODE_USED:
                    raise
            else:
                await ChatCard.filter(task_id=task, response_code=code).update(
                    response_code=None)
                return None
        if stored is None:
            return None
        fresh = f"{task.rsplit('-', 1)[0]}-{uuid.uuid4().hex[:8]}"
        await ChatCard.filter(id=stored.id).update(task_id=fresh, response_code=None)
        return await self._card(message, {**ctx["卡片"], "task_id": fresh})

    def _body(self, user: str, msgtype: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return {"touser": user, "msgtype": msgtype, "agentid": self._agent_id,
                msgtype: dict(payload)}

    async def _deliver(self, user: str, body: Mapping[str, Any]) -> dict[str, Any]:
        data = await self._call(user, body)
        if user in str(data.get("invaliduser") or "").split("|"):
            raise Permanent(f"企业微信账号无效：{user}")
        return data

    def _duplicate_check(self, message: Outgoing, body: Mapping[str, Any]) -> dict[str, Any]:
        """WeCom's resend protection, unless this very request went out for another message
        within the check's interval (then WeCom would drop a legitimate answer)."""
        now = self._clock()
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False)
                                .encode()).hexdigest()
        earlier = self._recent.get((message.recipient, digest))
        self._recent[(message.recipient, digest)] = (message.dedup_key, now)
        if len(self._recent) > 10_000:
            self._forget(now)
        if earlier is not None and earlier[0] != message.dedup_key \
                and now - earlier[1] < DUPLICATE_CHECK_SECONDS:
            return {}
        return {"enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECONDS}

    def _forget(self, now: float) -> None:
        for k, (_, at) in list(self._recent.items()):
            if now - at >= DUPLICATE_CHECK_SECONDS:
                del self._recent[k]
