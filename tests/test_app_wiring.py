"""The application as assembled by bot/app.py: state changes write their notifications to the
outbox in the same transaction, the dispatcher delivers them on the channels the credentials
allow, and the scheduled alerts (delay risk, stuck parcels, daily report) reach people.

Runs on SQLite and PostgreSQL (`world`). Quiet hours are switched off except where a test is
about them, so the outcome does not depend on the hour the suite runs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from bot import alerts, tokens
from bot.app import build
from bot.config import Secret, Settings
from bot.tracking import StuckShipment
from handlers import carrier_push, dashboard, pages
from handlers.keys import NOTIFIER, OUTBOX, SERVICE, SHIPPING
from integrations.carriers.base import CommonStatus, TrackingEvent
from storage.models import Customer, Order, OrderStatus, Shipment, Stock
from storage.outbox_models import OutboxNotification, OutboxStatus
from tests.conftest import bearer, issue_key
from tests.fakes.wecom_server import FakeWeCom

NO_QUIET = (time(0, 0), time(0, 0))


@pytest.fixture
def loud(settings: Settings) -> Settings:
    return replace(settings, quiet_hours=NO_QUIET)


@pytest.fixture
async def client(world: dict[str, Any], loud: Settings, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(build(loud, manage_db=False), headers=await lina())


async def lina() -> dict[str, str]:
    """The manager lina's API key header (every /api call needs a key)."""
    return bearer(await issue_key("lina", "manager"))


async def post(client: TestClient, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await client.post(path, data=json.dumps(body or {}),
                             headers={"Content-Type": "application/json"})
    return resp.status, await resp.json()


async def rows(**filters: Any) -> list[OutboxNotification]:
    return await OutboxNotification.filter(**filters).order_by("id")


async def confirmed(client: TestClient, customer: str = "C0001", sku: str = "FLT00001",
                    qty: int = 10) -> str:
    status, body = await post(client, "/api/orders",
                              {"customer": customer, "lines": [{"sku": sku, "qty": qty}]})
    assert status == 201, body
    status, body = await post(client, f"/api/orders/{body['no']}/confirm")
    assert status == 200, body
    return str(body["no"])


async def test_confirmation_is_told_to_the_customer_with_a_working_tracking_link(client):
    no = await confirmed(client)
    [row] = await rows(event="order_confirmed")
    # no 公众号 credentials: the customer's push shows on the console, nothing is dropped
    assert (row.channel, row.recipient, row.order_no) == ("console", "客户:C0001", no)
    assert row.status == OutboxStatus.pending
    assert await client.app[OUTBOX].run_once() == 1
    await row.refresh_from_db()
    assert row.status == OutboxStatus.sent
    [msg] = client.app[OUTBOX].channels["console"].messages
    assert no in msg.text
    link = row.context["跟踪链接"]
    assert link.startswith(f"{client.app[pages.TRACKING].public_url}/t/")
    assert client.app[pages.TRACKING].verify(link.rsplit("/", 1)[1]) == no
    page = await client.get(link.split("8080", 1)[1])
    assert page.status == 200 and no in await page.text()


async def test_cancelling_tells_the_customer_told_of_it_and_the_salesperson(client):
    no = await confirmed(client)
    assert await client.app[OUTBOX].run_once() == 1  # 订单已确认 reached the customer
    # cancelled by the ERP's key: nobody on the order is the canceller
    resp = await client.post(f"/api/orders/{no}/cancel", json={"reason": "客户改单"},
                             headers=bearer(await issue_key("erp", "integration")))
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "cancelled", body
    sent = await rows(event="order_cancelled")
    # no salesperson on an API order and no owner: the managers hear of it
    assert [(r.channel, r.recipient) for r in sent] == [("console", "客户:C0001"),
                                                        ("console", "lina")]
    assert await client.app[OUTBOX].run_once() == 2
    texts = [m.text for m in list(client.app[OUTBOX].channels["console"].messages)[1:]]
    assert texts[0].endswith(f"您的订单{no}已取消，不会发货。如有疑问请联系您的销售。")
    assert texts[1].startswith(f"订单{no}（杭州西湖恒通汽修厂）已被") and "客户改单" in texts[1]
    # a draft nobody confirmed: the customer never heard of it, only the salesperson hears
    status, body = await post(client, "/api/orders",
                              {"customer": "C0001", "lines": [{"sku": "FLT00001", "qty": 1}]})
    resp = await client.post(f"/api/orders/{body['no']}/cancel", json={},
                             headers=bearer(await issue_key("erp2", "integration")))
    assert resp.status == 200
    assert [r.recipient for r in await rows(event="order_cancelled", order_no=body["no"])] == [
        "lina"]
    # the manager who cancels is not told of her own cancellation
    status, body = await post(client, "/api/orders",
                              {"customer": "C0001", "lines": [{"sku": "FLT00001", "qty": 1}]})
    status, _ = await post(client, f"/api/orders/{body['no']}/cancel")
    assert status == 200
    assert await rows(event="order_cancelled", order_no=body["no"]) == []


async def test_a_failed_notification_plan_rolls_the_confirmation_back(client):
    status, body = await post(client, "/api/orders",
                              {"customer": "C0001", "lines": [{"sku": "FLT00001", "qty": 10}]})
    no = body["no"]

    async def broken(events: Any) -> None:
        raise RuntimeError("outbox unavailable")

    client.app[SERVICE].notify = broken
    status, body = await post(client, f"/api/orders/{no}/confirm")
    # an internal failure, not bad input: a plain problem answer, never a traceback
    assert status == 500 and body["title"] == "系统繁忙，请稍后再试", body
    assert "Traceback" not in json.dumps(body)
    order = await Order.get(no=no)
    assert order.status == OrderStatus.draft  # not confirmed without its notification
    assert sum(await Stock.all().values_list("reserved", flat=True)) == 0
    assert await rows() == []


async def test_held_order_tells_the_salesperson_unless_they_confirmed_it_themselves(client):
    # the stock went (another channel sold it) between the draft and the confirmation
    status, body = await post(client, "/api/orders", {
        "customer": "C0002", "lines": [{"sku": "FLT00001", "qty": 10}]})
    assert status == 201, body
    await Order.filter(no=body["no"]).update(salesperson="zhangwei")
    await Stock.filter(product__sku="FLT00001").update(on_hand=0)
    status, held = await post(client, f"/api/orders/{body['no']}/confirm")
    assert status == 409 and [e["gate"] for e in held["errors"]] == ["stock"], held
    assert (await Order.get(no=body["no"])).status == OrderStatus.on_hold
    [row] = await rows(event="gate_failed")
    assert (row.recipient, row.template) == ("zhangwei", "gate_failed.wecom_app")
    assert any("库存" in p for p in row.context["问题"])
    # the salesperson confirming from chat sees the card: no second message to them
    out = await client.app[SERVICE].confirm(body["no"], actor="zhangwei")
    assert not out.ok
    assert len(await rows(event="gate_failed")) == 1
    # repeated confirms through the API with the same gate result: still one message
    for _ in range(3):
        status, _ = await post(client, f"/api/orders/{body['no']}/confirm")
        assert status == 409
    assert len(await rows(event="gate_failed")) == 1
    # a different result (now credit fails too) is news: one more
    await Customer.filter(code="C0002").update(credit_limit=0)
    status, _ = await post(client, f"/api/orders/{body['no']}/confirm")
    assert status == 409
    assert len(await rows(event="gate_failed")) == 2


async def test_a_repeated_hold_minutes_apart_is_no_news_either(client, monkeypatch):
    """The same gate result, confirmed again later (an API client retrying), does not message
    the salesperson again: it is the result that is compared, not the clock."""
    import itertools
    from datetime import UTC, datetime, timedelta

    from bot import ordering

    start = datetime.now(UTC)
    ticks = itertools.count()
    monkeypatch.setattr(ordering, "_now", lambda: start + timedelta(minutes=next(ticks)))
    status, body = await post(client, "/api/orders", {
        "customer": "C0002", "lines": [{"sku": "FLT00001", "qty": 10}]})
    await Order.filter(no=body["no"]).update(salesperson="zhangwei")
    await Stock.filter(product__sku="FLT00001").update(on_hand=0)
    for _ in range(3):
        status, _ = await post(client, f"/api/orders/{body['no']}/confirm")
        assert status == 409
    assert len(await rows(event="gate_failed")) == 1


async def test_expedite_tells_the_warehouse_group(client):
    no = await confirmed(client)
    status, body = await post(client, f"/api/orders/{no}/expedite",
                              {"actor": "lina", "reason": "客户停工待料"})
    assert status == 200, body
    [row] = await rows(event="urgent_order")
    assert (row.channel, row.recipient) == ("console", "warehouse")
    assert row.context["原因"] == "客户停工待料" and row.context["加急人"] == "李娜"


async def test_expedite_reaches_the_group_robot_webhook_when_its_key_is_set(
        world, loud, aiohttp_client):
    async with FakeWeCom() as fake:
        env = {"WECOM_WEBHOOK_KEY": "fake-webhook-key", "WECOM_API_BASE": fake.url}
        live = replace(loud, env={k: Secret(v) for k, v in env.items()})
        client = await aiohttp_client(build(live, manage_db=False), headers=await lina())
        no = await confirmed(client)
        status, _ = await post(client, f"/api/orders/{no}/expedite", {"actor": "lina"})
        assert status == 200
        [row] = await rows(event="urgent_order")
        assert row.channel == "wecom_group"
        assert await client.app[OUTBOX].run_once() >= 1
        [sent] = [m for m in fake.webhook_messages if m["msgtype"] == "markdown"]
        assert no in sent["markdown"]["content"] and "加急" in sent["markdown"]["content"]


async def test_shipping_and_tracking_push_the_customer_once_per_step(client):
    no = await confirmed(client)
    status, body = await post(client, f"/api/orders/{no}/ship", {"actor": "warehouse"})
    assert status == 200, body
    [shipped] = await rows(event="shipped")
    ship = await Shipment.get(order__no=no)
    assert shipped.context["运单号"] == ship.waybill_no
    tracking = client.app[carrier_push.TRACKING]
    at = datetime.now(UTC)
    events = [TrackingEvent(ship.waybill_no, "sandbox", CommonStatus.OUT_FOR_DELIVERY,
                            at - timedelta(minutes=30), "杭州市", "派件中"),
              TrackingEvent(ship.waybill_no, "sandbox", CommonStatus.DELIVERED, at, "杭州市",
                            "已签收")]
    await tracking.apply(events[:1])
    await tracking.apply(events[1:])
    await tracking.apply(events)  # a duplicated push changes nothing and tells no one twice
    kinds = [r.event for r in await rows()]
    assert kinds == ["order_confirmed", "shipped", "out_for_delivery", "delivered"]
    await client.app[OUTBOX].run_once()
    assert {r.status for r in await rows()} == {OutboxStatus.sent}


async def test_both_steps_in_one_push_tell_only_the_delivery(client):
    no = await confirmed(client)
    await post(client, f"/api/orders/{no}/ship", {"actor": "warehouse"})
    ship = await Shipment.get(order__no=no)
    at = datetime.now(UTC)
    await client.app[carrier_push.TRACKING].apply([
        TrackingEvent(ship.waybill_no, "sandbox", CommonStatus.OUT_FOR_DELIVERY,
                      at - timedelta(minutes=30), "杭州市", "派件中"),
        TrackingEvent(ship.waybill_no, "sandbox", CommonStatus.DELIVERED, at, "杭州市", "已签收")])
    kinds = [r.event for r in await rows()]
    assert kinds == ["order_confirmed", "shipped", "delivered"]


async def test_customer_pushes_wait_for_morning_but_delivery_does_not(world, settings,
                                                                      aiohttp_client):
    # a quiet window around now, China time (a fixed 00:00–23:59 misses the last minute)
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    around_now = ((local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
                  (local + timedelta(hours=1)).time().replace(second=0, microsecond=0))
    always_quiet = replace(settings, quiet_hours=around_now)
    client = await aiohttp_client(build(always_quiet, manage_db=False), headers=await lina())
    no = await confirmed(client)
    [row] = await rows(event="order_confirmed")
    assert row.quiet and row.next_attempt_ms > datetime.now(UTC).timestamp() * 1000
    assert await client.app[OUTBOX].run_once() == 0
    ship = (await client.app[SHIPPING].ship(no, "warehouse")).order
    s = await Shipment.get(order_id=ship.id)
    await client.app[carrier_push.TRACKING].apply([TrackingEvent(
        s.waybill_no, "sandbox", CommonStatus.DELIVERED, datetime.now(UTC), "杭州市", "已签收")])
    [delivered] = await rows(event="delivered")
    assert not delivered.quiet
    assert await client.app[OUTBOX].run_once() == 1
    await delivered.refresh_from_db()
    assert delivered.status == OutboxStatus.sent


# ---- scheduled alerts ------------------------------------------------------------------

async def test_delay_risk_alerts_once_per_promise(client):
    no = await confirmed(client)
    order = await Order.get(no=no)
    notifier = client.app[NOTIFIER]
    early = order.promised_at - timedelta(hours=10)
    assert await alerts.delay_risks(early, 4) == []  # still far away
    soon = order.promised_at - timedelta(hours=2)
    assert [r.order_no for r in await alerts.delay_risks(soon, 4)] == [no]
    await alerts.send(notifier, await alerts.delay_risks(soon, 4))
    await alerts.send(notifier, await alerts.delay_risks(soon, 4))
    [row] = await rows(event="delay_risk")
    assert row.recipient == "lina"  # no salesperson on an API order: the managers hear it
    # delivered orders are not at risk
    await Order.filter(no=no).update(status=OrderStatus.delivered)
    assert await alerts.delay_risks(soon, 4) == []


async def test_stuck_parcels_alert_the_salesperson(client):
    no = await confirmed(client)
    await Order.filter(no=no).update(salesperson="zhangwei")
    ship = await Shipment.get(order__no=no)
    since = datetime.now(UTC) - timedelta(hours=30)
    stuck = StuckShipment(no, ship.id, "SBX1", "sandbox", OrderStatus.shipped, since, 24, None)
    await alerts.stuck_handler(client.app[NOTIFIER])([stuck])
    [row] = await rows(event="shipment_stuck")
    assert (row.recipient, row.template) == ("zhangwei", "shipment_stuck.wecom_app")
    assert row.context["小时"] == "24"


async def test_daily_report_goes_to_the_managers_once_a_day(client):
    await confirmed(client)
    job = alerts.daily_job(client.app[NOTIFIER], time(0, 0))
    await job()
    await job()
    [row] = await rows(event="daily_report")
    assert row.recipient == "lina" and row.context["新增订单"]
    # the report links to the dashboard with a signed key (it opens off the server too)
    link = row.context["看板链接"]
    assert link.startswith("http://127.0.0.1:8080/dashboard?k=")
    key = parse_qs(urlsplit(link).query)["k"][0]
    assert dashboard.key_ok(key, client.app[pages.TRACKING].secret, datetime.now(UTC))
    assert alerts.report_day(datetime(2026, 11, 25, 9, 0, tzinfo=UTC), time(18, 30)) is None
    assert str(alerts.report_day(datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
                                 time(18, 30))) == "2026-11-25"


# ---- the tracking-link key -------------------------------------------------------------

async def test_without_lvyue_secret_links_survive_a_restart(tmp_path, settings, aiohttp_client):
    url = f"sqlite://{tmp_path / 'restart.db'}"
    cfg = replace(settings, db_url=url, secret=Secret(""))
    first = await aiohttp_client(build(cfg, load_demo_if_empty=False))
    token = first.app[pages.TRACKING].token("LY261125000001")
    await first.close()
    second = await aiohttp_client(build(cfg, load_demo_if_empty=False))
    try:
        assert second.app[pages.TRACKING].verify(token) == "LY261125000001"
        assert tokens.verify_tracking_token(token, "another key", datetime.now(UTC)) is None
    finally:
        await second.close()


# ---- shipping with a live carrier ------------------------------------------------------

async def test_a_refused_waybill_is_held_and_the_salesperson_is_told(world, loud, aiohttp_server,
                                                                      aiohttp_client):
    from storage.models import Staff, Warehouse
    from storage.shipping_models import ShippingHold
    from tests.fakes.sf_server import FakeSf

    sf = FakeSf()
    await sf.start(aiohttp_server)
    env = {"SF_PARTNER_ID": sf.partner_id, "SF_CHECKWORD": sf.checkword,
           "SF_MONTHLY_CARD": "7551234567", "SF_API_BASE": sf.base_url}
    live = replace(loud, env={k: Secret(v) for k, v in env.items()})
    await Warehouse.filter(code="HZ01").update(address="余杭区仓前街道文一西路1号")
    await Staff.create(userid="zhouqiang", name="周强", role="warehouse", mobile="15888460192")
    client = await aiohttp_client(build(live, manage_db=False), headers=await lina())
    no = await confirmed(client)
    await Order.filter(no=no).update(salesperson="zhangwei")
    await Shipment.filter(order__no=no).update(carrier="sf")
    sf.fail("business", times=1)
    status, body = await post(client, f"/api/orders/{no}/ship", {"actor": "zhouqiang"})
    assert status == 202 and body["shipping_held"][0]["carrier"] == "sf", body
    [row] = await rows(event="shipment_held")
    assert (row.recipient, row.template) == ("zhangwei", "shipment_held.wecom_app")
    assert "月结卡号已失效" in row.context["原因"] and row.context["重试时间"]
    # the scheduled retry ships it once the carrier takes it
    await ShippingHold.all().update(retry_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await client.app[SHIPPING].retry_due() == 1
    assert (await Order.get(no=no)).status == OrderStatus.shipped
    assert [r.event for r in await rows(event="shipped")] == ["shipped"]
