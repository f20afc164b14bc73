"""Property-based fuzzing of what the internet posts to the public listener, on SQLite and
PostgreSQL: WeCom callbacks properly encrypted and signed around random content (so the
fuzz reaches past the crypto, into parsing and dispatch), garbage envelopes, and carrier
pushes correctly signed around random tracking data. Never a 5xx, never a traceback in the
log, and a refused callback or push writes nothing."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from bot.app import build
from bot.config import Secret, Settings
from handlers.keys import SERVICE
from integrations.carriers.sf import push_token
from integrations.wecom_crypto import AppCrypto, BotCrypto
from storage.chat_models import ChatCard
from storage.models import Shipment
from storage.tracking_models import TrackingEventRow
from storage.wecom_models import SeenCallback
from tests.fakes import kuaidi100_server as k100
from tests.fakes import zto_server as zto
from tests.fakes.wecom_server import FakeWeCom
from tests.fuzz.budget import budget
from tests.handlers.test_api import footprint
from tests.handlers.test_carrier_push import ship
from tests.handlers.test_wecom_callback import AES, BOT_AES, BOT_TOKEN, TOKEN

NOWHERE = "http://127.0.0.1:9"
CARRIER_ENV = {
    "KUAIDI100_KEY": "K100KEY", "KUAIDI100_CUSTOMER": "K100CUSTOMER",
    "KUAIDI100_SECRET": "K100SECRET", "KUAIDI100_SALT": "K100SALT",
    "KUAIDI100_POLL_BASE": NOWHERE, "KUAIDI100_API_BASE": NOWHERE,
    "SF_PARTNER_ID": "LVYUE_TEST", "SF_CHECKWORD": "CHECKWORD_TEST", "SF_API_BASE": NOWHERE,
    "ZTO_APP_KEY": "ZTO_TEST_KEY", "ZTO_APP_SECRET": "ZTO_TEST_SECRET", "ZTO_API_BASE": NOWHERE,
}
WAYBILLS = ("73100196611386", "SF1234567890123")

# Any text at all, the hostile kinds made likely: NUL, lone surrogates, controls, long runs.
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(["\x00", "\ud800", "\udfff", "\x07", "]]>", "<", "&", "杭", "a",
                              " ", "\n"]), max_size=40).map("".join),
    st.sampled_from(["x" * 65, "杭" * 129, "杭" * 501, "杭" * 8193]),  # just past each limit
)


def utf8(text: str) -> str:
    """What can travel as UTF-8 text (a form field): lone surrogates become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
SOMETIMES = st.one_of(st.none(), HOSTILE, st.integers(), st.sampled_from(["", "zhangwei"]))


async def _quiet_traceback_free(caplog: pytest.LogCaptureFixture) -> None:
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


# ---- WeCom --------------------------------------------------------------------------------

@pytest.fixture
async def wecom(world: Any, settings: Settings, aiohttp_client: Any
                ) -> AsyncIterator[tuple[TestClient, FakeWeCom]]:
    async with FakeWeCom() as fake:
        env = {"WECOM_CORP_ID": fake.corp_id, "WECOM_AGENT_ID": str(fake.agent_id),
               "WECOM_SECRET": fake.secret, "WECOM_TOKEN": TOKEN, "WECOM_AES_KEY": AES,
               "WECOM_API_BASE": fake.url, "WECOM_BOT_TOKEN": BOT_TOKEN,
               "WECOM_BOT_AES_KEY": BOT_AES}
        app = build(replace(settings, env={k: Secret(v) for k, v in env.items()}),
                    manage_db=False)
        yield await aiohttp_client(app), fake


async def _written() -> tuple[Any, ...]:
    return (await footprint(), await SeenCallback.all().count(), await ChatCard.all().count())


def _cdata(value: Any) -> str:
    return "" if value is None else f"<![CDATA[{value}]]>"


@st.composite
def app_messages(draw: st.DrawFn) -> str:
    """A decrypted app callback: known message kinds with random fields, or random XML."""
    fields = {"ToUserName": draw(SOMETIMES), "FromUserName": draw(SOMETIMES),
              "CreateTime": draw(st.one_of(st.integers(), HOSTILE)),
              "MsgType": draw(st.one_of(st.sampled_from(["text", "event", "image"]), HOSTILE)),
              "Content": draw(SOMETIMES), "MsgId": draw(SOMETIMES),
              "Event": draw(st.one_of(st.just("template_card_event"), SOMETIMES)),
              "EventKey": draw(SOMETIMES), "TaskId": draw(SOMETIMES),
              "ResponseCode": draw(SOMETIMES)}
    inner = "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in fields.items() if v is not None)
    return draw(st.one_of(st.just(f"<xml>{inner}</xml>"), HOSTILE))


@st.composite
def robot_messages(draw: st.DrawFn) -> str:
    """A decrypted robot callback: JSON messages with random fields, or any JSON at all."""
    msg = {"msgid": draw(SOMETIMES), "aibotid": draw(SOMETIMES), "chatid": draw(SOMETIMES),
           "chattype": draw(st.one_of(st.sampled_from(["group", "single"]), SOMETIMES)),
           "from": draw(st.one_of(st.fixed_dictionaries({"userid": SOMETIMES}), SOMETIMES)),
           "msgtype": draw(st.one_of(st.sampled_from(["text", "event"]), SOMETIMES)),
           "text": draw(st.one_of(st.fixed_dictionaries({"content": SOMETIMES}), SOMETIMES)),
           "event": draw(st.one_of(st.fixed_dictionaries({
               "eventtype": st.one_of(st.just("template_card_event"), SOMETIMES),
               "template_card_event": st.fixed_dictionaries({"event_key": SOMETIMES,
                                                             "task_id": SOMETIMES})}),
               SOMETIMES))}
    anything = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), HOSTILE),
                            lambda kids: st.lists(kids, max_size=3)
                            | st.dictionaries(HOSTILE, kids, max_size=3), max_leaves=8)
    return json.dumps(draw(st.one_of(st.just(msg), anything)))


def _app_envelope(fake: FakeWeCom, plain: str) -> tuple[bytes, dict[str, str]]:
    plain = utf8(plain)  # XML cannot carry a lone surrogate (JSON can, as \ud800)
    enc, sig, ts = AppCrypto(TOKEN, AES, fake.corp_id).seal(plain, "n0nce", str(int(time.time())))
    body = f"<xml><ToUserName>{fake.corp_id}</ToUserName><Encrypt>{enc}</Encrypt></xml>"
    return body.encode(), {"msg_signature": sig, "timestamp": ts, "nonce": "n0nce"}


def _bot_envelope(plain: str) -> tuple[bytes, dict[str, str]]:
    enc, sig, ts = BotCrypto(BOT_TOKEN, BOT_AES).seal(plain, "bn", str(int(time.time())))
    return json.dumps({"encrypt": enc}).encode(), {"msg_signature": sig, "timestamp": ts,
                                                   "nonce": "bn"}


async def _deliver(client: TestClient, path: str, envelope: tuple[bytes, dict[str, str]],
                   raw: bytes | None, caplog: pytest.LogCaptureFixture) -> None:
    """Post a signed envelope (or `raw`, a garbage one): never a 5xx or a traceback, and a
    refused callback writes nothing."""
    body, query = envelope
    before = await _written()

    async with client.post(path, params=query, data=body if raw is None else raw) as resp:
        status = resp.status

    assert status < 500
    if status >= 400:
        assert await _written() == before
    await _quiet_traceback_free(caplog)


GARBAGE = st.one_of(st.none(), st.binary(max_size=300))


@budget(60)
@given(plain=app_messages(), raw=GARBAGE)
async def test_app_callbacks_with_random_content(wecom, caplog, plain, raw):
    client, fake = wecom
    await _deliver(client, "/wecom/callback", _app_envelope(fake, plain), raw, caplog)


@budget(60)
@given(plain=robot_messages(), raw=GARBAGE)
async def test_robot_callbacks_with_random_content(wecom, caplog, plain, raw):
    client, _ = wecom
    await _deliver(client, "/wecom/aibot", _bot_envelope(plain), raw, caplog)


# ---- carrier pushes ---------------------------------------------------------------------

@pytest.fixture
async def carriers(world: Any, settings: Settings, aiohttp_client: Any) -> TestClient:
    app = build(replace(settings, env={k: Secret(v) for k, v in CARRIER_ENV.items()}),
                manage_db=False)
    client = await aiohttp_client(app)
    for waybill in WAYBILLS:  # pushes for these reach real shipments
        _, number = await ship(app[SERVICE])
        assert await Shipment.filter(waybill_no=number).update(waybill_no=waybill) == 1
    return client


WAYBILL = st.one_of(st.sampled_from(WAYBILLS), HOSTILE)
TIMES = st.one_of(st.just("2026-03-02 09:12:05"), HOSTILE)


@st.composite
def kuaidi100_push(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    items = draw(st.lists(st.fixed_dictionaries({
        "time": TIMES, "ftime": TIMES, "context": HOSTILE, "location": HOSTILE,
        "areaName": HOSTILE, "status": HOSTILE,
        "statusCode": st.one_of(st.sampled_from(["1", "103", "5", "301", "0"]), HOSTILE)}),
        max_size=4))
    param = json.dumps({"status": draw(st.one_of(st.just("polling"), HOSTILE)),
                        "lastResult": {"nu": draw(WAYBILL), "com": draw(HOSTILE),
                                       "state": draw(HOSTILE), "data": items}})
    param = draw(st.one_of(st.just(param), HOSTILE.map(utf8)))
    body = k100.push_body(param, "K100SALT")
    return "/carriers/kuaidi100/push", body, {
        "Content-Type": "application/x-www-form-urlencoded"}


@st.composite
def sf_push(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    routes = draw(st.lists(st.fixed_dictionaries({
        "id": HOSTILE, "mailno": WAYBILL, "orderid": HOSTILE, "acceptTime": TIMES,
        "acceptAddress": HOSTILE, "remark": HOSTILE,
        "opCode": st.one_of(st.sampled_from(["50", "30", "44", "80"]), HOSTILE)}), max_size=4))
    # sf.push_body's shape, with \u escapes so a lone surrogate can travel (JSON allows it)
    signed = json.dumps({"Body": {"WaybillRoute": routes}}).encode()
    body = draw(st.one_of(st.just(signed), st.binary(max_size=200)))
    path = f"/carriers/sf/push?token={push_token('LVYUE_TEST', 'CHECKWORD_TEST')}"
    return path, body, {"Content-Type": "application/json"}


@st.composite
def zto_push(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    data = {"billCode": draw(WAYBILL), "actionTime": draw(TIMES), "city": draw(HOSTILE),
            "action": draw(st.one_of(st.sampled_from(["GOT", "SIGNED", "DISPATCH"]), HOSTILE)),
            "facilityName": draw(HOSTILE), "desc": draw(HOSTILE)}
    text = draw(st.one_of(st.just(json.dumps(data)), HOSTILE.map(utf8)))
    body = zto.push_body(text, "ZTO_TEST_KEY", "ZTO_TEST_SECRET")
    return "/carriers/zto/push", body, {"Content-Type": "application/x-www-form-urlencoded"}


@budget(90)
@given(push=st.one_of(kuaidi100_push(), sf_push(), zto_push()))
async def test_signed_carrier_pushes_with_random_content(carriers, caplog, push):
    path, body, headers = push
    before = await TrackingEventRow.all().count()

    async with carriers.post(path, data=body, headers=headers) as resp:
        status, ctype = resp.status, resp.content_type

    assert status < 500, (path, body[:300])
    if status >= 400:
        assert ctype == "application/problem+json"
        assert await TrackingEventRow.all().count() == before
    await _quiet_traceback_free(caplog)
