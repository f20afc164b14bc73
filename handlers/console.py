"""Local chat console (sandbox only, loopback only): talk to the bot as any staff member,
see the replies rendered like WeCom cards, and click their buttons. It feeds the same
dispatcher as WeCom does."""

from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.dispatch import CardReply, Incoming, Reply, TextReply, UpdateCard
from handlers.keys import DISPATCHER
from handlers.problems import Problem, json_response
from storage.models import Staff

WEB = Path(__file__).resolve().parents[1] / "messages" / "web"
routes = web.RouteTableDef()


def _loopback_only(request: web.Request) -> None:
    try:
        ok = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise web.HTTPForbidden(text="控制台只允许本机访问")


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
                           "group_chat": s.group_chat} for s in rows])


def _reply_json(r: Reply) -> dict[str, Any]:
    if isinstance(r, TextReply):
        return {"type": "text", "text": r.text}
    if isinstance(r, CardReply):
        return {"type": "card", "card": dict(r.card)}
    assert isinstance(r, UpdateCard)
    return {"type": "update", "task_id": r.task_id, "card": dict(r.card)}


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise Problem(400, "请求体不是有效的JSON", [{"field": "body", "code": "malformed_json",
                                               "message": "请求体不是有效的JSON"}]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("user_id"), str):
        raise Problem(422, "缺少 user_id", [{"field": "user_id", "code": "required",
                                          "message": "请选择一个员工身份"}])
    return data


def _chat(data: dict[str, Any]) -> tuple[str, str | None]:
    group = data.get("chat_type") == "group"
    return ("group", str(data.get("chat_id") or "console-group")) if group else ("single", None)


@routes.post("/console/api/send")
async def send(request: web.Request) -> web.Response:
    _loopback_only(request)
    data = await _body(request)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        raise Problem(422, "消息为空或过长", [{"field": "text", "code": "invalid",
                                          "message": "请输入1到4000字的消息"}])
    chat_type, chat_id = _chat(data)
    msg = Incoming(kind="text", user_id=data["user_id"], chat_type=chat_type, chat_id=chat_id,
                   text=text, msg_id=f"console-{uuid.uuid4().hex}", transport="console")
    replies = await request.app[DISPATCHER].feed(msg)
    return json_response({"replies": [_reply_json(r) for r in replies]})


@routes.post("/console/api/click")
async def click(request: web.Request) -> web.Response:
    _loopback_only(request)
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
