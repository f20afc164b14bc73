"""The shared carrier layer: statuses, times, events, and which carriers are enabled."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot import config
from integrations.carriers import base, registry
from integrations.carriers.base import (
    SHANGHAI,
    CommonStatus,
    TrackingEvent,
    dedupe_sorted,
    parse_carrier_time,
)

SF_ONLY = {"SF_PARTNER_ID": "P", "SF_CHECKWORD": "C"}


def test_common_status_has_exactly_the_seven_values() -> None:
    assert [s.value for s in CommonStatus] == [
        "info_received", "collected", "in_transit", "out_for_delivery", "delivered",
        "exception", "returned"]


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-05-22 15:07:46", datetime(2025, 5, 22, 15, 7, 46, tzinfo=SHANGHAI)),
    ("2025-05-22 15:07", datetime(2025, 5, 22, 15, 7, tzinfo=SHANGHAI)),
    ("2025/05/22 15:07:46", datetime(2025, 5, 22, 15, 7, 46, tzinfo=SHANGHAI)),
    ("2025-05-22T07:07:46Z", datetime(2025, 5, 22, 15, 7, 46, tzinfo=SHANGHAI)),
    ("1747897666000", datetime(2025, 5, 22, 15, 7, 46, tzinfo=SHANGHAI)),
    (1747897666, datetime(2025, 5, 22, 15, 7, 46, tzinfo=SHANGHAI)),
])
def test_carrier_times_read_as_asia_shanghai(text: str | int, expected: datetime) -> None:
    parsed = parse_carrier_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(hours=8)
    assert parsed.tzinfo == SHANGHAI


@pytest.mark.parametrize("text", ["", "昨天", "2025-13-01 00:00:00", "12345"])
def test_unreadable_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"carrier time|month|invalid"):
        parse_carrier_time(text)


def test_an_event_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TrackingEvent("SF1", "sf", CommonStatus.COLLECTED, datetime(2025, 1, 1), "", "", {})  # noqa: DTZ001


def _event(minute: int, status: CommonStatus, text: str) -> TrackingEvent:
    at = datetime(2025, 5, 22, 15, minute, tzinfo=SHANGHAI)
    return TrackingEvent("73100196611386", "zto", status, at, "郑州市", text, {"n": minute})


def test_dedupe_sorted_drops_repeats_and_orders_by_time() -> None:
    got = _event(6, CommonStatus.COLLECTED, "已揽收")
    moved = _event(7, CommonStatus.IN_TRANSIT, "发往郑州")
    signed = _event(8, CommonStatus.DELIVERED, "已签收")
    same_as_got = TrackingEvent(got.waybill, got.carrier, got.status,
                                got.occurred_at.astimezone(UTC), got.location,
                                got.description, {"other": "raw"})
    assert dedupe_sorted([signed, got, moved, signed, same_as_got]) == [got, moved, signed]


def test_every_table_maps_onto_common_statuses() -> None:
    for table in (base.KUAIDI100_CODES, base.KUAIDI100_NAMES, base.SF_OPCODES,
                  base.ZTO_ACTIONS, base.ZTO_SCAN_TYPES, base.JD_CATEGORIES):
        assert set(table.values()) <= set(CommonStatus)
    assert base.normalise(base.SF_OPCODES, "99999") is CommonStatus.IN_TRANSIT
    assert base.normalise(base.SF_OPCODES, 80) is CommonStatus.DELIVERED


def test_status_report_names_missing_keys() -> None:
    report = registry.status_report(config.defaults(SF_ONLY))
    assert report == {
        "kuaidi100": "未配置密钥：KUAIDI100_KEY, KUAIDI100_CUSTOMER, KUAIDI100_SECRET, "
                     "KUAIDI100_SALT",
        "sf": "已启用",
        "zto": "未配置密钥：ZTO_APP_KEY, ZTO_APP_SECRET",
        "jd": "未配置密钥：JD_APP_KEY, JD_APP_SECRET, JD_ACCESS_TOKEN, JD_CUSTOMER_CODE",
    }


async def test_only_carriers_with_keys_are_enabled() -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        assert registry.enabled_clients(config.defaults({}), http) == {}
        clients = registry.enabled_clients(config.defaults(SF_ONLY), http)
    assert list(clients) == ["sf"]
    assert clients["sf"].code == "sf"


def test_a_partly_configured_carrier_stays_disabled() -> None:
    report = registry.status_report(config.defaults({"ZTO_APP_KEY": "k"}))
    assert report["zto"] == "未配置密钥：ZTO_APP_SECRET"


# ---- JSON that parses but is not the protocol, and refused connections --------------------

def _clients(http: httpx.AsyncClient, base_url: str) -> dict[str, base.CarrierClient]:
    from integrations.carriers.jd import JdClient
    from integrations.carriers.kuaidi100 import Kuaidi100Client
    from integrations.carriers.sf import SfClient
    from integrations.carriers.zto import ZtoClient

    return {
        "kuaidi100": Kuaidi100Client(http, base_url, base_url, "k", "c", "s", "salt", 0.5),
        "sf": SfClient(http, base_url, "p", "c", "", 0.5),
        "zto": ZtoClient(http, base_url, "k", "s", 0.5),
        "jd": JdClient(http, base_url, "k", "s", "t", "010K1", 0.5),
    }


WRONG_SHAPES = {
    "kuaidi100": {"message": "ok", "nu": "1", "data": [1, 2]},
    "sf": {"apiResultCode": "A1000", "apiResultData": "{broken"},
    "zto": {"result": [], "message": "ok"},
    "jd": {"code": 0, "msg": "成功", "data": {"traceDetails": "none"}},
}


@pytest.mark.parametrize("code", list(WRONG_SHAPES))
async def test_json_of_the_wrong_shape_is_a_bad_response(code: str) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=WRONG_SHAPES[code])

    async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as http:
        client = _clients(http, "https://carrier.invalid")[code]
        with pytest.raises(base.CarrierBadResponse):
            await client.query([("73100196611386", "13800000001")])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("code", list(WRONG_SHAPES))
async def test_a_refused_connection_is_unavailable(code: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        client = _clients(http, f"http://127.0.0.1:{_closed_port()}")[code]
        with pytest.raises(base.CarrierUnavailable, match="无法连接"):
            await client.query([("73100196611386", "13800000001")])


async def test_a_timeout_names_the_deadline_that_fired_and_whether_it_was_sent(
        aiohttp_server) -> None:
    """The bulkhead's total deadline (here 0.3 s) fires before httpx's per-read 10 s: the
    message says 0.3 s, and a request that never got the pool's one slot says so."""
    import asyncio

    from aiohttp import web

    from integrations.http import Bulkhead, Pools

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/", hang)
    server = await aiohttp_server(app)
    pools = Pools({"carrier": Bulkhead(concurrency=1, deadline_s=0.3)})
    try:
        http = pools.get("carrier")
        calls = [base.post(http, "sf", str(server.make_url("/")), seconds=base.DEFAULT_TIMEOUT)
                 for _ in range(2)]
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await pools.aclose()
    assert all(isinstance(r, base.CarrierTimeout) for r in results), results
    assert sorted(str(r) for r in results) == ["顺丰接口繁忙（0.3 秒内请求未能发出）",
                                               "顺丰接口超时（0.3 秒未响应）"]
