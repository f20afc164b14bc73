"""SF client against the local fake: msgDigest, create order, route query, route push, faults."""

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
    CarrierUnavailable,
    CommonStatus,
    PushSignatureError,
    dedupe_sorted,
)
from integrations.carriers.sf import SfClient, java_urlencode, msg_digest
from tests.fakes import FAULT_ERRORS, out_of_order_with_duplicates, waybill_request
from tests.fakes.sf_server import FakeSf, push_body, route

CARD = "7551234567"  # SF's sandbox monthly card
MAILNO = "SF1234567890123"
ROUTES = [
    route(1001, MAILNO, "SO202603010001-1", "2026-03-02 10:02:11", "50", "顺丰速运 已收取快件",
          "杭州市"),
    route(1002, MAILNO, "SO202603010001-1", "2026-03-02 19:40:00", "30", "快件已发车", "杭州市"),
    route(1003, MAILNO, "SO202603010001-1", "2026-03-03 05:12:31", "31",
          "快件到达 【上海闵行集散点】", "上海市"),
    route(1004, MAILNO, "SO202603010001-1", "2026-03-03 08:30:02", "44",
          "快件交给李四，正在派送途中", "上海市"),
    route(1005, MAILNO, "SO202603010001-1", "2026-03-03 10:45:19", "80", "已签收,感谢使用顺丰",
          "上海市"),
]


def test_known_answer_vector_and_java_urlencoding() -> None:
    # carriers.md §2.2 [VERIFIED-LOCAL]: the SF doc's own example.
    assert msg_digest('{"language":"zh-CN","orderId":"QIAO-20200618-004"}', "12312334453453",
                      "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci") == "IIKJtuLVzoFTu4kHI8M8vA=="
    assert java_urlencode("a b*c~d-e_f.g") == "a+b*c%7Ed-e_f.g"
    assert java_urlencode("杭州") == "%E6%9D%AD%E5%B7%9E"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeSf:
    fake = FakeSf()
    await fake.start(aiohttp_server)
    return fake


def make_client(fake: FakeSf, http: httpx.AsyncClient, *, checkword: str | None = None,
                card: str = CARD) -> SfClient:
    return SfClient(http, fake.base_url, fake.partner_id, checkword or fake.checkword, card,
                    1.0)


# ---- create order ----------------------------------------------------------------------

async def test_create_order_sends_the_signed_envelope_and_returns_the_waybill(fake, http
                                                                              ) -> None:
    result = await make_client(fake, http).create_waybill(waybill_request())
    assert result.waybill_no == "SF0000000000001"
    assert result.carrier == "sf"
    form = fake.received[-1].form()
    assert form["serviceCode"] == "EXP_RECE_CREATE_ORDER"
    assert form["partnerID"] == fake.partner_id
    assert len(form["timestamp"]) == 13  # milliseconds, as SF's doc examples
    assert form["msgDigest"] == msg_digest(form["msgData"], form["timestamp"], fake.checkword)
    msg = json.loads(form["msgData"])
    assert msg["orderId"] == "SO202603010001-1"
    assert msg["monthlyCard"] == CARD
    assert msg["parcelQty"] == 2
    sender, receiver = msg["contactInfoList"]
    assert (sender["contactType"], sender["province"], sender["county"]) == (1, "浙江省", "余杭区")
    assert (receiver["contactType"], receiver["contact"], receiver["mobile"]) == \
        (2, "王师傅", "13800000001")


async def test_reusing_the_order_id_returns_the_first_waybill(fake, http) -> None:
    client = make_client(fake, http)
    first = await client.create_waybill(waybill_request())
    again = await client.create_waybill(waybill_request())
    assert again.waybill_no == first.waybill_no
    assert len(fake.orders) == 1


async def test_duplicate_order_8016_is_looked_up_not_refused(fake, http) -> None:
    client = make_client(fake, http)
    first = await client.create_waybill(waybill_request())
    fake.duplicate_policy = "8016"
    again = await client.create_waybill(waybill_request())
    assert again.waybill_no == first.waybill_no
    services = [r.form()["serviceCode"] for r in fake.received]
    assert services == ["EXP_RECE_CREATE_ORDER", "EXP_RECE_CREATE_ORDER",
                        "EXP_RECE_SEARCH_ORDER_RESP"]


async def test_bad_monthly_card_is_sfs_own_business_error(fake, http) -> None:
    with pytest.raises(CarrierBusinessError) as info:
        await make_client(fake, http, card="12345").create_waybill(waybill_request())
    assert (info.value.code, info.value.message) == ("6126", "月结卡号不合法")


async def test_the_request_card_wins_over_the_configured_one(fake, http) -> None:
    await make_client(fake, http).create_waybill(waybill_request(monthly_card="0210000001"))
    assert json.loads(fake.received[-1].form()["msgData"])["monthlyCard"] == "0210000001"


async def test_wrong_checkword_is_an_auth_error(fake, http) -> None:
    with pytest.raises(CarrierAuthError, match="数字签名无效") as info:
        await make_client(fake, http, checkword="WRONG").create_waybill(waybill_request())
    assert info.value.code == "A1006"


# ---- route query -----------------------------------------------------------------------

async def test_route_query_normalises_events_in_shanghai_time(fake, http) -> None:
    for node in ROUTES:
        fake.add_route(node)
    events = await make_client(fake, http).query([(MAILNO, None)])
    assert [e.status for e in events] == [
        CommonStatus.COLLECTED, CommonStatus.IN_TRANSIT, CommonStatus.IN_TRANSIT,
        CommonStatus.OUT_FOR_DELIVERY, CommonStatus.DELIVERED]
    assert events[-1].occurred_at == datetime(2026, 3, 3, 10, 45, 19, tzinfo=SHANGHAI)
    assert events[-1].location == "上海市"
    assert events[-1].description == "已签收,感谢使用顺丰"
    assert events[-1].raw["opCode"] == "80"
    msg = json.loads(fake.received[-1].form()["msgData"])
    assert msg == {"language": "0", "trackingType": "1", "trackingNumber": [MAILNO],
                   "methodType": "1"}


async def test_route_query_batches_ten_numbers_and_sends_the_check_phone(fake, http) -> None:
    numbers = [(f"SF{n:013d}", "13800000001") for n in range(12)]
    assert await make_client(fake, http).query(numbers) == []
    sent = [json.loads(r.form()["msgData"]) for r in fake.received]
    assert [len(m["trackingNumber"]) for m in sent] == [10, 2]
    assert {m["checkPhoneNo"] for m in sent} == {"0001"}


# ---- route push ------------------------------------------------------------------------

def push_client() -> SfClient:
    return SfClient(httpx.AsyncClient(), "https://sf.invalid", "LVYUE_TEST", "CHECKWORD_TEST")


def test_callback_url_carries_the_push_token() -> None:
    client = push_client()
    url = client.callback_url("https://lvyue.example.com/")
    assert url == f"https://lvyue.example.com/carriers/sf/push?token={client.push_token()}"
    assert len(client.push_token()) == 32


def test_push_with_the_right_token_yields_events_and_the_exact_reply() -> None:
    client = push_client()
    result = client.parse_push(push_body(ROUTES[:2]), {"Content-Type": "application/json"},
                               {"token": client.push_token()})
    assert [(e.waybill, e.status) for e in result.events] == [
        (MAILNO, CommonStatus.COLLECTED), (MAILNO, CommonStatus.IN_TRANSIT)]
    assert json.loads(result.reply_body) == {"return_code": "0000", "return_msg": "成功"}
    assert result.reply_content_type.startswith("application/json")


@pytest.mark.parametrize("query", [{}, {"token": ""}, {"token": "0" * 32}])
def test_push_without_the_right_token_is_refused(query: dict[str, str]) -> None:
    with pytest.raises(PushSignatureError):
        push_client().parse_push(push_body(ROUTES), {}, query)


def test_signed_but_garbled_push_is_a_bad_response() -> None:
    client = push_client()
    with pytest.raises(CarrierBadResponse):
        client.parse_push(b'{"Body": {}}', {}, {"token": client.push_token()})


def test_duplicated_and_out_of_order_pushes_dedupe_by_node() -> None:
    client = push_client()
    batches = out_of_order_with_duplicates([push_body([node]) for node in ROUTES])
    events = [e for body in batches
              for e in client.parse_push(body, {}, {"token": client.push_token()}).events]
    history = dedupe_sorted(events)
    assert len(events) == 7
    assert [e.raw["id"] for e in history] == ["1001", "1002", "1003", "1004", "1005"]
    assert history[-1].status is CommonStatus.DELIVERED


# ---- faults ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "error"), FAULT_ERRORS.items())
async def test_faults_become_typed_errors(fake, http, fault: str, error: type) -> None:
    fake.fail(fault)
    with pytest.raises(error):
        await make_client(fake, http).query([(MAILNO, None)])


async def test_business_error_carries_sfs_own_message(fake, http) -> None:
    fake.fail("business")
    with pytest.raises(CarrierBusinessError) as info:
        await make_client(fake, http).create_waybill(waybill_request())
    assert (info.value.code, info.value.message) == ("8119", "月结卡号已失效，请联系顺丰业务员")


async def test_a_failure_once_then_success(fake, http) -> None:
    fake.fail("server_error", times=1)
    client = make_client(fake, http)
    with pytest.raises(CarrierUnavailable) as info:
        await client.create_waybill(waybill_request())
    assert info.value.status == 502
    assert (await client.create_waybill(waybill_request())).waybill_no == "SF0000000000001"


async def test_without_keys_sf_is_disabled_and_says_so(http) -> None:
    with pytest.raises(CarrierDisabled, match="顺丰未配置密钥：SF_PARTNER_ID, SF_CHECKWORD"):
        SfClient.from_settings(config.defaults({"SF_MONTHLY_CARD": CARD}), http)


async def test_from_settings_reads_base_and_monthly_card(fake, http) -> None:
    settings = config.defaults({"SF_PARTNER_ID": fake.partner_id,
                                "SF_CHECKWORD": fake.checkword, "SF_MONTHLY_CARD": CARD,
                                "SF_API_BASE": fake.base_url})
    await SfClient.from_settings(settings, http).create_waybill(waybill_request())
    assert json.loads(fake.received[-1].form()["msgData"])["monthlyCard"] == CARD
