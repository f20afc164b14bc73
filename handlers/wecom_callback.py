"""WeCom inbound: the self-built app callback (/wecom/callback, encrypted XML) and the
intelligent robot callback (/wecom/aibot, encrypted JSON) for @-mentions in groups.

Both go through the transactional inbox (handlers/wecom_inbox.py): the message is stored
with its dedupe key before WeCom gets its answer, so an acknowledged message is never lost
and a WeCom retry never works it twice, also across a restart. The app callback answers at
once and the inbox's workers answer through the WeCom API (replies are outbox rows keyed by
the message: messages/chat_replies.py). The robot expects its reply in the HTTP answer
(passive reply), so it is worked inline; its reply is kept with the message, so a retry of
a message whose answer was lost gets the same reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from tortoise.transactions import in_transaction

from bot.dispatch import CardReply, Incoming, Reply, TextReply, UpdateCard
from bot.domain.limits import payload_refusal
from handlers import ops
from handlers.keys import DISPATCHER, OUTBOX
from handlers.wecom_inbox import Inbox, InboxFull, Limits
from integrations.wecom import WeComClient
from integrations.wecom_crypto import AppCrypto, BadPayload, BadSignature, BotCrypto
from messages.chat_replies import reply_rows
from storage import inbox, outbox
from storage.inbox import Stored

log = logging.getLogger(__name__)
MAX_CALLBACK_BYTES = 64 * 1024

APP_CRYPTO = web.AppKey("wecom_app_crypto", AppCrypto)
BOT_CRYPTO = web.AppKey("wecom_bot_crypto", BotCrypto)
WECOM = web.AppKey("wecom_client", WeComClient)
INBOX = web.AppKey("wecom_inbox", Inbox)
BOT_WORK = web.AppKey("wecom_bot_work", dict)
# A fixed pool works the backlog: unbounded concurrency made the HTTP client's pool the
# bottleneck and collapsed throughput under bursts (bench/callback.py).
N_WORKERS = 12
BACKLOG = 5000
BUFFER_MAX = 1000  # callbacks kept in memory while the database takes no writes
ROBOT_WAIT = 4.0  # seconds the robot's answer may take; then 503 and WeCom's retry gets it
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


def _checked(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A decrypted payload whose text can be stored (bot/domain/limits.py), else 400."""
    if why := payload_refusal(data):
        log.warning("WeCom callback refused after decryption: %s", why)
        raise web.HTTPBadRequest(text="bad payload")
    return data


def _from_someone(msg: Incoming | None) -> Incoming | None:
    """A message or click names its sender (it is answered to them), else 400."""
    if msg is not None and not msg.user_id.strip():
        log.warning("WeCom callback without a sender refused (%s)", msg.kind)
        raise web.HTTPBadRequest(text="no sender")
    return msg


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
    msg = _from_someone(incoming_from_app(_checked(fields)))
    if msg is None:
        return web.Response(text="")
    try:
        await request.app[INBOX].accept(dedupe_key(fields), "app", dict(fields))
    except InboxFull as exc:
        # Nothing was stored: WeCom's retry (after 5 s) may find room. Nothing is dropped.
        log.warning("WeCom callback refused for now, WeCom will retry: %s", exc)
        raise web.HTTPServiceUnavailable(text="busy") from None
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
    if f.get("MsgType") == "file" and f.get("MediaId"):
        # A spreadsheet order (handlers/chat/sheets.py downloads it by media id).
        return Incoming(kind="file", user_id=user, media_id=str(f["MediaId"]),
                        file_name=str(f.get("FileName") or f.get("Title") or ""),
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


async def _work(app: web.Application, item: Stored) -> Any:
    """Work one stored message: the robot's returns its passive reply; the app's writes its
    replies to the outbox in the transaction that finishes it, then sends them."""
    if item.source == "bot":
        return await _work_bot(app, item)
    msg = incoming_from_app(item.payload)
    replies = await app[DISPATCHER].feed(msg) if msg is not None else []
    dispatcher = app[OUTBOX]
    async with in_transaction():
        rows = await outbox.enqueue_claimed(reply_rows(item.key, msg, replies) if msg else [],
                                            dispatcher.worker_id, dispatcher.lease_seconds)
        await inbox.finish(item.id)
    # The worker waits for its replies before it takes the next message: sends queued
    # behind new work were starved of the loop under bursts (bench/callback.py).
    await asyncio.gather(*dispatcher.deliver_claimed(rows))
    return None


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
    if _from_someone(incoming_from_bot(_checked(data))) is None:
        return web.Response(text="")
    key = bot_key(data)
    try:
        item = await request.app[INBOX].accept(key, "bot", dict(data), queue=False)
    except InboxFull as exc:
        log.warning("WeCom robot callback refused for now, WeCom will retry: %s", exc)
        raise web.HTTPServiceUnavailable(text="busy") from None
    if item is not None and item.id == 0:
        # Kept in memory until the database takes it; a worker answers it then, and
        # WeCom's retry gets that answer.
        raise web.HTTPServiceUnavailable(text="busy")
    reply = await _bot_answer(request.app, key, item)
    if reply is None:
        return web.Response(text="")
    return web.Response(text=crypto.encrypt_reply(reply, nonce), content_type="application/json")


async def _bot_answer(app: web.Application, key: str, item: Stored | None
                      ) -> dict[str, Any] | None:
    """The passive reply: worked now for a new message; for a retry, the one kept with the
    message, or the work still running for it (bounded by ROBOT_WAIT, then 503)."""
    running: dict[str, asyncio.Task[Any]] = app[BOT_WORK]
    task: asyncio.Task[Any] | None
    if item is not None:
        task = asyncio.create_task(app[INBOX].run_one(item))
        running[key] = task
        task.add_done_callback(lambda _: running.pop(key, None))
    elif (task := running.get(key)) is None:
        found = await inbox.get_result(key)
        if found is not None and found[0] == "pending":  # being worked elsewhere: ask again
            raise web.HTTPServiceUnavailable(text="busy")
        return (found[1] or {}).get("reply") if found and found[0] == "done" else None
    try:
        return await asyncio.wait_for(asyncio.shield(task), ROBOT_WAIT)  # type: ignore[no-any-return]
    except TimeoutError:
        raise web.HTTPServiceUnavailable(text="busy") from None


async def _work_bot(app: web.Application, item: Stored) -> dict[str, Any] | None:
    msg = incoming_from_bot(item.payload)
    reply = bot_reply(await app[DISPATCHER].feed(msg)) if msg is not None else None
    async with in_transaction():
        await inbox.finish(item.id, result={"reply": reply})
    return reply


def bot_key(d: Mapping[str, Any]) -> str:
    """The robot's dedupe key: its msgid, else a hash of the whole message (content, sender,
    chat and create_time), never one key for different messages."""
    if d.get("msgid"):
        return f"bot:{d['msgid']}"
    canonical = json.dumps(d, sort_keys=True, ensure_ascii=False, default=str)
    return f"bot:sha256:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


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


def register(app: web.Application, client: WeComClient | None, app_crypto: AppCrypto | None,
             bot_crypto: BotCrypto | None) -> None:
    """Mount the callbacks that have credentials; the others are not served at all."""
    if app_crypto is None and bot_crypto is None:
        return
    app[INBOX] = Inbox(lambda item: _work(app, item), app[OUTBOX].worker_id,
                       Limits(workers=N_WORKERS, backlog=BACKLOG, buffer_max=BUFFER_MAX))
    app[BOT_WORK] = {}
    if ops.DEGRADED not in app:
        app[ops.DEGRADED] = []
    app[ops.DEGRADED].append(app[INBOX].degraded)
    app.on_startup.append(_start_inbox)
    app.on_shutdown.append(_stop_inbox)
    if app_crypto is not None and client is not None:
        if DISPATCHER in app:  # file messages are downloaded through the app's client
            app[DISPATCHER].deps["media"] = client
        app[APP_CRYPTO] = app_crypto
        app[WECOM] = client
        app.router.add_get("/wecom/callback", app_verify)
        app.router.add_post("/wecom/callback", app_message)
    if bot_crypto is not None:
        app[BOT_CRYPTO] = bot_crypto
        app.router.add_get("/wecom/aibot", bot_verify)
        app.router.add_post("/wecom/aibot", bot_message)


async def _start_inbox(app: web.Application) -> None:
    await app[INBOX].start()


async def _stop_inbox(app: web.Application) -> None:
    """Let the backlog drain (bounded); what is left is taken up at the next start."""
    await app[INBOX].stop()
    await app[OUTBOX].drain_direct()
