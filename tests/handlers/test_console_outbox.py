"""The console's 通知 view: the outbox as JSON, and a dead letter retried over HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.app import build
from bot.config import Secret
from handlers import console
from handlers.keys import OUTBOX
from messages.channels import ConsoleChannel
from messages.outbox import OutboxDispatcher
from messages.render import load
from storage import outbox
from storage.outbox import Notification

PUSH_FAILED = {"单号": "SO20261125001", "客户名称": "杭州西湖恒通汽修厂", "原通知": "已出库",
               "渠道": "公众号", "原因": "用户未关注公众号（43004）"}


class RecordingDispatcher(OutboxDispatcher):
    """A dispatcher with no channels (it sends nothing) that records its wake-ups."""

    def __init__(self) -> None:
        super().__init__({}, renderer=load(), worker_id="recording")
        self.woken = 0

    def notify(self) -> None:
        self.woken += 1
        super().notify()


def note(key: str, channel: str = "wechat_oa", event: str = "shipped", **kw) -> Notification:
    template = kw.pop("template", f"{event}.{channel}")
    return Notification(dedup_key=key, event=event, channel=channel, recipient=f"r-{key}",
                        template=template, order_no="SO20261125001", **kw)


async def seed() -> dict[str, int]:
    """One dead 公众号 push, one console message sent, one pending; ids by name."""
    now = datetime.now(UTC)
    await outbox.enqueue([note("dead"), note("sent", channel="console", event="push_failed",
                                             template="push_failed.wecom_app",
                                             context=PUSH_FAILED),
                          note("pending", channel="wecom_app", event="gate_failed")], now)
    (dead,) = await outbox.claim(1, "w", 60, now, ["wechat_oa"])
    await outbox.mark_dead(dead, "用户拒收公众号消息（43101）")
    (sent,) = await outbox.claim(1, "w", 60, now, ["console"])
    await outbox.mark_sent(sent, "console-1", "给客户杭州西湖恒通汽修厂的通知未能送达", now)
    pending = (await outbox.list_rows("pending"))[0]
    return {"dead": dead.id, "sent": sent.id, "pending": pending.id}


@pytest.fixture
async def app_client(db, settings, aiohttp_client):
    app = build(settings, manage_db=False)
    app[OUTBOX] = RecordingDispatcher()
    client = await aiohttp_client(app)
    client.dispatcher = app[OUTBOX]
    return client


def post(client, path, **kw):
    kw.setdefault("json", {})
    return client.post(path, **kw)


async def test_empty_outbox(app_client):
    resp = await app_client.get("/console/api/outbox")
    assert resp.status == 200
    body = await resp.json()
    assert body["counts"] == {"pending": 0, "sending": 0, "sent": 0, "dead": 0}
    assert body["rows"] == [] and body["channels"] == {}


async def test_lists_counts_per_status_and_channel_with_text_and_reason(app_client):
    ids = await seed()
    body = await (await app_client.get("/console/api/outbox")).json()
    assert body["counts"] == {"pending": 1, "sending": 0, "sent": 1, "dead": 1}
    assert body["channels"]["wechat_oa"]["dead"] == 1
    assert body["channels"]["console"] == {"pending": 0, "sending": 0, "sent": 1, "dead": 0}
    assert body["channel_zh"] == {"console": "控制台", "wechat_oa": "公众号",
                                  "wecom_app": "企业微信"}
    rows = {r["id"]: r for r in body["rows"]}
    assert [r["id"] for r in body["rows"]] == sorted(rows, reverse=True)  # newest first
    dead, sent = rows[ids["dead"]], rows[ids["sent"]]
    assert (dead["status_zh"], dead["event_zh"], dead["error"]) == (
        "失败", "已出库", "用户拒收公众号消息（43101）")
    assert dead["order_no"] == "SO20261125001" and dead["recipient"] == "r-dead"
    assert sent["text"] == "给客户杭州西湖恒通汽修厂的通知未能送达" and sent["sent_at"]
    assert rows[ids["pending"]]["next_attempt_at"] is not None


async def test_filters_by_status_channel_and_limit(app_client):
    ids = await seed()
    body = await (await app_client.get("/console/api/outbox?status=dead")).json()
    assert [r["id"] for r in body["rows"]] == [ids["dead"]]
    assert body["counts"]["pending"] == 1  # the chips keep every status's count
    body = await (await app_client.get("/console/api/outbox?channel=console")).json()
    assert [r["id"] for r in body["rows"]] == [ids["sent"]]
    assert body["counts"] == {"pending": 0, "sending": 0, "sent": 1, "dead": 0}
    body = await (await app_client.get("/console/api/outbox?limit=0")).json()
    assert body["rows"] == [] and body["counts"]["dead"] == 1
    body = await (await app_client.get("/console/api/outbox?channel=nope")).json()
    assert body["rows"] == [] and sum(body["counts"].values()) == 0


@pytest.mark.parametrize(("query", "field"), [
    ("status=lost", "status"), ("status=DEAD", "status"), ("limit=abc", "limit"),
    ("limit=-1", "limit"), ("limit=201", "limit"), ("limit=１０", "limit"),
    ("limit=99999999999999999999999", "limit"), ("channel=" + "x" * 17, "channel"),
])
async def test_bad_query_is_a_400_problem(app_client, query, field):
    resp = await app_client.get(f"/console/api/outbox?{query}")
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["errors"][0]["field"] == field


async def test_retry_requeues_a_dead_letter_and_wakes_the_dispatcher(app_client):
    ids = await seed()
    resp = await post(app_client, f"/console/api/outbox/{ids['dead']}/retry")
    assert resp.status == 200, await resp.text()
    row = (await resp.json())["row"]
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["error"] == "用户拒收公众号消息（43101）"  # the last reason stays visible
    assert app_client.dispatcher.woken == 1
    body = await (await app_client.get("/console/api/outbox")).json()
    assert body["counts"]["dead"] == 0 and body["counts"]["pending"] == 2

    again = await post(app_client, f"/console/api/outbox/{ids['dead']}/retry")
    assert again.status == 409 and again.content_type == "application/problem+json"
    assert (await again.json())["status_now"] == "pending"
    sent = await post(app_client, f"/console/api/outbox/{ids['sent']}/retry")
    assert sent.status == 409 and (await sent.json())["status_now"] == "sent"
    assert app_client.dispatcher.woken == 1


@pytest.mark.parametrize("ident", ["999", "abc", "99999999999999999999", "-1", "１"])
async def test_retry_of_no_such_row_is_a_404_problem(app_client, ident):
    await seed()
    resp = await post(app_client, f"/console/api/outbox/{ident}/retry")
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    assert app_client.dispatcher.woken == 0


async def test_cross_site_posts_are_refused_and_change_nothing(app_client):
    ids = await seed()
    path = f"/console/api/outbox/{ids['dead']}/retry"
    # What a form on another site can send without a preflight: not JSON.
    form = await app_client.post(path, data="{}", headers={"Content-Type": "text/plain"})
    assert form.status == 415 and form.content_type == "application/problem+json"
    evil = await post(app_client, path, headers={"Origin": "http://evil.example"})
    assert evil.status == 403 and (await evil.json())["errors"][0]["code"] == "cross_site"
    sandboxed = await post(app_client, path, headers={"Origin": "null"})
    assert sandboxed.status == 403
    assert (await outbox.list_rows("dead"))[0].id == ids["dead"]
    assert app_client.dispatcher.woken == 0
    own = str(app_client.make_url("/")).rstrip("/")
    ok = await post(app_client, path, headers={"Origin": own})
    assert ok.status == 200


async def test_chat_posts_are_refused_cross_site_too(app_client):
    resp = await app_client.post("/console/api/send", headers={"Content-Type": "text/plain"},
                                 data='{"user_id": "zhangwei", "text": "帮助"}')
    assert resp.status == 415
    resp = await post(app_client, "/console/api/click", headers={"Origin": "http://evil.example"},
                      json={"user_id": "zhangwei", "key": "k", "task_id": "t"})
    assert resp.status == 403


@pytest.mark.parametrize(("method", "path", "handler"), [
    ("GET", "/console/api/outbox", console.outbox),
    ("POST", "/console/api/outbox/1/retry", console.outbox_retry),
])
async def test_only_loopback_peers(method, path, handler):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("10.1.2.3", 40000) if name == "peername" else default)
    request = make_mocked_request(method, path, headers={"Content-Type": "application/json"},
                                  transport=transport, match_info={"id": "1"})
    with pytest.raises(web.HTTPForbidden):
        await handler(request)


async def test_not_served_outside_sandbox_mode(db, settings, aiohttp_client):
    live = replace(settings, env={**settings.env, "WECOM_CORP_ID": Secret("ww1"),
                                  "WECOM_SECRET": Secret("s")})
    client = await aiohttp_client(build(live, manage_db=False))
    assert (await client.get("/console/api/outbox")).status == 404
    assert (await post(client, "/console/api/outbox/1/retry")).status == 404


async def test_retried_console_message_is_delivered_by_the_real_dispatcher(
        db, settings, aiohttp_client):
    channel = ConsoleChannel()
    dispatcher = OutboxDispatcher({"console": channel}, renderer=load(), worker_id="t")
    app = build(settings, manage_db=False)
    app[OUTBOX] = dispatcher
    client = await aiohttp_client(app)
    now = datetime.now(UTC)
    await outbox.enqueue([note("c", channel="console", event="push_failed",
                               template="push_failed.wecom_app", context=PUSH_FAILED)], now)
    (claimed,) = await outbox.claim(1, "t", 60, now, ["console"])
    await outbox.mark_dead(claimed, "控制台暂不可用")

    resp = await post(client, f"/console/api/outbox/{claimed.id}/retry")
    assert resp.status == 200
    assert await dispatcher.run_once() == 1
    row = (await (await client.get("/console/api/outbox?status=sent")).json())["rows"][0]
    assert row["id"] == claimed.id and row["remote_id"] == f"console-{claimed.id}"
    assert "用户未关注公众号（43004）" in row["text"]
    assert [m.id for m in channel.messages] == [claimed.id]


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:8080", True), ("localhost:8080", True), ("[::1]:8080", True),
    ("127.0.0.1", True), ("evil.example:8080", False), ("evil.example", False),
    ("127.0.0.1.evil.example", False),
])
async def test_a_rebound_name_is_refused_even_from_loopback(app_client, host, allowed):
    # DNS rebinding: a hostile page whose name now points at 127.0.0.1 sends its own Host.
    resp = await app_client.get("/console/api/outbox", headers={"Host": host})
    assert (resp.status == 200) is allowed, (host, resp.status)
    resp = await app_client.get("/console", headers={"Host": host})
    assert (resp.status == 200) is allowed, (host, resp.status)
