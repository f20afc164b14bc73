"""Kuaidi100 client against the local fake: signatures, e-waybill, query, lock, push, faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from bot import config
from integrations.carriers.base import (
    SHANGHAI,
    CarrierAuthError,
    CarrierBadResponse,
    CarrierBusinessError,
    CarrierDisabled,
    CarrierRateLimited,
    CommonStatus,
    PushSignatureError,
    dedupe_sorted,
)
from integrations.carriers.kuaidi100 import Kuaidi100Client, label_sign, push_sign, query_sign
from tests.fakes import FAULT_ERRORS, out_of_order_with_duplicates, waybill_request
from tests.fakes.kuaidi100_server import (
    FakeKuaidi100,
    data_item,
    push_body,
    push_param,
    snapshot_pushes,
)

NUM = "73100196611386"
PHONE = "13800000001"
EVENTS = [
    data_item("2026-03-02 09:12:05", "【杭州市】杭州余杭仓前网点 已揽收", "浙江省杭州市", "103"),
    data_item("2026-03-02 21:40:11", "【杭州市】快件离开杭州中转部 发往上海", "浙江省杭州市",
              "1002"),
    data_item("2026-03-03 08:05:43", "【上海市】闵行网点 派件员 李四 正在派件", "上海市闵行区",
              "5"),
    data_item("2026-03-03 11:30:00", "【上海市】已签收，签收人：王师傅", "上海市闵行区", "301"),
]


class Clock:
    def __init__(self, start: float = 1_772_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def test_known_answer_vectors() -> None:
    # carriers.md §1.1, §1.4, §1.5 (self-computed vectors, recomputed here).
    assert query_sign('{"com":"yuantong","num":"YT9693083639795"}', "KEY", "CUSTOMER") == \
        "838CCFCBE96A6F37C2D16030ADF30732"
    assert push_sign('{"status":"polling","message":"","lastResult":{"state":"0"}}', "SALT") == \
        "80FA872A6050FF59BDDB6390B043D303"
    assert label_sign('{"kuaidicom":"zhongtong"}', "1700000000000", "KEY", "SECRET") == \
        "2CBF8E5C0B184D21AC4DE2C632D4D38A"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeKuaidi100:
    fake = FakeKuaidi100()
    await fake.start(aiohttp_server)
    return fake


def make_client(fake: FakeKuaidi100, http: httpx.AsyncClient, clock: Clock | None = None,
                **overrides: str) -> Kuaidi100Client:
    keys = {"key": fake.key, "customer": fake.customer, "secret": fake.secret,
            "salt": fake.salt, **overrides}
    return Kuaidi100Client(http, fake.base_url, fake.base_url, keys["key"], keys["customer"],
                           keys["secret"], keys["salt"], 1.0, company="zhongtong",
                           clock=clock or Clock())


# ---- e-waybill -------------------------------------------------------------------------

async def test_create_waybill_signs_and_returns_the_number(fake, http) -> None:
    result = await make_client(fake, http).create_waybill(waybill_request())
    assert result.waybill_no == "73100000000001"
    assert result.carrier == "zto"
    form = fake.received[-1].form()
    assert form["method"] == "order"
    assert form["sign"] == label_sign(form["param"], form["t"], fake.key, fake.secret)
    param = json.loads(form["param"])
    assert param["orderId"] == "SO202603010001-1"
    assert param["reorder"] is False
    assert param["recMan"] == {"name": "王师傅", "mobile": PHONE, "company": "闵行恒通汽修厂",
                               "printAddr": "上海市上海市闵行区申贵路1500号"}


async def test_same_order_id_gives_the_same_waybill(fake, http) -> None:
    client = make_client(fake, http)
    first = await client.create_waybill(waybill_request(seq=1))
    again = await client.create_waybill(waybill_request(seq=1))
    second_shipment = await client.create_waybill(waybill_request(seq=2))
    assert again.waybill_no == first.waybill_no
    assert second_shipment.waybill_no != first.waybill_no


async def test_wrong_secret_is_refused_with_kuaidi100s_message(fake, http) -> None:
    with pytest.raises(CarrierBusinessError, match="签名错误"):
        await make_client(fake, http, secret="WRONG").create_waybill(waybill_request())


# ---- real-time query -------------------------------------------------------------------

async def test_query_normalises_events_in_shanghai_time(fake, http) -> None:
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS)
    events = await make_client(fake, http).query([(NUM, PHONE)])
    assert [e.status for e in events] == [CommonStatus.COLLECTED, CommonStatus.IN_TRANSIT,
                                          CommonStatus.OUT_FOR_DELIVERY, CommonStatus.DELIVERED]
    assert events[0].occurred_at == datetime(2026, 3, 2, 9, 12, 5, tzinfo=SHANGHAI)
    assert events[0].occurred_at.isoformat() == "2026-03-02T09:12:05+08:00"
    assert events[-1].description == "【上海市】已签收，签收人：王师傅"
    assert events[-1].location == "上海市闵行区"
    assert {e.waybill for e in events} == {NUM}
    assert {e.carrier for e in events} == {"zto"}
    param = json.loads(fake.received[-1].form()["param"])
    assert param == {"com": "zhongtong", "num": NUM, "phone": PHONE, "resultv2": "4",
                     "order": "asc"}


async def test_a_number_without_tracking_yet_has_no_events(fake, http) -> None:
    assert await make_client(fake, http).query([("73100000009999", PHONE)]) == []


async def test_zto_number_with_the_wrong_phone_is_a_business_error(fake, http) -> None:
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS)
    with pytest.raises(CarrierBusinessError) as info:
        await make_client(fake, http).query([(NUM, "13999999999")])
    assert info.value.code == "408"
    assert info.value.message == "快递公司参数异常：验证码错误"


async def test_bad_key_is_an_auth_error(fake, http) -> None:
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS)
    with pytest.raises(CarrierAuthError, match="验证签名失败"):
        await make_client(fake, http, key="WRONG").query([(NUM, PHONE)])


async def test_client_refuses_a_second_query_within_30_minutes(fake, http) -> None:
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS)
    clock = Clock()
    client = make_client(fake, http, clock)
    await client.query([(NUM, PHONE)])
    clock.t += 10 * 60
    with pytest.raises(CarrierRateLimited, match="不足30分钟") as info:
        await client.query([(NUM, PHONE)])
    assert info.value.retry_after == pytest.approx(20 * 60)
    assert len(fake.received) == 1
    clock.t += 21 * 60
    assert len(await client.query([(NUM, PHONE)])) == 4


async def test_fake_locks_a_number_queried_twice_within_30_minutes(fake, http) -> None:
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS[:2])
    now = [1_772_000_000.0]
    fake.now = lambda: now[0]
    # Two processes, each with its own memory, poll the same number 5 minutes apart.
    await make_client(fake, http).query([(NUM, PHONE)])
    now[0] += 5 * 60
    await make_client(fake, http).query([(NUM, PHONE)])
    assert NUM in fake.locked
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS[2:])
    now[0] += 2 * 3600
    assert len(await make_client(fake, http).query([(NUM, PHONE)])) == 2  # frozen: 锁单
    now[0] += 24 * 3600
    assert len(await make_client(fake, http).query([(NUM, PHONE)])) == 4


# ---- subscribe and push ----------------------------------------------------------------

def push_client() -> Kuaidi100Client:
    """Parsing a push needs no HTTP; the client is never used to send."""
    return Kuaidi100Client(httpx.AsyncClient(), "", "", "K", "C", "S", "K100SALT")


async def test_subscribe_once_and_a_repeat_is_fine(fake, http) -> None:
    client = make_client(fake, http)
    url = "https://lvyue.example.com/carriers/kuaidi100/push"
    await client.subscribe(NUM, PHONE, url)
    await client.subscribe(NUM, PHONE, url)  # 501 重复订阅: already being tracked
    assert list(fake.subscriptions) == [NUM]
    sent = fake.subscriptions[NUM]
    assert sent["key"] == fake.key
    assert sent["parameters"]["callbackurl"] == url
    assert sent["parameters"]["salt"] == fake.salt


async def test_subscribe_with_a_bad_key_is_an_auth_error(fake, http) -> None:
    with pytest.raises(CarrierAuthError, match="不是合法的订阅者"):
        await make_client(fake, http, key="WRONG").subscribe(NUM, PHONE, "https://x/cb")


def test_push_with_good_signature_yields_events_and_the_exact_reply() -> None:
    client = push_client()
    body = push_body(push_param(NUM, "zhongtong", EVENTS), "K100SALT")
    result = client.parse_push(body, {"Content-Type": "application/x-www-form-urlencoded"}, {})
    assert [e.status for e in dedupe_sorted(result.events)][-1] is CommonStatus.DELIVERED
    assert len(result.events) == 4
    assert json.loads(result.reply_body) == {"result": True, "returnCode": "200",
                                             "message": "成功"}
    assert result.reply_content_type.startswith("application/json")
    assert result.reply_status == 200


def test_push_sign_is_compared_case_insensitively() -> None:
    client = push_client()
    param = push_param(NUM, "zhongtong", EVENTS[:1])
    body = push_body(param, "K100SALT", sign=push_sign(param, "K100SALT").lower())
    assert len(client.parse_push(body, {}, {}).events) == 1


@pytest.mark.parametrize("body", [
    push_body(push_param(NUM, "zhongtong", EVENTS), "OTHER_SALT"),
    push_body(push_param(NUM, "zhongtong", EVENTS), "K100SALT", sign=""),
    b"param=&sign=",
    b"\xff\xfe not a form",
])
def test_push_with_bad_signature_is_refused(body: bytes) -> None:
    client = push_client()
    with pytest.raises(PushSignatureError):
        client.parse_push(body, {}, {})


@pytest.mark.parametrize("param", [
    '{"status":"polling"}',
    '{"status":"polling","lastResult":[]}',
    '{"status":"polling","lastResult":{"nu":"1","data":[{"context":"no time"}]}}',
    '{"status":"polling","lastResult":{"nu":"1","data":"none"}}',
    "not json",
])
def test_signed_but_garbled_push_is_a_bad_response(param: str) -> None:
    with pytest.raises(CarrierBadResponse):
        push_client().parse_push(push_body(param, "K100SALT"), {}, {})


def test_duplicated_and_out_of_order_pushes_settle_to_the_full_history() -> None:
    client = push_client()
    pushes = out_of_order_with_duplicates(snapshot_pushes(NUM, "zhongtong", EVENTS, "K100SALT"))
    events = [e for body in pushes for e in client.parse_push(body, {}, {}).events]
    history = dedupe_sorted(events)
    assert len(events) > len(history) == 4
    assert [e.status for e in history] == [CommonStatus.COLLECTED, CommonStatus.IN_TRANSIT,
                                           CommonStatus.OUT_FOR_DELIVERY, CommonStatus.DELIVERED]


# ---- faults ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "error"), FAULT_ERRORS.items())
async def test_faults_become_typed_errors(fake, http, fault: str, error: type) -> None:
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS)
    fake.fail(fault)
    with pytest.raises(error):
        await make_client(fake, http).query([(NUM, PHONE)])


async def test_business_error_carries_kuaidi100s_own_message(fake, http) -> None:
    fake.fail("business")
    with pytest.raises(CarrierBusinessError) as info:
        await make_client(fake, http).create_waybill(waybill_request())
    assert info.value.message == "电子面单余额不足，请充值"
    assert info.value.code == "30003"


async def test_rate_limit_keeps_retry_after(fake, http) -> None:
    fake.fail("rate_limit")
    with pytest.raises(CarrierRateLimited) as info:
        await make_client(fake, http).create_waybill(waybill_request())
    assert info.value.retry_after == 60


async def test_without_keys_kuaidi100_is_disabled_and_says_so(http) -> None:
    settings = config.defaults({"KUAIDI100_KEY": "k", "KUAIDI100_CUSTOMER": "c"})
    with pytest.raises(CarrierDisabled, match="快递100未配置密钥") as info:
        Kuaidi100Client.from_settings(settings, http)
    assert info.value.missing == ("KUAIDI100_SECRET", "KUAIDI100_SALT")


async def test_from_settings_uses_configured_bases(fake, http) -> None:
    fake.add_track(NUM, "zhongtong", PHONE, *EVENTS)
    settings = config.defaults({"KUAIDI100_KEY": fake.key, "KUAIDI100_CUSTOMER": fake.customer,
                                "KUAIDI100_SECRET": fake.secret, "KUAIDI100_SALT": fake.salt,
                                "KUAIDI100_POLL_BASE": fake.base_url,
                                "KUAIDI100_API_BASE": fake.base_url})
    client = Kuaidi100Client.from_settings(settings, http, timeout=0.5)
    assert len(await client.query([(NUM, PHONE)])) == 4
