"""WeChatOAClient against the fake official account API (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest

from integrations.wechat_oa import (
    CHINA,
    PermanentSendError,
    RateLimited,
    TokenExpired,
    WeChatError,
    WeChatOAClient,
    WeChatUnavailable,
    seconds_to_china_midnight,
)
from integrations.wecom import MemoryTokenCache
from tests.fakes.wechat_oa_server import FakeWeChatOA

OPENID = "oWx_customer_0001"
TPL = "TPL_ORDER_STATUS"
DATA = {"character_string1": "SO20261125001", "thing2": "顺丰速运"}


class Clock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake():
    async with FakeWeChatOA(followers={OPENID, "oRefuser"}, refused={"oRefuser"}) as server:
        yield server


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def client(fake: FakeWeChatOA, http: httpx.AsyncClient, **kw) -> WeChatOAClient:
    return WeChatOAClient(http, fake.url, fake.app_id, fake.secret, MemoryTokenCache(), **kw)


async def test_sends_a_template_message(fake: FakeWeChatOA, http: httpx.AsyncClient) -> None:
    msgid = await client(fake, http).send_template(
        OPENID, TPL, DATA, url="https://lvyue.example/t/abc", client_msg_id="c1")
    [sent] = fake.sent
    assert msgid == str(sent.msgid)
    assert (sent.openid, sent.template_id, sent.url, sent.client_msg_id) == (
        OPENID, TPL, "https://lvyue.example/t/abc", "c1")
    assert sent.data == DATA


async def test_token_is_cached(fake: FakeWeChatOA, http: httpx.AsyncClient) -> None:
    c = client(fake, http)
    for _ in range(3):
        await c.send_template(OPENID, TPL, DATA)
    assert fake.token_requests == 1


async def test_concurrent_first_calls_fetch_one_token(fake: FakeWeChatOA,
                                                      http: httpx.AsyncClient) -> None:
    c = client(fake, http)
    await asyncio.gather(*(c.send_template(OPENID, TPL, DATA) for _ in range(10)))
    assert fake.token_requests == 1 and len(fake.sent) == 10


async def test_expired_token_is_refetched_once(fake: FakeWeChatOA, http: httpx.AsyncClient
                                               ) -> None:
    c = client(fake, http)
    await c.send_template(OPENID, TPL, DATA)
    fake.expire_tokens()  # the server says 42001 before our cache thinks so
    await c.send_template(OPENID, TPL, DATA)
    assert fake.token_requests == 2 and len(fake.sent) == 2


async def test_token_refused_twice_is_token_expired(fake: FakeWeChatOA, http: httpx.AsyncClient
                                                    ) -> None:
    fake.fail(40001, times=2)
    with pytest.raises(TokenExpired):
        await client(fake, http).send_template(OPENID, TPL, DATA)


async def test_proactive_refresh_before_expiry(fake: FakeWeChatOA, http: httpx.AsyncClient
                                               ) -> None:
    clock = Clock()
    c = client(fake, http, clock=clock)
    await c.send_template(OPENID, TPL, DATA)
    clock.now += 7200 - 299  # inside the 300 s margin
    await c.send_template(OPENID, TPL, DATA)
    assert fake.token_requests == 2


async def test_wrong_secret_is_permanent(fake: FakeWeChatOA, http: httpx.AsyncClient) -> None:
    c = WeChatOAClient(http, fake.url, fake.app_id, "wrong", MemoryTokenCache())
    with pytest.raises(PermanentSendError) as err:
        await c.send_template(OPENID, TPL, DATA)
    assert err.value.errcode == 40001


@pytest.mark.parametrize(("openid", "template", "errcode", "reason"), [
    ("oRefuser", TPL, 43101, "用户拒收公众号消息（43101）"),
    ("oStranger", TPL, 40003, "openid无效（非本公众号粉丝）（40003）"),
    (OPENID, "TPL_REVOKED", 40037, "模板ID无效（40037）"),
])
async def test_permanent_errors(fake: FakeWeChatOA, http: httpx.AsyncClient, openid: str,
                                template: str, errcode: int, reason: str) -> None:
    with pytest.raises(PermanentSendError) as err:
        await client(fake, http).send_template(openid, template, DATA)
    assert err.value.errcode == errcode and err.value.reason == reason
    assert fake.sent == []


async def test_daily_quota_waits_until_china_midnight(http: httpx.AsyncClient) -> None:
    async with FakeWeChatOA(daily_quota=1) as fake:
        c = client(fake, http)
        await c.send_template(OPENID, TPL, DATA)
        with pytest.raises(RateLimited) as err:
            await c.send_template(OPENID, TPL, DATA)
    assert err.value.errcode == 45009 and 60 <= err.value.retry_after <= 86400


def test_seconds_to_china_midnight() -> None:
    at = datetime(2026, 11, 25, 23, 0, tzinfo=CHINA).timestamp()
    assert seconds_to_china_midnight(at) == 3600


async def test_system_busy_is_transient(fake: FakeWeChatOA, http: httpx.AsyncClient) -> None:
    fake.fail(-1)
    with pytest.raises(WeChatError) as err:
        await client(fake, http).send_template(OPENID, TPL, DATA)
    assert type(err.value) is WeChatError and err.value.errcode == -1


async def test_timeout_may_have_delivered(fake: FakeWeChatOA, http: httpx.AsyncClient) -> None:
    c = client(fake, http, timeout=0.2)
    await c.send_template(OPENID, TPL, DATA)  # token first
    fake.stall(1.0)
    with pytest.raises(WeChatUnavailable) as err:
        await c.send_template(OPENID, TPL, DATA, client_msg_id="c-timeout")
    assert err.value.maybe_delivered
    # the resend with the same client_msg_id is absorbed by WeChat: one message, not two
    await c.send_template(OPENID, TPL, DATA, client_msg_id="c-timeout")
    assert fake.per_client_msg_id()["c-timeout"] == 1 and fake.suppressed["c-timeout"] == 1


async def test_garbage_answer_is_unavailable(fake: FakeWeChatOA, http: httpx.AsyncClient) -> None:
    c = client(fake, http)
    await c.send_template(OPENID, TPL, DATA)
    fake.garble()
    with pytest.raises(WeChatUnavailable, match="HTTP 502"):
        await c.send_template(OPENID, TPL, DATA)


async def test_unreachable_server_was_not_delivered(http: httpx.AsyncClient) -> None:
    c = WeChatOAClient(http, "http://127.0.0.1:9", "wx", "s", MemoryTokenCache())
    with pytest.raises(WeChatUnavailable) as err:
        await c.send_template(OPENID, TPL, DATA)
    assert not err.value.maybe_delivered


async def test_bad_data_is_rejected_by_the_fake(fake: FakeWeChatOA, http: httpx.AsyncClient
                                                ) -> None:
    c = client(fake, http)
    with pytest.raises(PermanentSendError) as err:
        await c.call("message/template/send", {"touser": OPENID, "template_id": TPL,
                                               "data": {"k": "not an object"}})
    assert err.value.errcode == 47003


def test_repr_hides_the_secret(http: httpx.AsyncClient) -> None:
    c = WeChatOAClient(http, "", "wx123", "very-secret")
    assert "very-secret" not in repr(c) and "wx123" in repr(c)
