"""ZTO client against the local fake: x-dataDigest, create order, track query, push, faults."""

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
    CarrierDuplicateOrder,
    CommonStatus,
    PushSignatureError,
    dedupe_sorted,
)
from integrations.carriers.zto import ZtoClient, data_digest
from tests.fakes import FAULT_ERRORS, waybill_request
from tests.fakes.zto_server import FakeZto, push_body, scan, trace

# Public sandbox credentials and two pushes logged verbatim in carriers.md's ZTO-notes.
SANDBOX_KEY, SANDBOX_SECRET = "72089d3deb0ae445cdd35", "11109419708e0cc91fd0a1b9369d64c4"
ARRIVAL = ('{"billCode":"73100196611386","facilityCode":"37131","actionTime":"2025-05-22 '
           '15:07:46","city":"郑州市","action":"ARRIVAL","facilityName":"郑州高新区","desc":'
           '"【郑州市】快件已到达【郑州高新区】"}')
GOT = ('{"billCode":"73100196611386","facilityCode":"02191","actionTime":"2025-05-22 15:06:35",'
       '"facilityContactPhone":"15712345741","city":"上海市","courier":"张三","action":"GOT",'
       '"courierPhone":"021-60556935、021-60556935","facilityName":"青浦华新","desc":"【上海市】'
       '【青浦华新】(021-60556935、021-60556935)的业务员张三(15712345741)已揽收"}')
BILL = "73100196611386"
PHONE = "13800000001"


def test_known_answer_vectors_from_the_sandbox_log() -> None:
    assert data_digest(ARRIVAL, SANDBOX_SECRET) == "dyCx2odSAY4Y7dGu6mDmSQ=="
    assert data_digest(GOT, SANDBOX_SECRET) == "IjrMHQntv0cBopxcxVXD+g=="


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeZto:
    fake = FakeZto()
    await fake.start(aiohttp_server)
    return fake


def make_client(fake: FakeZto, http: httpx.AsyncClient, *, secret: str | None = None,
                account: tuple[str, str] = ("", "")) -> ZtoClient:
    return ZtoClient(http, fake.base_url, fake.app_key, secret or fake.app_secret, 1.0,
                     account_id=account[0], account_password=account[1])


# ---- create order ----------------------------------------------------------------------

async def test_create_order_signs_the_body_and_returns_the_bill_code(fake, http) -> None:
    result = await make_client(fake, http).create_waybill(waybill_request())
    assert result.waybill_no == "73100000000001"
    assert result.raw["bigMarkInfo"] == {"mark": "300- H12 09", "bagAddr": "沪西"}
    sent = fake.received[-1]
    assert sent.path == "/zto.open.createOrder"
    assert sent.headers["x-appKey"] == fake.app_key
    assert sent.headers["x-dataDigest"] == data_digest(sent.body.decode(), fake.app_secret)
    body = sent.json()
    assert (body["partnerType"], body["orderType"]) == ("2", "2")  # 预约件: no account
    assert body["partnerOrderCode"] == "SO202603010001-1"
    assert body["receiveInfo"]["receiverDistrict"] == "闵行区"
    assert body["orderItems"][0]["weight"] == 12500  # grams


async def test_with_an_e_waybill_account_the_order_is_a_network_order(fake, http) -> None:
    await make_client(fake, http, account=("test", "ZTO123")).create_waybill(waybill_request())
    body = fake.received[-1].json()
    assert body["orderType"] == "1"
    assert body["accountInfo"] == {"accountId": "test", "accountPassword": "ZTO123", "type": 1}


async def test_wrong_e_waybill_account_is_ztos_business_error(fake, http) -> None:
    client = make_client(fake, http, account=("test", "WRONG"))
    with pytest.raises(CarrierBusinessError) as info:
        await client.create_waybill(waybill_request())
    assert (info.value.code, info.value.message) == ("E404", "鉴权失败,未绑定电子面单账号")


async def test_reused_order_id_is_a_duplicate_order_error(fake, http) -> None:
    client = make_client(fake, http)
    await client.create_waybill(waybill_request())
    with pytest.raises(CarrierDuplicateOrder) as info:
        await client.create_waybill(waybill_request())
    assert info.value.message == "合作商订单号重复，请勿重复下单"
    assert len(fake.orders) == 1


async def test_wrong_secret_is_an_auth_error(fake, http) -> None:
    with pytest.raises(CarrierAuthError, match="签名错误") as info:
        await make_client(fake, http, secret="WRONG").create_waybill(waybill_request())
    assert info.value.code == "S211"


# ---- track query and subscribe ---------------------------------------------------------

async def test_track_query_normalises_scans_in_shanghai_time(fake, http) -> None:
    fake.add_scans(
        BILL, PHONE,
        scan(BILL, "收件", "2026-03-02 09:00:01", "【杭州市】余杭仓前 已揽收", "杭州市"),
        scan(BILL, "发件", "2026-03-02 20:15:00", "【杭州市】快件离开 发往上海", "杭州市"),
        scan(BILL, "到件", "2026-03-03 04:40:22", "【上海市】快件到达 上海闵行", "上海市"),
        scan(BILL, "派件", "2026-03-03 08:02:10", "【上海市】正在派件", "上海市"),
        scan(BILL, "签收", "2026-03-03 11:20:45", "【上海市】已签收", "上海市"))
    events = await make_client(fake, http).query([(BILL, PHONE)])
    assert [e.status for e in events] == [
        CommonStatus.COLLECTED, CommonStatus.IN_TRANSIT, CommonStatus.IN_TRANSIT,
        CommonStatus.OUT_FOR_DELIVERY, CommonStatus.DELIVERED]
    assert events[0].occurred_at == datetime(2026, 3, 2, 9, 0, 1, tzinfo=SHANGHAI)
    assert events[0].location == "杭州市"
    assert fake.received[-1].json() == {"billCode": BILL, "mobilePhone": "0001"}


async def test_track_query_without_a_phone_is_refused_by_zto(fake, http) -> None:
    with pytest.raises(CarrierBusinessError) as info:
        await make_client(fake, http).query([(BILL, None)])
    assert info.value.code == "E413"


async def test_subscribe_uses_ztos_spelling(fake, http) -> None:
    await make_client(fake, http).subscribe(BILL, PHONE)
    assert fake.received[-1].path == "/zto.merchant.waybill.track.subsrcibe"
    assert fake.subscriptions == [{"billCode": BILL, "mobilePhone": "0001"}]


# ---- push ------------------------------------------------------------------------------

def sandbox_client() -> ZtoClient:
    return ZtoClient(httpx.AsyncClient(), "https://zto.invalid", SANDBOX_KEY, SANDBOX_SECRET)


def test_the_logged_sandbox_push_verifies_and_yields_the_event() -> None:
    body = push_body(ARRIVAL, SANDBOX_KEY, SANDBOX_SECRET, data_digest="dyCx2odSAY4Y7dGu6mDmSQ==")
    result = sandbox_client().parse_push(body, {}, {})
    (event,) = result.events
    assert (event.waybill, event.status, event.location) == (BILL, CommonStatus.IN_TRANSIT,
                                                             "郑州市")
    assert event.occurred_at.isoformat() == "2025-05-22T15:07:46+08:00"
    assert json.loads(result.reply_body)["status"] is True
    assert result.reply_content_type.startswith("application/json")


@pytest.mark.parametrize("body", [
    push_body(ARRIVAL, SANDBOX_KEY, SANDBOX_SECRET, data_digest="IjrMHQntv0cBopxcxVXD+g=="),
    push_body(ARRIVAL, SANDBOX_KEY, "another-secret"),
    push_body(ARRIVAL, "someone-else", SANDBOX_SECRET),
    b"data=&data_digest=&msg_type=Traces",
])
def test_push_with_a_bad_digest_is_refused(body: bytes) -> None:
    with pytest.raises(PushSignatureError):
        sandbox_client().parse_push(body, {}, {})


def test_signed_but_garbled_push_is_a_bad_response() -> None:
    with pytest.raises(CarrierBadResponse):
        sandbox_client().parse_push(push_body("not json", SANDBOX_KEY, SANDBOX_SECRET), {}, {})


def test_the_sandbox_sequence_out_of_order_and_duplicated_settles() -> None:
    """Arrival order as logged in the ZTO sandbox: SIGNED first, GOT twice, then the rest."""
    arrivals = [
        trace(BILL, "SIGNED", "2025-05-22 15:08:06", "【郑州市】快件已由【王五】签收", "郑州市"),
        trace(BILL, "ARRIVAL", "2025-05-22 15:07:46", "【郑州市】快件已到达郑州高新区", "郑州市"),
        trace(BILL, "GOT", "2025-05-22 15:06:35", "【上海市】【青浦华新】已揽收", "上海市"),
        trace(BILL, "GOT", "2025-05-22 15:06:35", "【上海市】【青浦华新】已揽收", "上海市"),
        trace(BILL, "DEPARTURE", "2025-05-22 15:07:42", "【上海市】快件离开青浦华新", "上海市"),
        trace(BILL, "DISPATCH", "2025-05-22 15:07:50", "【郑州市】正在派件", "郑州市"),
        trace(BILL, "SIGNED", "2025-05-22 15:08:06", "【郑州市】快件已由【王五】签收", "郑州市"),
    ]
    client = sandbox_client()
    events = [e for data in arrivals for e in
              client.parse_push(push_body(data, SANDBOX_KEY, SANDBOX_SECRET), {}, {}).events]
    history = dedupe_sorted(events)
    assert [e.status for e in history] == [
        CommonStatus.COLLECTED, CommonStatus.IN_TRANSIT, CommonStatus.IN_TRANSIT,
        CommonStatus.OUT_FOR_DELIVERY, CommonStatus.DELIVERED]
    assert history[-1].occurred_at.isoformat() == "2025-05-22T15:08:06+08:00"


# ---- faults ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "error"), FAULT_ERRORS.items())
async def test_faults_become_typed_errors(fake, http, fault: str, error: type) -> None:
    fake.fail(fault)
    with pytest.raises(error):
        await make_client(fake, http).query([(BILL, PHONE)])


async def test_business_error_carries_ztos_own_message(fake, http) -> None:
    fake.fail("business")
    with pytest.raises(CarrierBusinessError) as info:
        await make_client(fake, http).create_waybill(waybill_request())
    assert (info.value.code, info.value.message) == ("E418", "鉴权失败,不存在对应的网点授权")


async def test_without_keys_zto_is_disabled_and_says_so(http) -> None:
    with pytest.raises(CarrierDisabled, match="中通未配置密钥：ZTO_APP_KEY, ZTO_APP_SECRET"):
        ZtoClient.from_settings(config.defaults({}), http)


async def test_from_settings_reads_the_base(fake, http) -> None:
    settings = config.defaults({"ZTO_APP_KEY": fake.app_key, "ZTO_APP_SECRET": fake.app_secret,
                                "ZTO_API_BASE": fake.base_url})
    result = await ZtoClient.from_settings(settings, http).create_waybill(waybill_request())
    assert result.waybill_no.startswith("7310")
