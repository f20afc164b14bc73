"""Channel adapters against the fake WeChat OA and fake WeCom servers, and the dispatcher
driving them end to end (retries, dead letters, resend protection)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integrations.wechat_oa import WeChatOAClient
from integrations.wecom import GroupWebhook, MemoryTokenCache, WeComClient
from messages.channels import (
    ConsoleChannel,
    Outgoing,
    Permanent,
    Retry,
    Throttled,
    WeChatOAChannel,
    WeComAppChannel,
    WeComGroupChannel,
    client_msg_id,
    fit_oa_value,
    text_notice,
)
from messages.outbox import OutboxDispatcher
from messages.render import VARIABLES, load
from storage import outbox
from storage.outbox import Notification, OutboxNotification, OutboxStatus
from tests.fakes.wechat_oa_server import FakeWeChatOA
from tests.fakes.wecom_server import FakeWeCom
from tests.messages.helpers import Clock

RENDERER = load()
OPENID = "oWx_customer_0001"
TPL = "TPL_ORDER_STATUS"


def ctx(event: str) -> dict[str, Any]:
    out: dict[str, Any] = {v: f"{v}值" for v in VARIABLES[event]}
    out.update({"单号": "SO20261125001", "跟踪链接": "https://lvyue.example/t/abc",
                "看板链接": "https://lvyue.example/dashboard", "问题": ["库存不足"]})
    return out


def outgoing(template: str, recipient: str, i: int = 1) -> Outgoing:
    event = template.split(".")[0]
    context = ctx(event)
    return Outgoing(i, f"{event}:SO1:{recipient}", event, recipient,
                    RENDERER.render(template, context), context)


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def oa():
    async with FakeWeChatOA(followers={OPENID, "oRefuser"}, refused={"oRefuser"}) as server:
        yield server


@pytest.fixture
async def wecom():
    async with FakeWeCom(members={"zhangwei", "lina"}) as server:
        yield server


def oa_channel(oa: FakeWeChatOA, http: httpx.AsyncClient, **kw: Any) -> WeChatOAChannel:
    client = WeChatOAClient(http, oa.url, oa.app_id, oa.secret, MemoryTokenCache(), **kw)
    return WeChatOAChannel(client, {"shipped": TPL, "delivered": TPL})


def app_channel(wecom: FakeWeCom, http: httpx.AsyncClient) -> WeComAppChannel:
    client = WeComClient(http, wecom.url, wecom.corp_id, wecom.secret, wecom.agent_id,
                         MemoryTokenCache())
    return WeComAppChannel(client, wecom.agent_id)


# ---- 公众号 --------------------------------------------------------------------------------

async def test_oa_channel_sends_data_keys_link_and_client_msg_id(oa: FakeWeChatOA,
                                                                 http: httpx.AsyncClient) -> None:
    msg = outgoing("shipped.wechat_oa", OPENID)
    remote = await oa_channel(oa, http).send(msg)
    [sent] = oa.sent
    assert remote == str(sent.msgid) and sent.template_id == TPL
    assert sent.url == "https://lvyue.example/t/abc"
    assert sent.client_msg_id == client_msg_id(msg.dedup_key)
    assert sent.data["character_string1"] == "SO20261125001" and "text" not in sent.data


async def test_oa_channel_maps_errors(oa: FakeWeChatOA, http: httpx.AsyncClient) -> None:
    ch = oa_channel(oa, http)
    with pytest.raises(Permanent, match="用户拒收公众号消息（43101）"):
        await ch.send(outgoing("shipped.wechat_oa", "oRefuser"))
    with pytest.raises(Permanent, match="未配置公众号模板ID"):
        await ch.send(outgoing("out_for_delivery.wechat_oa", OPENID))
    oa.fail(45009)
    with pytest.raises(Throttled):
        await ch.send(outgoing("shipped.wechat_oa", OPENID))
    oa.fail(-1)
    with pytest.raises(Retry):
        await ch.send(outgoing("shipped.wechat_oa", OPENID))


def test_oa_values_are_cut_to_their_field_type() -> None:
    assert fit_oa_value("thing4", "浙江省杭州市西湖区文三路100号恒通汽修厂二号门") == \
        "浙江省杭州市西湖区文三路100号恒通汽…"
    assert len(fit_oa_value("thing4", "一" * 30)) == 20
    assert fit_oa_value("phrase5", "已出库") == "已出库"
    assert fit_oa_value("keyword1", "x" * 100) == "x" * 100  # unknown type: untouched


# ---- WeCom app ------------------------------------------------------------------------------

async def test_textcard_to_a_salesperson_with_duplicate_check(wecom: FakeWeCom,
                                                              http: httpx.AsyncClient) -> None:
    await app_channel(wecom, http).send(outgoing("delay_risk.wecom_app", "zhangwei"))
    [d] = wecom.delivered("zhangwei")
    assert d.msgtype == "textcard" and d.payload["btntxt"] == "看物流"
    assert d.payload["url"] == "https://lvyue.example/t/abc"
    [call] = wecom.requests("message/send")
    assert call.body["enable_duplicate_check"] == 1
    assert call.body["duplicate_check_interval"] == 1800


async def test_text_and_template_card(wecom: FakeWeCom, http: httpx.AsyncClient) -> None:
    ch = app_channel(wecom, http)
    await ch.send(outgoing("gate_failed.wecom_app", "zhangwei"))
    await ch.send(outgoing("daily_report.wecom_app", "lina"))
    [text] = wecom.delivered("zhangwei")
    assert text.msgtype == "text" and "· 库存不足" in text.payload["content"]
    [card] = wecom.delivered("lina")
    assert card.msgtype == "template_card" and card.payload["card_type"] == "text_notice"
    items = card.payload["horizontal_content_list"]
    assert len(items) == 6 and items[0] == {"keyname": "新增订单", "value": "新增订单值"}
    assert card.payload["card_action"] == {"type": 1, "url": "https://lvyue.example/dashboard"}


async def test_unknown_member_is_permanent(wecom: FakeWeCom, http: httpx.AsyncClient) -> None:
    with pytest.raises(Permanent, match="81013"):
        await app_channel(wecom, http).send(outgoing("gate_failed.wecom_app", "nobody"))


async def test_member_limit_is_throttled_not_dropped(wecom: FakeWeCom, http: httpx.AsyncClient
                                                     ) -> None:
    ch = app_channel(wecom, http)
    for i in range(30):  # 30 different messages (the same one again is WeCom's duplicate)
        await ch.send(distinct("gate_failed.wecom_app", "zhangwei", i))
    with pytest.raises(Throttled):
        await ch.send(distinct("gate_failed.wecom_app", "zhangwei", 31))
    assert len(wecom.delivered("zhangwei")) == 30 and wecom.dropped() == []


def distinct(template: str, recipient: str, i: int) -> Outgoing:
    event = template.split(".")[0]
    context = {**ctx(event), "单号": f"SO202611250{i:02d}"}
    return Outgoing(i, f"{event}:SO{i}:{recipient}", event, recipient,
                    RENDERER.render(template, context), context)


async def test_a_resend_of_the_same_notification_is_absorbed_by_wecom(
        wecom: FakeWeCom, http: httpx.AsyncClient) -> None:
    """A crash between WeCom's answer and mark_sent makes the outbox send a row again: the
    same request, which WeCom's duplicate check does not deliver twice."""
    ch = app_channel(wecom, http)
    await ch.send(distinct("gate_failed.wecom_app", "zhangwei", 1))
    await ch.send(distinct("gate_failed.wecom_app", "zhangwei", 1))
    assert len(wecom.delivered("zhangwei")) == 1 and len(wecom.suppressed) == 1


def test_text_notice_needs_no_optional_parts() -> None:
    card = text_notice({"main_title": "标题", "url": "https://x"})
    assert card["main_title"] == {"title": "标题", "desc": ""}
    assert "horizontal_content_list" not in card


# ---- group robot, console -------------------------------------------------------------------

async def test_group_robot_markdown_and_its_limit(wecom: FakeWeCom, http: httpx.AsyncClient
                                                  ) -> None:
    hook = GroupWebhook(http, wecom.url, "fake-webhook-key")
    ch = WeComGroupChannel({"warehouse": hook})
    await ch.send(outgoing("urgent_order.wecom_group", "warehouse"))
    [msg] = wecom.webhook_messages
    assert msg["msgtype"] == "markdown" and "加急" in msg["markdown"]["content"]
    for i in range(19):
        await ch.send(outgoing("urgent_order.wecom_group", "warehouse", i))
    with pytest.raises(Throttled):  # 20 a minute
        await ch.send(outgoing("urgent_order.wecom_group", "warehouse", 99))
    with pytest.raises(Permanent, match="未配置群机器人"):
        await ch.send(outgoing("urgent_order.wecom_group", "managers"))


async def test_console_keeps_the_text() -> None:
    ch = ConsoleChannel(maxlen=2)
    for i in range(3):
        assert await ch.send(outgoing("gate_failed.wecom_app", "销售", i)) == f"console-{i}"
    assert [m.id for m in ch.messages] == [1, 2]
    assert ch.messages[-1].text.startswith("订单SO20261125001")


# ---- the dispatcher over the real 公众号 client ----------------------------------------------

def push(i: int, openid: str = OPENID) -> Notification:
    return Notification(dedup_key=f"shipped:SO{i}:1:{openid}:wechat_oa", event="shipped",
                        channel="wechat_oa", recipient=openid, template="shipped.wechat_oa",
                        context=ctx("shipped"), order_no=f"SO{i}")


async def test_dispatch_over_wechat_with_faults(db: str, oa: FakeWeChatOA,
                                                http: httpx.AsyncClient) -> None:
    clock = Clock()
    d = OutboxDispatcher({"wechat_oa": oa_channel(oa, http, timeout=0.3)}, clock, "w1",
                         renderer=RENDERER)
    await outbox.enqueue([push(1), push(2, "oRefuser"), push(3, "oStranger")], clock())
    oa.fail(42001)  # the first send meets an expired token: refetched, not an attempt lost
    await d.run_once()
    rows = {r.recipient: r for r in await OutboxNotification.all()}
    assert rows[OPENID].status == OutboxStatus.sent
    assert rows["oRefuser"].status == OutboxStatus.dead
    assert rows["oRefuser"].last_error == "用户拒收公众号消息（43101）"
    assert rows["oStranger"].last_error == "openid无效（非本公众号粉丝）（40003）"
    assert [s.openid for s in oa.sent] == [OPENID]


async def test_a_timed_out_send_is_resent_once_and_absorbed(db: str, oa: FakeWeChatOA,
                                                            http: httpx.AsyncClient) -> None:
    clock = Clock()
    d = OutboxDispatcher({"wechat_oa": oa_channel(oa, http, timeout=0.3)}, clock, "w1",
                         renderer=RENDERER)
    await outbox.enqueue([push(1)], clock())
    oa.stall(1.0)  # WeChat accepts it, our client gives up waiting
    await d.run_once()
    row = await OutboxNotification.get()
    assert row.status == OutboxStatus.pending and "ReadTimeout" in (row.last_error or "")
    clock.advance(10)
    await d.run_once()
    row = await OutboxNotification.get()
    assert row.status == OutboxStatus.sent and row.attempts == 2
    assert len(oa.sent) == 1 and sum(oa.suppressed.values()) == 1  # one message on the phone


def test_template_ids_and_limits_from_config() -> None:
    from bot.config import ConfigError
    from messages.channels import oa_template_ids
    from messages.outbox import ChannelLimit, limits_from

    assert oa_template_ids({"default": "T0", "delivered": "T1"}) == {"default": "T0",
                                                                     "delivered": "T1"}
    with pytest.raises(ConfigError, match=r"template_ids\.shiped: unknown event"):
        oa_template_ids({"shiped": "T"})
    limits = limits_from({"wechat_oa": {"count": 50}, "console": {"concurrency": 2}})
    assert limits["wechat_oa"] == ChannelLimit(50, 1.0, 16)
    assert limits["console"].concurrency == 2 and limits["wecom_group"].count == 20
    with pytest.raises(ConfigError, match=r"notify\.limits\.wechat_oa\.count"):
        limits_from({"wechat_oa": {"count": 0}})
    with pytest.raises(ConfigError, match=r"notify\.limits\.wechat_oa\.rate: unknown key"):
        limits_from({"wechat_oa": {"rate": 5}})
