"""Assembly: channels from credentials, and the transactional path from a tracking change
to a delivered notification (TrackingService → Notifier → outbox → dispatcher)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from bot import config as bot_config
from bot.ordering import LineInput, PlaceOrder
from bot.tracking import TrackingConfig, TrackingService
from integrations.carriers.base import SHANGHAI, CommonStatus, TrackingEvent
from messages.channels import ConsoleChannel
from messages.delivery import Notifier, build_channels, build_dispatcher, running
from messages.notify import NotifyConfig
from storage import outbox
from storage.models import Customer, Order, OrderStatus, Shipment
from storage.outbox import OutboxNotification, OutboxStatus
from tests.fakes.wechat_oa_server import FakeWeChatOA
from tests.fakes.wecom_server import FakeWeCom
from tests.messages.helpers import link
from tests.ship import ship_sandbox, waybills

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday morning: no quiet hours


async def test_sandbox_has_only_the_console() -> None:
    async with httpx.AsyncClient() as http:
        channels = build_channels(bot_config.defaults(), http)
    assert set(channels) == {"console"}


async def test_every_channel_with_credentials() -> None:
    async with FakeWeChatOA() as oa, FakeWeCom() as wc, httpx.AsyncClient() as http:
        env = {"WECHAT_APP_ID": oa.app_id, "WECHAT_SECRET": oa.secret, "WECHAT_API_BASE": oa.url,
               "WECOM_CORP_ID": wc.corp_id, "WECOM_SECRET": wc.secret,
               "WECOM_AGENT_ID": str(wc.agent_id), "WECOM_API_BASE": wc.url,
               "WECOM_WEBHOOK_KEY": "fake-webhook-key"}
        settings = bot_config.defaults(env)
        table = {"wechat_oa": {"template_ids": {"default": "TPL_ORDER_STATUS"}}}
        channels = build_channels(settings, http, table)
        assert set(channels) == {"console", "wechat_oa", "wecom_app", "wecom_chat",
                                 "wecom_group"}
        cfg = NotifyConfig.from_settings(settings, link=link, table=table)
        assert cfg.customer_channel == "wechat_oa" and cfg.group_channel == "wecom_group"
        build_dispatcher(settings, channels, cfg, {}, table)  # templates and limits load


def test_a_bad_template_override_fails_at_start() -> None:
    cfg = NotifyConfig(link=link)
    with pytest.raises(bot_config.ConfigError, match="unknown variable 不存在"):
        build_dispatcher(bot_config.defaults(), {}, cfg,
                         {"shipped.wechat_oa": {"text": "{不存在}"}})


def event(waybill: str, hours: float, status: CommonStatus) -> TrackingEvent:
    return TrackingEvent(waybill, "zto", status, T0 + timedelta(hours=hours), "杭州市",
                         status.value)


async def shipped_order(service: Any) -> tuple[Order, str]:
    """Shipped through ShippingService (sandbox waybill); the order and its waybill."""
    await Customer.filter(code="C0001").update(openid="oCustomer1")
    out = await service.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 2)]))
    assert out.ok, out.gates
    await service.confirm(out.order.no, "zhangwei")
    order = await ship_sandbox(service, out.order.no)
    (number,) = await waybills(order)
    return order, number


def notify_config() -> NotifyConfig:
    return NotifyConfig(link=link, customer_channel="wechat_oa", staff_channel="console")


async def test_a_status_change_and_its_push_commit_together(service: Any, settings: Any) -> None:
    order, number = await shipped_order(service)
    notifier = Notifier(notify_config())
    tracking = TrackingService(settings, {}, lambda: T0 + timedelta(hours=3),
                               config=TrackingConfig(), on_changes=notifier.changes)
    await tracking.apply([event(number, 1, CommonStatus.OUT_FOR_DELIVERY)])
    [row] = await OutboxNotification.all()
    assert (row.template, row.recipient, row.order_no) == (
        "out_for_delivery.wechat_oa", "oCustomer1", order.no)


async def test_when_the_outbox_write_fails_the_status_change_is_undone(service: Any,
                                                                       settings: Any) -> None:
    _, number = await shipped_order(service)

    async def failing(changes: Any) -> None:
        await Notifier(notify_config()).changes(changes)
        raise RuntimeError("outbox write failed")

    tracking = TrackingService(settings, {}, lambda: T0 + timedelta(hours=3),
                               config=TrackingConfig(), on_changes=failing)
    with pytest.raises(RuntimeError):
        await tracking.apply([event(number, 1, CommonStatus.DELIVERED)])
    assert await OutboxNotification.all().count() == 0
    ship = await Shipment.get(waybill_no=number)
    assert ship.status == OrderStatus.shipped  # neither the state change nor its push


async def test_enqueued_and_woken_rows_are_delivered_at_once(service: Any, settings: Any
                                                             ) -> None:
    order, number = await shipped_order(service)
    console = ConsoleChannel()
    cfg = NotifyConfig(link=link)  # sandbox: customer pushes go to the console
    dispatcher = build_dispatcher(settings, {"console": console}, cfg)
    notifier = Notifier(cfg, dispatcher)
    tracking = TrackingService(settings, {}, lambda: T0 + timedelta(hours=30),
                               config=TrackingConfig(), on_changes=notifier.changes)
    async with running(dispatcher, idle=30):  # only the wake-up can make this quick
        await asyncio.sleep(0.05)
        await tracking.apply([event(number, 28, CommonStatus.DELIVERED)])
        async with asyncio.timeout(3):
            while not console.messages:  # noqa: ASYNC110 - the channel's list is the signal
                await asyncio.sleep(0.01)
    [msg] = console.messages
    assert msg.recipient == "客户:C0001" and "签收" in msg.text and order.no in msg.text
    assert (await outbox.counts())["sent"] == 1
    assert (await OutboxNotification.get()).status == OutboxStatus.sent
