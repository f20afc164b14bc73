"""WeCom inbound: the self-built app callback (/wecom/callback, encrypted XML) and the
intelligent robot callback (/wecom/aibot, encrypted JSON) for @-mentions in groups.

The app callback answers at once (WeCom retries after 5 s) and works in a tracked
background task; duplicates are dropped by a persistent key, so a retry never places a
second order, also across a restart. The robot expects its reply in the HTTP answer
(passive reply), so it is dispatched inline.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.dispatch import CardReply, Incoming, Reply, TextReply, UpdateCard
from handlers.keys import DISPATCHER, OUTBOX
from integrations.wecom import RateLimited, WeComClient, WeComError, WeComUnavailable
from integrations.wecom_crypto import AppCrypto, BadPayload, BadSignature, BotCrypto
from storage import outbox, seen
from storage.chat_models import ChatCard

log = logging.getLogger(__name__)
MAX_CALLBACK_BYTES = 64 * 1024

APP_CRYPTO = web.AppKey("wecom_app_crypto", AppCrypto)
BOT_CRYPTO = web.AppKey("wecom_bot_crypto", BotCrypto)
WECOM = web.AppKey("wecom_client", WeComClient)
QUEUE = web.AppKey("wecom_queue", asyncio.Queue)
WORKERS = web.AppKey("wecom_workers", list)
# A fixed pool works the backlog: unbounded concurrency made the HTTP client's pool the
# bottleneck and collapsed throughput under bursts (bench/callback.py).
N_WORKERS = 12
BACKLOG = 5000
MENTION = re.compile(r"^\s*@\S+\s*")


def _params(request: web.Request, *names: str) -> list[str]:
    q = request.query
    missing = [n for n in names if not q.get(n)]
    if missing:
        raise web.HTTPBadRequest(text=f"missing {', '.join(missing)}")
    return [q[n] for n in names]


async def _read(request: web.Request) -> bytes:
    if (request.content_length or 0) > MAX_CALLBACK_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_CALLBACK_BYTES,
                                            actual_size=request.content_length or 0)
    body = await request.content.read(MAX_CALLBACK_BYTES + 1)
    if len(body) > MAX_CALLBACK_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_CALLBACK_BYTES, actual_size=len(body))
    return body


def _crypto_errors(exc: Exception) -> web.HTTPException:
    if isinstance(exc, BadSignature):
        log.warning("WeCom callback with a bad signature refused")
        return web.HTTPForbidden(text="bad signature")
    log.warning("WeCom callback with a bad payload refused: %s", exc)
    return web.HTTPBadRequest(text="bad payload")


# ---- self-built app ----------------------------------------------------------------------

async def app_verify(request: web.Request) -> web.Response:
    sig, ts, nonce, echostr = _params(request, "msg_signature", "timestamp", "nonce", "echostr")
    try:
        return web.Response(text=request.app[APP_CRYPTO].verify_url(sig, ts, nonce, echostr))
    except (BadSignature, BadPayload) as exc:
        raise _crypto_errors(exc) from None


async def app_message(request: web.Request) -> web.Response:
    sig, ts, nonce = _params(request, "msg_signature", "timestamp", "nonce")
    body = await _read(request)
    try:
        fields = request.app[APP_CRYPTO].decrypt(sig, ts, nonce, body)
    except (BadSignature, BadPayload) as exc:
        raise _crypto_errors(exc) from None
    msg = incoming_from_app(fields)
    if msg is None:
        return web.Response(text="")
    queue = request.app[QUEUE]
    if queue.full():
        # Not marked seen: WeCom's retry (after 5 s) will find room. Nothing is dropped.
        log.warning("WeCom callback backlog full (%d); asking WeCom to retry", queue.qsize())
        raise web.HTTPServiceUnavailable(text="busy")
    if not await seen.first_time(dedupe_key(fields)):
        log.info("duplicate WeCom callback dropped: %s", dedupe_key(fields))
        return web.Response(text="")
    queue.put_nowait(msg)
    return web.Response(text="")  # WeCom wants an answer within 5 s; the work goes on


def dedupe_key(fields: Mapping[str, Any]) -> str:
    if fields.get("MsgId"):
        return f"app:msg:{fields['MsgId']}"
    return (f"app:event:{fields.get('FromUserName')}:{fields.get('CreateTime')}:"
            f"{fields.get('Event')}:{fields.get('EventKey', '')}")


def incoming_from_app(f: Mapping[str, Any]) -> Incoming | None:
    user = str(f.get("FromUserName") or "")
    if f.get("MsgType") == "text":
        return Incoming(kind="text", user_id=user, text=str(f.get("Content") or ""),
                        msg_id=str(f.get("MsgId") or ""), transport="wecom")
    if f.get("MsgType") == "event" and f.get("Event") == "template_card_event":
        return Incoming(kind="card_event", user_id=user, event_key=str(f.get("EventKey") or ""),
                        task_id=str(f.get("TaskId") or ""),
                        response_code=str(f.get("ResponseCode") or ""),
                        selected=_selected(f.get("SelectedItems")), transport="wecom",
                        msg_id=dedupe_key(f))
    return None  # other events (enter_agent, menu views) need no answer


def _selected(items: Any) -> dict[str, str]:
    """SelectedItems/SelectedItem[{QuestionKey, OptionIds/OptionId}] → {question: option}."""
    if not isinstance(items, Mapping):
        return {}
    entries = items.get("SelectedItem") or []
    out = {}
    for item in entries if isinstance(entries, list) else [entries]:
        ids = (item.get("OptionIds") or {}).get("OptionId") if isinstance(item, Mapping) else None
        first = ids[0] if isinstance(ids, list) and ids else ids
        if isinstance(item, Mapping) and item.get("QuestionKey") and first:
            out[str(item["QuestionKey"])] = str(first)
    return out


async def _work(app: web.Application, msg: Incoming) -> None:
    try:
        replies = await app[DISPATCHER].feed(msg)
        if later := await send_replies(app[WECOM], msg, replies):
            await outbox.enqueue(later)
            if (dispatcher := app.get(OUTBOX)) is not None:
                dispatcher.notify()
    except Exception:
        log.exception("WeCom message from %s could not be answered", msg.user_id)


async def send_replies(client: WeComClient, msg: Incoming, replies: list[Reply]
                       ) -> list[outbox.Notification]:
    """Deliver replies through the WeCom API; a card's response code is kept for updates.

    A text reply that WeCom could not take now (unavailable, or over the member's limit)
    is returned as an outbox row, which the dispatcher retries with back-off; a card that
    failed is logged (the draft is saved: 查单 shows it again)."""
    later = []
    for i, r in enumerate(replies):
        try:
            await _send_one(client, msg, r)
        except (RateLimited, WeComUnavailable) as e:
            wait = e.retry_after if isinstance(e, RateLimited) else 0.0
            # The outbox sends with WeCom's duplicate check: a reply that did arrive
            # after all is not shown twice.
            if isinstance(r, TextReply):
                log.warning("reply to %s queued for retry: %s", msg.user_id, e.errmsg)
                later.append(_reply_row(msg, i, r.text, wait))
            else:
                log.error("reply to %s not sent: %s", msg.user_id, e.errmsg)
        except WeComError as e:
            log.error("reply to %s failed: %s %s", msg.user_id, e.errcode, e.errmsg)
    return later


def _reply_row(msg: Incoming, i: int, text: str, wait: float) -> outbox.Notification:
    return outbox.Notification(
        dedup_key=f"reply:{msg.msg_id}:{i}:{msg.user_id}:wecom_app", event="chat_reply",
        channel="wecom_app", recipient=msg.user_id, template="chat_reply.wecom_app",
        context={"文本": text},
        not_before=datetime.now(UTC) + timedelta(seconds=wait) if wait else None)


async def _send_one(client: WeComClient, msg: Incoming, r: Reply) -> None:
    if isinstance(r, TextReply):
        await client.send_text([msg.user_id], r.text)
    elif isinstance(r, CardReply):
        code = await client.send_template_card([msg.user_id], r.card)
        await ChatCard.filter(task_id=r.card.get("task_id", "")).update(response_code=code)
    elif isinstance(r, UpdateCard):
        code = msg.response_code or (await ChatCard.get(task_id=r.task_id)).response_code
        if code:
            await client.update_template_card([msg.user_id], code, r.card)


# ---- intelligent robot (group @-mentions) -------------------------------------------------

async def bot_verify(request: web.Request) -> web.Response:
    sig, ts, nonce, echostr = _params(request, "msg_signature", "timestamp", "nonce", "echostr")
    try:
        return web.Response(text=request.app[BOT_CRYPTO].verify_url(sig, ts, nonce, echostr))
    except (BadSignature, BadPayload) as exc:
        raise _crypto_errors(exc) from None


async def bot_message(request: web.Request) -> web.Response:
    sig, ts, nonce = _params(request, "msg_signature", "timestamp", "nonce")
    body = await _read(request)
    crypto = request.app[BOT_CRYPTO]
    try:
        data = crypto.decrypt(sig, ts, nonce, body)
    except (BadSignature, BadPayload) as exc:
        raise _crypto_errors(exc) from None
    msg = incoming_from_bot(data)
    if msg is None or not await seen.first_time(f"bot:{data.get('msgid')}"):
        return web.Response(text="")
    replies = await request.app[DISPATCHER].feed(msg)
    reply = bot_reply(replies)
    if reply is None:
        return web.Response(text="")
    return web.Response(text=crypto.encrypt_reply(reply, nonce), content_type="application/json")


def incoming_from_bot(d: Mapping[str, Any]) -> Incoming | None:
    sender = d.get("from") if isinstance(d.get("from"), Mapping) else {}
    user = str(sender.get("userid") or "")
    chat_type = "group" if d.get("chattype") == "group" else "single"
    base = {"user_id": user, "chat_type": chat_type, "chat_id": d.get("chatid"),
            "msg_id": str(d.get("msgid") or ""), "transport": "aibot"}
    if d.get("msgtype") == "text" and isinstance(d.get("text"), Mapping):
        text = MENTION.sub("", str(d["text"].get("content") or ""), count=1)
        return Incoming(kind="text", text=text.strip(), **base)
    event = d.get("event") if isinstance(d.get("event"), Mapping) else {}
    if d.get("msgtype") == "event" and event.get("eventtype") == "template_card_event":
        card = event.get("template_card_event") or {}
        return Incoming(kind="card_event", event_key=str(card.get("event_key") or ""),
                        task_id=str(card.get("task_id") or ""), **base)
    return None


def bot_reply(replies: list[Reply]) -> dict[str, Any] | None:
    """The robot's passive reply: a finished stream for text, a card, or a card update.

    Only one reply fits in the HTTP answer; texts are joined, a card wins over text.
    """
    cards = [r for r in replies if isinstance(r, CardReply)]
    updates = [r for r in replies if isinstance(r, UpdateCard)]
    texts = [r.text for r in replies if isinstance(r, TextReply)]
    if updates:
        # WC/101031 "回复消息更新模板卡片": no userids = every user the card went to (the
        # whole group sees it confirmed); the card's task_id must be the callback's.
        card = dict(updates[0].card)
        card["task_id"] = updates[0].task_id
        return {"response_type": "update_template_card", "template_card": card}
    if cards:
        return {"msgtype": "template_card", "template_card": dict(cards[0].card)}
    if texts:
        return {"msgtype": "stream", "stream": {"id": uuid.uuid4().hex, "finish": True,
                                                "content": "\n\n".join(texts)}}
    return None


async def _worker(app: web.Application) -> None:
    queue: asyncio.Queue[Incoming] = app[QUEUE]
    while True:
        msg = await queue.get()
        try:
            await _work(app, msg)
        finally:
            queue.task_done()


async def _start_workers(app: web.Application) -> None:
    app[WORKERS].extend(asyncio.create_task(_worker(app)) for _ in range(N_WORKERS))


async def _stop_workers(app: web.Application) -> None:
    """On shutdown, let the backlog drain (bounded), then stop the workers."""
    try:
        await asyncio.wait_for(app[QUEUE].join(), timeout=10)
    except TimeoutError:
        log.warning("%d WeCom messages left unanswered at shutdown", app[QUEUE].qsize())
    for task in app[WORKERS]:
        task.cancel()


def register(app: web.Application, client: WeComClient | None, app_crypto: AppCrypto | None,
             bot_crypto: BotCrypto | None) -> None:
    """Mount the callbacks that have credentials; the others are not served at all."""
    if app_crypto is not None and client is not None:
        app[QUEUE] = asyncio.Queue(maxsize=BACKLOG)
        app[WORKERS] = []
        app.on_startup.append(_start_workers)
        app.on_shutdown.append(_stop_workers)
        app[APP_CRYPTO] = app_crypto
        app[WECOM] = client
        app.router.add_get("/wecom/callback", app_verify)
        app.router.add_post("/wecom/callback", app_message)
    if bot_crypto is not None:
        app[BOT_CRYPTO] = bot_crypto
        app.router.add_get("/wecom/aibot", bot_verify)
        app.router.add_post("/wecom/aibot", bot_message)
