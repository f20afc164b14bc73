"""JD Logistics client against the local fake: LOP signing, create waybill, trace, faults."""

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
    CarrierBusinessError,
    CarrierDisabled,
    CarrierDuplicateOrder,
    CommonStatus,
    PushNotSupported,
)
from integrations.carriers.jd import JdClient, lop_sign, lop_timestamp
from tests.fakes import FAULT_ERRORS, waybill_request
from tests.fakes.jd_server import FakeJd, trace_node

WAYBILL = "JDV000000000001"


def test_known_answer_vector_and_gmt8_timestamp() -> None:
    # carriers.md §4.1 (self-computed vector, recomputed here).
    body = '[{"waybillCode":"JDV000000000001","orderOrigin":1,"customerCode":"010K0000"}]'
    assert lop_sign("SECRET", "TOKEN", "APPKEY", "/ecap/v1/orders/trace/query", body,
                    "2024-01-01 12:00:00") == "ecca5f7257da6d1472e0eeb3abd10ede"
    assert lop_timestamp(0) == "1970-01-01 08:00:00"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeJd:
    fake = FakeJd()
    await fake.start(aiohttp_server)
    return fake


def make_client(fake: FakeJd, http: httpx.AsyncClient, *, secret: str | None = None,
                clock: Any = None) -> JdClient:
    extra = {"clock": clock} if clock else {}
    return JdClient(http, fake.base_url, fake.app_key, secret or fake.app_secret,
                    fake.access_token, fake.customer_code, 1.0, **extra)


async def test_create_waybill_signs_the_call_and_returns_the_waybill(fake, http) -> None:
    result = await make_client(fake, http).create_waybill(waybill_request())
    assert result.waybill_no == "JDV000000000001"
    sent = fake.received[-1]
    assert sent.path == "/ecap/v1/orders/create"
    q = sent.query
    assert (q["LOP-DN"], q["v"], q["algorithm"]) == ("ECAP", "2.0", "md5-salt")
    assert q["sign"] == lop_sign(fake.app_secret, fake.access_token, fake.app_key, sent.path,
                                 sent.body.decode(), q["timestamp"])
    (order,) = sent.json()
    assert order["orderId"] == "SO202603010001-1"
    assert (order["orderOrigin"], order["settleType"]) == (1, 3)
    assert order["customerCode"] == fake.customer_code
    assert order["receiverContact"] == {"name": "王师傅", "mobile": "13800000001",
                                        "fullAddress": "上海市上海市闵行区申贵路1500号"}


async def test_reused_order_id_is_refused_by_jd_as_a_duplicate(fake, http) -> None:
    client = make_client(fake, http)
    await client.create_waybill(waybill_request())
    with pytest.raises(CarrierDuplicateOrder) as info:
        await client.create_waybill(waybill_request())
    assert info.value.message == "商家订单号已存在，请勿重复下单"
    assert len(fake.orders) == 1


async def test_wrong_secret_is_an_auth_error(fake, http) -> None:
    with pytest.raises(CarrierAuthError, match="签名校验失败"):
        await make_client(fake, http, secret="WRONG").create_waybill(waybill_request())


async def test_a_stale_timestamp_is_refused(fake, http) -> None:
    def an_hour_ago() -> float:
        return fake.now() - 3600

    with pytest.raises(CarrierBusinessError, match="timestamp"):
        await make_client(fake, http, clock=an_hour_ago).create_waybill(waybill_request())


async def test_trace_query_normalises_events_in_shanghai_time(fake, http) -> None:
    fake.traces[WAYBILL] = [
        trace_node(WAYBILL, "2026-03-02 10:00:00", 420, "京东快递 已收取快件"),
        trace_node(WAYBILL, "2026-03-02 22:10:00", 430, "您的快件已发车"),
        trace_node(WAYBILL, "2026-03-03 07:55:00", 440, "配送员 赵六 正在为您派件"),
        trace_node(WAYBILL, "2026-03-03 10:03:00", 510, "您的快件已签收"),
    ]
    events = await make_client(fake, http).query([(WAYBILL, None)])
    assert [e.status for e in events] == [CommonStatus.COLLECTED, CommonStatus.IN_TRANSIT,
                                          CommonStatus.OUT_FOR_DELIVERY, CommonStatus.DELIVERED]
    assert events[-1].occurred_at == datetime(2026, 3, 3, 10, 3, tzinfo=SHANGHAI)
    assert events[-1].description == "您的快件已签收"
    (sent,) = fake.received[-1].json()
    assert sent == {"waybillCode": WAYBILL, "orderOrigin": 1, "customerCode": "010K000001"}


async def test_trace_of_a_fresh_waybill_is_empty(fake, http) -> None:
    assert await make_client(fake, http).query([(WAYBILL, None)]) == []


def test_push_is_refused_because_jd_publishes_no_verifiable_format() -> None:
    client = JdClient(httpx.AsyncClient(), "https://jd.invalid", "K", "S", "T", "010K000001")
    with pytest.raises(PushNotSupported, match="未公开"):
        client.parse_push(json.dumps({"waybillCode": WAYBILL}).encode(), {}, {})


@pytest.mark.parametrize(("fault", "error"), FAULT_ERRORS.items())
async def test_faults_become_typed_errors(fake, http, fault: str, error: type) -> None:
    fake.fail(fault)
    with pytest.raises(error):
        await make_client(fake, http).query([(WAYBILL, None)])


async def test_business_error_carries_jds_own_message(fake, http) -> None:
    fake.fail("business")
    with pytest.raises(CarrierBusinessError) as info:
        await make_client(fake, http).create_waybill(waybill_request())
    assert (info.value.code, info.value.message) == ("2002", "收件地址超出配送范围")


async def test_without_keys_jd_is_disabled_and_says_so(http) -> None:
    settings = config.defaults({"JD_APP_KEY": "k", "JD_APP_SECRET": "s"})
    with pytest.raises(CarrierDisabled,
                       match="京东物流未配置密钥：JD_ACCESS_TOKEN, JD_CUSTOMER_CODE"):
        JdClient.from_settings(settings, http)


async def test_from_settings_reads_the_base(fake, http) -> None:
    settings = config.defaults({"JD_APP_KEY": fake.app_key, "JD_APP_SECRET": fake.app_secret,
                                "JD_ACCESS_TOKEN": fake.access_token,
                                "JD_CUSTOMER_CODE": fake.customer_code,
                                "JD_API_BASE": fake.base_url})
    result = await JdClient.from_settings(settings, http).create_waybill(waybill_request())
    assert result.waybill_no.startswith("JDV")
