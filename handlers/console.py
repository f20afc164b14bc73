"""Local chat console (sandbox only, loopback only): talk to the bot as any staff member,
see the replies rendered like WeCom cards, and click their buttons. It feeds the same
dispatcher as WeCom does. Its 通知 tab is the operator's view of the outbox: what is
pending, sent (with the text) and dead (with the reason), and a retry for dead letters.

Loopback is checked on the socket, not on headers. That alone does not stop another web
page open in the operator's browser from posting to 127.0.0.1, so every POST must be JSON
(cross-site, that needs a CORS preflight, which is never answered) and, when the browser
says where it comes from (Origin), come from this console's own origin.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.dispatch import CardReply, Incoming, Reply, TextReply, UpdateCard
from bot.domain.vocab import ROLE_ZH
from handlers import console_session
from handlers.keys import DISPATCHER, OUTBOX
from handlers.local import is_local
from handlers.problems import Problem, json_response
from messages.outbox_admin import STATUS_ZH, retry_one, row_json, snapshot
from storage.models import Staff

WEB = Path(__file__).resolve().parents[1] / "messages" / "web"
routes = web.RouteTableDef()
MENTION = re.compile(r"^\s*@\S+\s*")  # the robot's name in a group message


def _loopback_only(request: web.Request) -> None:
    if not is_local(request):  # handlers/local.py: loopback peer and a loopback Host
        raise web.HTTPForbidden(text="控制台只允许本机访问")


def _same_origin(request: web.Request) -> None:
    """Refuse what another site could make the operator's browser post (module docstring)."""
    if request.content_type != "application/json":
        raise Problem(415, "请求体必须是JSON", [{"field": "Content-Type", "code": "unsupported",
                                            "message": "请以 application/json 提交"}])
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise Problem(403, "拒绝跨站请求", [{"field": "Origin", "code": "cross_site",
                                         "message": "只接受本控制台页面发出的请求"}])


@routes.get("/console")
async def page(request: web.Request) -> web.FileResponse:
    _loopback_only(request)
    return web.FileResponse(WEB / "console.html")


@routes.get("/console/static/{name}")
async def static(request: web.Request) -> web.FileResponse:
    _loopback_only(request)
    name = request.match_info["name"]
    path = (WEB / name).resolve()
    if path.parent != WEB or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path)


@routes.get("/console/api/staff")
async def staff(request: web.Request) -> web.Response:
    _loopback_only(request)
    rows = await Staff.filter(active=True).order_by("role", "userid")
    return json_response([{"userid": s.userid, "name": s.name, "role": s.role.value,
                           "role_zh": ROLE_ZH.get(s.role.value, s.role.value),
                           "group_chat": s.group_chat} for s in rows])


def _reply_json(r: Reply) -> dict[str, Any]:
    if isinstance(r, TextReply):
        return {"type": "text", "text": r.text}
    if isinstance(r, CardReply):
        return {"type": "card", "card": dict(r.card)}
    assert isinstance(r, UpdateCard)
    return {"type": "update", "task_id": r.task_id, "card": dict(r.card)}


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise Problem(400, "请求体不是有效的JSON", [{"field": "body", "code": "malformed_json",
                                               "message": "请求体不是有效的JSON"}]) from exc
    if not isinstance(data, dict):
        raise Problem(422, "请求体应为JSON对象", [{"field": "body", "code": "type",
                                             "message": "请求体应为JSON对象"}])
    return data


async def _body(request: web.Request) -> dict[str, Any]:
    """The body, with `user_id` set to the staff member of the console's session cookie."""
    data = await _json(request)
    data["user_id"] = console_session.user_of(request)
    return data


@routes.post("/console/api/session")
async def session(request: web.Request) -> web.Response:
    """Act as this staff member from now on (a signed cookie; handlers/console_session.py)."""
    _loopback_only(request)
    _same_origin(request)
    userid = (await _json(request)).get("user_id")
    staff = await Staff.get_or_none(userid=userid, active=True) if isinstance(
        userid, str) and 0 < len(userid) <= 64 and ":" not in userid else None
    if staff is None:
        raise Problem(422, "没有这位员工", [{"field": "user_id", "code": "unknown_staff",
                                          "message": "请选择一位在职员工"}])
    response = json_response({"user_id": staff.userid, "name": staff.name,
                              "role": staff.role.value})
    console_session.start(request, response, staff.userid)
    return response


def _chat(data: dict[str, Any]) -> tuple[str, str | None]:
    group = data.get("chat_type") == "group"
    return ("group", str(data.get("chat_id") or "console-group")) if group else ("single", None)


@routes.post("/console/api/send")
async def send(request: web.Request) -> web.Response:
    _loopback_only(request)
    _same_origin(request)
    data = await _body(request)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        raise Problem(422, "消息为空或过长", [{"field": "text", "code": "invalid",
                                          "message": "请输入1到4000字的消息"}])
    chat_type, chat_id = _chat(data)
    if chat_type == "group":  # as the robot callback does: `@履约助手 加急 …` → `加急 …`
        text = MENTION.sub("", text) or text
    msg = Incoming(kind="text", user_id=data["user_id"], chat_type=chat_type, chat_id=chat_id,
                   text=text, msg_id=f"console-{uuid.uuid4().hex}", transport="console")
    replies = await request.app[DISPATCHER].feed(msg)
    return json_response({"replies": [_reply_json(r) for r in replies]})


@routes.post("/console/api/upload")
async def upload(request: web.Request) -> web.Response:
    """A spreadsheet sent to the bot, as a WeCom file message is (handlers/chat/sheets.py).
    JSON like every console POST: `{name, data}` with the file in base64."""
    _loopback_only(request)
    _same_origin(request)
    try:
        data = await _body(request)
    except web.HTTPRequestEntityTooLarge:
        raise Problem(413, "文件太大", [{"field": "data", "code": "too_large",
                                      "message": "文件太大，控制台上传的表格请小于 700 KB"}]
                      ) from None
    name, content = data.get("name"), data.get("data")
    try:
        raw = base64.b64decode(content, validate=True) if isinstance(content, str) else None
    except binascii.Error:
        raw = None
    if raw is None or not isinstance(name, str) or not 0 < len(name) <= 128:
        raise Problem(422, "缺少文件", [{"field": "data", "code": "invalid",
                                      "message": "请选择一个 .xlsx 或 .csv 文件"}])
    chat_type, chat_id = _chat(data)
    msg = Incoming(kind="file", user_id=data["user_id"], chat_type=chat_type, chat_id=chat_id,
                   file_name=name, file_data=raw, msg_id=f"console-{uuid.uuid4().hex}",
                   transport="console")
    replies = await request.app[DISPATCHER].feed(msg)
    return json_response({"replies": [_reply_json(r) for r in replies]})


@routes.post("/console/api/click")
async def click(request: web.Request) -> web.Response:
    _loopback_only(request)
    _same_origin(request)
    data = await _body(request)
    key, task_id = data.get("key"), data.get("task_id")
    if not isinstance(key, str) or not isinstance(task_id, str):
        raise Problem(422, "缺少按钮信息", [{"field": "key", "code": "required",
                                        "message": "缺少 key 或 task_id"}])
    selected = data.get("selected") if isinstance(data.get("selected"), dict) else {}
    chat_type, chat_id = _chat(data)
    msg = Incoming(kind="card_event", user_id=data["user_id"], chat_type=chat_type,
                   chat_id=chat_id, event_key=key, task_id=task_id,
                   selected={str(k): str(v) for k, v in selected.items()},
                   msg_id=f"console-{uuid.uuid4().hex}", transport="console")
    replies = await request.app[DISPATCHER].feed(msg)
    return json_response({"replies": [_reply_json(r) for r in replies]})


# ---- 通知: the outbox ---------------------------------------------------------------------

OUTBOX_LIMIT = 200
_ID = re.compile(r"[0-9]{1,18}")  # an ASCII id that fits a BIGINT


def _bad_query(field: str, message: str) -> Problem:
    return Problem(400, "查询参数有误", [{"field": field, "code": "invalid", "message": message}])


def _outbox_query(query: Any) -> tuple[str | None, str | None, int]:
    status = query.get("status") or None
    if status is not None and status not in STATUS_ZH:
        raise _bad_query("status", "status 只能是 " + "、".join(STATUS_ZH))
    channel = query.get("channel") or None
    if channel is not None and len(channel) > 16:
        raise _bad_query("channel", "channel 最长16个字符")
    raw = query.get("limit") or "50"
    if not raw.isascii() or not raw.isdigit() or int(raw) > OUTBOX_LIMIT:
        raise _bad_query("limit", f"limit 应为0到{OUTBOX_LIMIT}的整数")
    return status, channel, int(raw)


@routes.get("/console/api/outbox")
async def outbox(request: web.Request) -> web.Response:
    _loopback_only(request)
    status, channel, limit = _outbox_query(request.query)
    body = await snapshot(limit, status, channel)
    return json_response({"status": status, "channel": channel, "limit": limit, **body})


@routes.post("/console/api/outbox/{id}/retry")
async def outbox_retry(request: web.Request) -> web.Response:
    _loopback_only(request)
    _same_origin(request)
    raw = request.match_info["id"]
    outcome, row = await retry_one(int(raw)) if _ID.fullmatch(raw) else ("missing", None)
    if row is None:
        raise Problem(404, "没有这条通知", [{"field": "id", "code": "not_found",
                                         "message": f"通知 {raw} 不存在"}])
    if outcome == "not_dead":
        raise Problem(409, "只有失败的通知可以重发", [{
            "field": "status", "code": "not_dead",
            "message": f"通知 {row.id} 当前为{STATUS_ZH[row.status.value]}"}],
            {"status_now": row.status.value})
    if (dispatcher := request.app.get(OUTBOX)) is not None:
        dispatcher.notify()
    return json_response({"retried": True, "row": row_json(row)})
