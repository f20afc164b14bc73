"""The console acts as the staff member picked there, kept in a signed cookie
(handlers/console_session.py), never as whatever a request body claims."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import build
from handlers import console_session


@pytest.fixture
async def client(world: Any, settings: Any, aiohttp_client: Any) -> Any:
    return await aiohttp_client(build(settings, manage_db=False))


async def send(client: Any, text: str, user_id: str = "lina") -> Any:
    return await client.post("/console/api/send", json={"user_id": user_id, "text": text})


async def test_chat_needs_a_session_first(client):
    resp = await send(client, "帮助")
    assert resp.status == 401
    assert (await resp.json())["errors"][0]["code"] == "no_session"


async def test_the_session_cookie_decides_who_speaks(client):
    resp = await client.post("/console/api/session", json={"user_id": "zhangwei"})
    assert resp.status == 200 and (await resp.json())["role"] == "sales"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie

    # the body claims the manager lina; the session is the salesperson zhangwei's
    reply = (await (await send(client, "帮助", "lina")).json())["replies"][0]["text"]
    assert "履约助手用法" in reply and "放行" not in reply

    await client.post("/console/api/session", json={"user_id": "lina"})
    reply = (await (await send(client, "帮助", "zhangwei")).json())["replies"][0]["text"]
    assert "放行" in reply


async def test_a_forged_or_foreign_session_is_refused(client):
    for userid in ("nobody", "", 7, "x" * 65):
        resp = await client.post("/console/api/session", json={"user_id": userid})
        assert resp.status == 422, userid
    forged = await client.post("/console/api/send", json={"text": "帮助"},
                               cookies={console_session.COOKIE: "bGluYTo5OTk5OTk5OTk5.AAAA"})
    assert forged.status == 401
    evil = await client.post("/console/api/session", json={"user_id": "lina"},
                             headers={"Origin": "http://evil.example"})
    form = await client.post("/console/api/session", data='{"user_id": "lina"}',
                             headers={"Content-Type": "text/plain"})
    assert (evil.status, form.status) == (403, 415)
    assert "Set-Cookie" not in evil.headers and "Set-Cookie" not in form.headers


async def test_a_spreadsheet_uploaded_on_the_console_is_a_file_message(client):
    import base64

    from tests.handlers.test_sheet_chat import BATCH, xlsx

    body = {"name": "批量.xlsx", "data": base64.b64encode(xlsx(BATCH)).decode()}
    assert (await client.post("/console/api/upload", json=body)).status == 401  # no session
    await client.post("/console/api/session", json={"user_id": "zhangwei"})
    replies = (await (await client.post("/console/api/upload", json=body)).json())["replies"]
    assert [r["type"] for r in replies] == ["text", "card", "card"]
    assert "第5行：商品编码“XYZ99999”不存在" in replies[0]["text"]
    bad = await client.post("/console/api/upload", json={"name": "a.xlsx", "data": "%%%"})
    assert bad.status == 422
    pdf = {"name": "a.pdf", "data": base64.b64encode(b"%PDF-1.7").decode()}
    [reply] = (await (await client.post("/console/api/upload", json=pdf)).json())["replies"]
    assert "不是表格文件" in reply["text"]
