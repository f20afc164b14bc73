"""WeComClient and GroupWebhook against the fake WeCom server (real HTTP on 127.0.0.1).

Covers the token life cycle (cache, proactive refresh, refetch-once on 40014/42001), the
errcode → exception mapping, the request shapes of every message type, response_code
round trips, and the per-member limit that WeCom enforces by silently dropping messages.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from integrations.wecom import (
    CHINA,
    GroupWebhook,
    MemberLimiter,
    MemoryTokenCache,
    PermanentSendError,
    RateLimited,
    SlidingWindow,
    TokenExpired,
    WeComClient,
    WeComError,
    WeComUnavailable,
    error_for,
)
from tests.fakes.wecom_server import FakeWeCom

LINA, ZHANG = "lina", "zhangwei"


class Clock:
    """A settable wall clock for the client (the fake has its own, see FakeWeCom.advance)."""

    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def fake():
    async with FakeWeCom() as server:
        yield server


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def make_client(fake: FakeWeCom, http: httpx.AsyncClient, **kwargs: Any) -> WeComClient:
    return WeComClient(http, fake.url, fake.corp_id, fake.secret, fake.agent_id,
                       MemoryTokenCache(), **kwargs)


@pytest.fixture
def client(fake, http) -> WeComClient:
    return make_client(fake, http)


def button_card(task_id: str = "SO123-confirm-1a2b3c4d") -> dict[str, Any]:
    return {
        "card_type": "button_interaction",
        "task_id": task_id,
        "main_title": {"title": "订单 SO123 待确认", "desc": "杭州西湖恒通汽修厂"},
        "sub_title_text": "博世 前刹车片 ×10，合计 ¥1,200.00",
        "button_list": [
            {"text": "确认", "style": 1, "key": "confirm:SO123"},
            {"text": "取消", "style": 2, "key": "cancel:SO123"},
        ],
    }


# ---- access token ---------------------------------------------------------------------------

async def test_token_is_fetched_once_and_reused(fake, client):
    for i in range(3):
        await client.send_text([LINA], f"第{i}条")
    assert len(fake.requests("gettoken")) == 1
    assert fake.requests("gettoken")[0].query == {"corpid": fake.corp_id,
                                                  "corpsecret": fake.secret}
    tokens = {c.query["access_token"] for c in fake.requests("message/send")}
    assert len(tokens) == 1


async def test_concurrent_first_calls_share_one_token_fetch(fake, client):
    await asyncio.gather(*(client.send_text([f"u{i}"], "hi") for i in range(10)))
    assert len(fake.requests("gettoken")) == 1


async def test_token_is_refreshed_before_it_expires(fake, http):
    clock = Clock()
    client = make_client(fake, http, clock=clock, token_margin=300)
    await client.send_text([LINA], "a")
    clock.advance(7200 - 300 - 1)  # still inside the margin
    await client.send_text([LINA], "b")
    assert len(fake.requests("gettoken")) == 1
    clock.advance(2)  # past expires_in - margin: fetch before WeCom would say 42001
    await client.send_text([LINA], "c")
    assert len(fake.requests("gettoken")) == 2


@pytest.mark.parametrize("invalidate", ["expire_tokens", "revoke_tokens"])
async def test_refused_token_is_refetched_once_and_the_call_retried(fake, client, invalidate):
    await client.send_text([LINA], "first")
    getattr(fake, invalidate)()  # WeCom may invalidate a token early
    result = await client.send_text([LINA], "second")
    assert result.msgid
    sends = fake.requests("message/send")
    assert len(sends) == 3  # ok, refused (42001 / 40014), retried ok
    assert sends[1].query["access_token"] != sends[2].query["access_token"]
    assert len(fake.requests("gettoken")) == 2
    assert [d.payload["content"] for d in fake.delivered(LINA)] == ["first", "second"]


async def test_injected_40001_on_a_call_also_refetches(fake, client):
    fake.fail("message/send", 40001, "invalid credential")
    await client.send_text([LINA], "x")
    assert len(fake.requests("gettoken")) == 2


async def test_second_token_error_raises_token_expired(fake, client):
    fake.fail("message/send", 42001, "access_token expired", times=2)
    with pytest.raises(TokenExpired) as info:
        await client.send_text([LINA], "x")
    assert info.value.errcode == 42001
    assert len(fake.requests("message/send")) == 2  # one retry, not a loop
    assert fake.delivered() == []


async def test_wrong_secret_is_a_permanent_error(fake, http):
    client = WeComClient(http, fake.url, fake.corp_id, "wrong", fake.agent_id,
                         MemoryTokenCache())
    with pytest.raises(PermanentSendError) as info:
        await client.send_text([LINA], "x")
    assert info.value.errcode == 40001
    assert fake.requests("message/send") == []


async def test_token_cache_is_shared_between_clients(fake, http):
    cache = MemoryTokenCache()
    for _ in range(2):
        c = WeComClient(http, fake.url, fake.corp_id, fake.secret, fake.agent_id, cache)
        await c.send_text([LINA], "x")
    assert len(fake.requests("gettoken")) == 1


# ---- message shapes ---------------------------------------------------------------------------

async def test_send_text_shape(fake, client):
    result = await client.send_text([LINA, ZHANG], "您的订单 SO123 已发货")
    body = fake.requests("message/send")[0].body
    assert body == {"touser": "lina|zhangwei", "msgtype": "text", "agentid": fake.agent_id,
                    "text": {"content": "您的订单 SO123 已发货"}}
    assert [d.user for d in fake.delivered()] == [LINA, ZHANG]
    assert result.msgid and result.invalid_users == ()


async def test_send_textcard_and_markdown_shapes(fake, client):
    await client.send_textcard([LINA], "发货通知", "<div class=\"gray\">SO123</div>",
                               "https://example.invalid/t/abc", btntxt="查看")
    await client.send_markdown([LINA], "**SO123** 已发货")
    textcard, markdown = (c.body for c in fake.requests("message/send"))
    assert textcard["textcard"] == {
        "title": "发货通知", "description": "<div class=\"gray\">SO123</div>",
        "url": "https://example.invalid/t/abc", "btntxt": "查看",
    }
    assert markdown["markdown"] == {"content": "**SO123** 已发货"}


async def test_template_card_returns_a_response_code_that_updates_once(fake, client):
    code = await client.send_template_card([LINA], button_card())
    assert code and code.startswith("rc-")
    sent = fake.requests("message/send")[0].body
    assert sent["msgtype"] == "template_card" and sent["template_card"] == button_card()

    new = {**button_card(), "button_list": [{"text": "已确认", "key": "done:SO123"}]}
    await client.update_template_card([LINA], code, new)
    assert fake.updates[0] == {"userids": [LINA], "agentid": fake.agent_id,
                               "response_code": code, "template_card": new}
    with pytest.raises(PermanentSendError) as info:  # a response_code works once
        await client.update_button([LINA], code, "已确认")
    assert info.value.errcode == 40058


async def test_update_button_shape(fake, client):
    code = await client.send_template_card([LINA], button_card())
    await client.update_button([LINA], code, "已确认")
    assert fake.updates[0]["button"] == {"replace_name": "已确认"}


async def test_response_code_expires_after_72_hours(fake, client):
    code = await client.send_template_card([LINA], button_card())
    fake.advance(72 * 3600 + 1)
    with pytest.raises(PermanentSendError):
        await client.update_button([LINA], code, "已确认")


async def test_notice_card_has_no_response_code(fake, client):
    card = {"card_type": "text_notice", "main_title": {"title": "SO123 已签收"},
            "card_action": {"type": 1, "url": "https://example.invalid/t/abc"}}
    assert await client.send_template_card([LINA], card) is None


@pytest.mark.parametrize("broken", [
    {"task_id": None},
    {"task_id": "带中文的任务"},
    {"button_list": []},
    {"button_list": [{"text": "确认"}]},  # a callback button needs a key
    {"main_title": {}},
    {"card_type": "button"},
])
async def test_malformed_template_cards_are_refused_permanently(fake, client, broken):
    card = {**button_card(), **broken}
    with pytest.raises(PermanentSendError):
        await client.send_template_card([LINA], card)
    assert fake.delivered() == []


async def test_task_id_cannot_be_reused(fake, client):
    await client.send_template_card([LINA], button_card("SO123-confirm-1"))
    with pytest.raises(PermanentSendError):
        await client.send_template_card([ZHANG], button_card("SO123-confirm-1"))


async def test_text_is_sent_as_utf8_not_escaped(http):
    """WeCom refuses \\uXXXX escapes (40033): the body must carry raw UTF-8."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/gettoken"):
            return httpx.Response(200, json={"errcode": 0, "access_token": "t",
                                             "expires_in": 7200})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": "m1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as mock:
        client = WeComClient(mock, "https://qyapi.example.invalid/cgi-bin/", "ww1", "s", "1000002",
                             MemoryTokenCache())
        await client.send_text([LINA], "已发货")
    send = seen[1]
    assert str(send.url) == "https://qyapi.example.invalid/cgi-bin/message/send?access_token=t"
    assert "已发货".encode() in send.content and b"\\u" not in send.content
    assert json.loads(send.content)["agentid"] == 1000002


# ---- recipients ---------------------------------------------------------------------------------

async def test_partly_invalid_recipients_still_send(fake, client):
    fake.members = {LINA}
    result = await client.send_text([LINA, "ghost"], "x")
    assert result.invalid_users == ("ghost",)
    assert [d.user for d in fake.delivered()] == [LINA]


async def test_all_recipients_invalid_is_permanent(fake, client):
    fake.members = {LINA}
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["ghost"], "x")
    assert info.value.errcode == 81013


async def test_recipient_arguments_are_checked(client):
    with pytest.raises(TypeError):
        await client.send_text(LINA, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        await client.send_text([], "x")
    with pytest.raises(ValueError, match="1000"):
        await client.send_text([f"u{i}" for i in range(1001)], "x")


# ---- errors -----------------------------------------------------------------------------------

async def test_45009_is_rate_limited_with_retry_after(fake, client):
    fake.fail("message/send", 45009, "api freq out of limit")
    with pytest.raises(RateLimited) as info:
        await client.send_text([LINA], "x")
    assert info.value.errcode == 45009 and info.value.retry_after == 60


async def test_system_busy_is_a_transient_wecom_error(fake, client):
    fake.fail("message/send", -1, "system busy")
    with pytest.raises(WeComError) as info:
        await client.send_text([LINA], "x")
    assert type(info.value) is WeComError and info.value.errcode == -1


async def test_timeout_is_unavailable_and_maybe_delivered(fake, http):
    client = make_client(fake, http, timeout=0.3)
    await client.send_text([LINA], "warm up")  # token fetched, so the stall hits message/send
    fake.stall("message/send", 1.0)
    with pytest.raises(WeComUnavailable) as info:
        await client.send_text([LINA], "x")
    assert info.value.maybe_delivered


async def test_connection_refused_is_unavailable_and_not_delivered(http):
    client = WeComClient(http, "http://127.0.0.1:9", "ww1", "s", 1, MemoryTokenCache())
    with pytest.raises(WeComUnavailable) as info:
        await client.send_text([LINA], "x")
    assert not info.value.maybe_delivered


@pytest.mark.parametrize("status", [200, 502])
async def test_garbage_answer_is_unavailable(fake, client, status):
    fake.garble("message/send", status=status)
    with pytest.raises(WeComUnavailable):
        await client.send_text([LINA], "x")


def test_errcode_mapping():
    assert isinstance(error_for(45033), RateLimited)
    for code in (40003, 40008, 40056, 44004, 45002, 48002, 60020, 81013, 93000):
        assert isinstance(error_for(code), PermanentSendError), code
    unknown = error_for(123456, "new")
    assert type(unknown) is WeComError and "123456" in str(unknown)


def test_repr_hides_the_secrets(client, fake, http):
    assert fake.secret not in repr(client)
    assert "sekrit" not in repr(GroupWebhook(http, fake.url, "sekrit"))


# ---- the per-member limit -----------------------------------------------------------------------

async def test_wecom_silently_drops_the_31st_message_a_minute(fake, http):
    """The fake behaves like WeCom: ok answers, but the 31st message never arrives."""
    client = make_client(fake, http, limiter=MemberLimiter(windows=()))
    for i in range(31):
        await client.send_text([LINA], f"#{i}")  # no error at all
    assert len(fake.delivered(LINA)) == 30
    assert [d.payload["content"] for d in fake.dropped(LINA)] == ["#30"]
    fake.advance(60)
    await client.send_text([LINA], "later")
    assert fake.delivered(LINA)[-1].payload["content"] == "later"


async def test_client_refuses_the_31st_message_instead_of_losing_it(fake, http):
    clock = Clock(fake.now())

    def tick(seconds: float) -> None:  # both clocks: the client's limiter and WeCom's window
        clock.advance(seconds)
        fake.advance(seconds)

    client = make_client(fake, http, clock=clock)
    for i in range(30):
        await client.send_text([LINA], f"#{i}")
        tick(1)
    with pytest.raises(RateLimited) as info:
        await client.send_text([LINA], "#30")
    assert info.value.scope.startswith("member:lina")
    assert info.value.retry_after == pytest.approx(30)  # the first one leaves the window at 60 s
    assert len(fake.requests("message/send")) == 30 and fake.dropped() == []
    await client.send_text([ZHANG], "another member is not affected")
    tick(30)
    await client.send_text([LINA], "#30 again")
    assert len(fake.delivered(LINA)) == 31 and fake.dropped() == []


async def test_a_multi_recipient_send_is_refused_whole_and_books_nothing(fake, http):
    clock = Clock()
    client = make_client(fake, http, clock=clock, limiter=MemberLimiter(windows=[(2, 60)]))
    await client.send_text([LINA], "1")
    await client.send_text([LINA], "2")
    with pytest.raises(RateLimited):
        await client.send_text([ZHANG, LINA], "3")
    assert client.limiter.windows[0].count(ZHANG, clock()) == 0
    await client.send_text([ZHANG], "4")  # ZHANG's slot was not used by the refused send


async def test_refused_messages_give_their_slot_back(fake, http):
    clock = Clock()
    limiter = MemberLimiter(windows=[(1, 60)], daily_quota=1)
    client = make_client(fake, http, clock=clock, limiter=limiter)
    fake.fail("message/send", 40058, "invalid parameter")
    with pytest.raises(PermanentSendError):
        await client.send_text([LINA], "bad")
    await client.send_text([LINA], "good")  # the refused one did not use the only slots


async def test_daily_app_quota_counts_recipients_until_midnight_china_time(fake, http):
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=CHINA)
    clock = Clock(noon.timestamp())
    client = make_client(fake, http, clock=clock, limiter=MemberLimiter(daily_quota=5))
    await client.send_text(["a", "b", "c"], "x")
    with pytest.raises(RateLimited) as info:
        await client.send_text(["d", "e", "f"], "x")
    assert info.value.scope == "app:day"
    assert info.value.retry_after == pytest.approx(timedelta(hours=12).total_seconds())
    await client.send_text(["d", "e"], "x")  # exactly the quota
    clock.advance(12 * 3600)
    await client.send_text(["f"], "next day")


def test_sliding_window_counts_any_60_seconds():
    w = SlidingWindow(2, 60)
    w.add("k", 0)
    w.add("k", 50)
    assert w.wait("k", 59) == pytest.approx(1)
    assert w.wait("k", 60) == 0
    w.add("k", 60)
    assert w.wait("k", 61) == pytest.approx(49)


# ---- group webhook --------------------------------------------------------------------------

@pytest.fixture
def webhook(fake, http) -> GroupWebhook:
    return GroupWebhook(http, fake.url, "fake-webhook-key")


async def test_webhook_message_shapes(fake, webhook):
    await webhook.send_text("SO123 加急", mentioned=[LINA])
    await webhook.send_markdown("**SO123** 已出库 <@lina>")
    card = {"card_type": "text_notice", "main_title": {"title": "仓库日报"},
            "card_action": {"type": 1, "url": "https://example.invalid/dashboard"}}
    await webhook.send_template_card(card)
    assert fake.webhook_messages == [
        {"msgtype": "text", "text": {"content": "SO123 加急", "mentioned_list": [LINA]}},
        {"msgtype": "markdown", "markdown": {"content": "**SO123** 已出库 <@lina>"}},
        {"msgtype": "template_card", "template_card": card},
    ]
    assert fake.requests("webhook/send")[0].query == {"key": "fake-webhook-key"}


async def test_webhook_refuses_interaction_cards(webhook):
    with pytest.raises(ValueError, match="text_notice"):
        await webhook.send_template_card(button_card())


async def test_webhook_limits_itself_to_20_a_minute(fake, http):
    clock = Clock()
    webhook = GroupWebhook(http, fake.url, "fake-webhook-key", clock=clock)
    for i in range(20):
        await webhook.send_text(f"#{i}")
    with pytest.raises(RateLimited) as info:
        await webhook.send_text("#20")
    assert info.value.scope == "webhook" and info.value.retry_after == pytest.approx(60)
    assert len(fake.requests("webhook/send")) == 20


async def test_webhook_45009_from_wecom_is_rate_limited(fake, http):
    webhook = GroupWebhook(http, fake.url, "fake-webhook-key", window=SlidingWindow(1000, 60))
    for i in range(20):
        await webhook.send_text(f"#{i}")
    with pytest.raises(RateLimited) as info:
        await webhook.send_text("#20")
    assert info.value.errcode == 45009
    assert len(fake.webhook_messages) == 20


async def test_webhook_bad_key_is_permanent(fake, http):
    webhook = GroupWebhook(http, fake.url, "revoked-key")
    with pytest.raises(PermanentSendError) as info:
        await webhook.send_text("x")
    assert info.value.errcode == 93000
    assert "revoked-key" not in str(info.value)


# ---- media/get (a member's file message) -------------------------------------------------

async def test_media_is_downloaded_with_its_file_name(fake, client):
    media_id = fake.add_media("quote.xlsx", b"PK\x03\x04sheet", "application/vnd.ms-excel")
    got = await client.get_media(media_id, max_bytes=1024)
    assert (got.filename, got.data) == ("quote.xlsx", b"PK\x03\x04sheet")
    assert fake.requests("media/get")[0].query["media_id"] == media_id


async def test_an_unknown_or_expired_media_id_is_errcode_40007(fake, client):
    with pytest.raises(WeComError) as e:
        await client.get_media("no-such-media", max_bytes=1024)
    assert e.value.errcode == 40007
    media_id = fake.add_media("a.csv", b"a,b\n")
    fake.advance(3 * 24 * 3600 + 1)  # media ids live three days
    with pytest.raises(WeComError) as e:
        await client.get_media(media_id, max_bytes=1024)
    assert e.value.errcode == 40007


async def test_media_over_the_limit_is_refused_and_a_stale_token_refetched(fake, client):
    from integrations.wecom import MediaTooLarge

    media_id = fake.add_media("big.csv", b"x" * 5000)
    with pytest.raises(MediaTooLarge):
        await client.get_media(media_id, max_bytes=4999)
    fake.expire_tokens()
    assert (await client.get_media(media_id, max_bytes=5000)).data == b"x" * 5000
    assert len(fake.requests("gettoken")) == 2
