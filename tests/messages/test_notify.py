"""Planning: template, channel, recipient, quiet hours, dedup keys, per event."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest

from bot import config as bot_config
from bot.events import (
    DailyReport,
    DelayRisk,
    GateFailed,
    OrderCancelled,
    OrderConfirmed,
    OrderShipped,
    ShipmentStatusChanged,
    UrgentOrder,
)
from bot.tokens import verify_tracking_token
from messages.facts import mask_address, mask_phone
from messages.notify import NotifyConfig, QuietHours, plan, plan_dead_letter
from messages.render import VARIABLES, load
from storage import outbox
from storage.models import Customer, OrderStatus, Shipment, Staff
from tests.messages.helpers import NOON, PUBLIC, SECRET, china, config, link, make_order

OPENID = "oWx_customer_0001"


@pytest.fixture
async def order(world: dict[str, Any]) -> Any:
    await Customer.filter(code="C0001").update(openid=OPENID)
    return await make_order(world)


def status_event(order_no: str, shipment_id: int, new: str, at: datetime = NOON
                 ) -> ShipmentStatusChanged:
    return ShipmentStatusChanged(order_no, shipment_id, "SF1250011", "sf", "in_transit", new, at)


async def first_shipment(order: Any) -> Shipment:
    return await Shipment.filter(order_id=order.id).order_by("seq").first()  # type: ignore[return-value]


# ---- customer pushes ---------------------------------------------------------------------

async def test_shipped_goes_to_the_customers_openid(order: Any) -> None:
    event = OrderShipped(order.no, 1, "sf", "SF1250011", NOON)
    [n] = await plan(event, config(), NOON)
    assert (n.channel, n.recipient, n.template, n.event) == (
        "wechat_oa", OPENID, "shipped.wechat_oa", "shipped")
    assert n.dedup_key == f"shipped:{order.no}:1:{OPENID}:wechat_oa"
    assert n.not_before is None and n.quiet and n.order_no == order.no
    c = n.context
    assert c["客户姓名"] == "王师傅" and c["单号"] == order.no and c["快递公司"] == "顺丰速运"
    assert c["运单号"] == "SF1250011" and c["预计送达时间"] == "11月26日 15:00" == c["时间"]
    assert c["地址"] == "浙江省杭州市西湖区****"  # the area only (bot/domain/fmt.py)
    assert c["发货仓"] == "杭州仓" and c["包裹"] == ""
    token = c["跟踪链接"].removeprefix(f"{PUBLIC}/t/")
    assert verify_tracking_token(token, SECRET, NOON) == order.no


async def test_the_seed_sentence_renders_from_a_plan(order: Any) -> None:
    [n] = await plan(OrderShipped(order.no, 1, "sf", "SF1250011", NOON), config(), NOON)
    seed = "{客户姓名},您的订单{单号}已由{快递公司}承运,预计{时间}送达{地址}"
    text = load({"shipped.wechat_oa": {"text": seed}}).render(n.template, n.context).text
    assert text == (f"王师傅,您的订单{order.no}已由顺丰速运承运,"
                    "预计11月26日 15:00送达浙江省杭州市西湖区****")


async def test_order_confirmed_and_out_for_delivery(order: Any) -> None:
    ship = await first_shipment(order)
    [confirmed] = await plan(OrderConfirmed(order.no, NOON), config(), NOON)
    assert confirmed.template == "order_confirmed.wechat_oa"
    [out] = await plan(status_event(order.no, ship.id, "out_for_delivery"), config(), NOON)
    assert out.template == "out_for_delivery.wechat_oa" and out.quiet
    assert out.dedup_key == f"status:{ship.id}:out_for_delivery:{OPENID}:wechat_oa"


async def test_split_order_names_the_parcel(world: dict[str, Any]) -> None:
    await Customer.filter(code="C0001").update(openid=OPENID)
    order = await make_order(world, shipments=2)
    [n] = await plan(OrderShipped(order.no, 2, "sf", "SF2", NOON), config(), NOON)
    assert n.context["包裹"] == "（第2/2个包裹）" and n.context["发货仓"] == "上海仓"


@pytest.mark.parametrize(("local", "expected"), [
    ((2026, 11, 25, 23, 30), (2026, 11, 26, 8, 0)),  # late evening → tomorrow 08:00
    ((2026, 11, 26, 7, 59), (2026, 11, 26, 8, 0)),  # early morning → today 08:00
    ((2026, 11, 25, 22, 0), (2026, 11, 26, 8, 0)),  # the start is inside
])
async def test_customer_pushes_wait_out_quiet_hours(order: Any, local: tuple[int, ...],
                                                    expected: tuple[int, ...]) -> None:
    now = china(*local)
    [n] = await plan(OrderShipped(order.no, 1, "sf", "SF1250011", now), config(), now)
    assert n.not_before == china(*expected)


async def test_outside_quiet_hours_there_is_no_wait(order: Any) -> None:
    now = china(2026, 11, 26, 8, 0)  # the end is outside
    [n] = await plan(OrderShipped(order.no, 1, "sf", "SF1250011", now), config(), now)
    assert n.not_before is None


async def test_delivered_is_critical_even_at_night(order: Any) -> None:
    ship = await first_shipment(order)
    night = china(2026, 11, 25, 23, 30)
    [n] = await plan(status_event(order.no, ship.id, "delivered", night), config(), night)
    assert n.template == "delivered.wechat_oa"
    assert n.not_before is None and not n.quiet and n.critical
    assert n.context["事件时间"] == "11月25日 23:30"


async def test_quiet_hours_follow_config(order: Any) -> None:
    cfg = config(quiet=QuietHours(time(21, 0), time(7, 0)))
    now = china(2026, 11, 25, 21, 30)
    [n] = await plan(OrderShipped(order.no, 1, "sf", "SF1250011", now), cfg, now)
    assert n.not_before == china(2026, 11, 26, 7, 0)
    assert QuietHours(time(0), time(0)).until(now) is None  # start == end: none


async def test_customer_without_openid_is_pushed_to_the_console(world: dict[str, Any]) -> None:
    order = await make_order(world, customer="C0002")
    [n] = await plan(OrderShipped(order.no, 1, "sf", "SF1", NOON), config(), NOON)
    assert (n.channel, n.recipient) == ("console", "客户:C0002")
    assert n.context["客户姓名"] == "南京鼓楼快修店"  # no contact: the shop's name


async def test_sandbox_sends_customer_pushes_to_the_console(order: Any) -> None:
    [n] = await plan(OrderShipped(order.no, 1, "sf", "SF1", NOON),
                     config(customer_channel="console"), NOON)
    assert (n.channel, n.recipient) == ("console", "客户:C0001")


async def test_statuses_without_a_push(order: Any) -> None:
    ship = await first_shipment(order)
    for new in ("collected", "in_transit", "info_received"):
        assert await plan(status_event(order.no, ship.id, new), config(), NOON) == []


async def test_trackings_own_event_class_with_order_statuses(order: Any) -> None:
    from bot.tracking import ShipmentStatusChanged as Tracked

    ship = await first_shipment(order)
    event = Tracked(order.no, ship.id, "SF1250011", "sf", OrderStatus.in_transit,
                    OrderStatus.delivered, NOON)
    [n] = await plan(event, config(), NOON)
    assert n.template == "delivered.wechat_oa"
    assert n.dedup_key.startswith(f"status:{ship.id}:delivered:")


# ---- staff ---------------------------------------------------------------------------------

async def test_exception_tells_the_salesperson(order: Any) -> None:
    ship = await first_shipment(order)
    [n] = await plan(status_event(order.no, ship.id, "exception"), config(), NOON)
    assert (n.channel, n.recipient, n.template) == (
        "wecom_app", "zhangwei", "shipment_exception.wecom_app")
    assert n.context["状态"] == "物流异常" and not n.quiet
    assert n.context["地址"] == "浙江省杭州市西湖区文三路100号"  # staff see the full address


async def test_without_a_salesperson_the_managers_hear(world: dict[str, Any]) -> None:
    order = await make_order(world, salesperson=None)
    event = GateFailed(order.no, (("credit", "超出信用额度"),), NOON)
    [n] = await plan(event, config(), NOON)
    assert n.recipient == "lina"
    await Customer.filter(code="C0001").update(sales_owner="wangfang")
    [owner] = await plan(event, config(), NOON)
    assert owner.recipient == "wangfang"


async def test_gate_failed_lists_the_problems(order: Any) -> None:
    event = GateFailed(order.no, (("stock", "库存不足：BRK00001"), ("credit", "超出信用额度")))
    [n] = await plan(event, config(), NOON)
    assert n.template == "gate_failed.wecom_app" and n.context["问题数"] == 2
    text = load().render(n.template, n.context).text
    assert "· 库存不足：BRK00001" in text and "· 超出信用额度" in text


async def test_delay_risk_to_the_salesperson(order: Any) -> None:
    [n] = await plan(DelayRisk(order.no, china(2026, 11, 26, 15)), config(), NOON)
    assert (n.recipient, n.template) == ("zhangwei", "delay_risk.wecom_app")
    assert n.context["承诺时间"] == "11月26日 15:00"


async def test_urgent_order_goes_to_the_warehouse_group(order: Any) -> None:
    [n] = await plan(UrgentOrder(order.no, "lina", "客户车辆在店等件", NOON), config(), NOON)
    assert (n.channel, n.recipient, n.template) == (
        "wecom_group", "warehouse", "urgent_order.wecom_group")
    assert n.context["加急人"] == "李娜" and n.context["发货仓"] == "杭州仓"


async def test_daily_report_to_every_manager(order: Any) -> None:
    await Staff.create(userid="zhaolei", name="赵磊", role="manager")
    sent = await plan(DailyReport(date(2026, 11, 25)), config(), NOON)
    assert sorted(n.recipient for n in sent) == ["lina", "zhaolei"]
    assert {n.dedup_key for n in sent} == {"daily_report:2026-11-25:lina:wecom_app",
                                           "daily_report:2026-11-25:zhaolei:wecom_app"}
    assert sent[0].context["日期"] == "11月25日" and sent[0].context["推送失败"] == "0"


async def test_configured_managers_replace_the_staff_list(order: Any) -> None:
    sent = await plan(DailyReport(date(2026, 11, 25)), config(managers=("boss",)), NOON)
    assert [n.recipient for n in sent] == ["boss"]


# ---- contract with the templates, dedup -------------------------------------------------------

async def test_every_plan_provides_its_templates_variables(order: Any) -> None:
    ship = await first_shipment(order)
    events = [OrderConfirmed(order.no, NOON), OrderShipped(order.no, 1, "sf", "SF1", NOON),
              status_event(order.no, ship.id, "out_for_delivery"),
              status_event(order.no, ship.id, "delivered"),
              status_event(order.no, ship.id, "returned"),
              GateFailed(order.no, (("x", "y"),)), DelayRisk(order.no, NOON),
              UrgentOrder(order.no, "lina", "急"), DailyReport(date(2026, 11, 25))]
    renderer = load()
    for event in events:
        for n in await plan(event, config(), NOON):
            assert set(n.context) >= VARIABLES[n.event], n.template
            assert renderer.render(n.template, n.context).text


async def test_planning_twice_stores_once(order: Any) -> None:
    event = OrderShipped(order.no, 1, "sf", "SF1250011", NOON)
    first, again = await plan(event, config(), NOON), await plan(event, config(), NOON)
    assert [n.dedup_key for n in first] == [n.dedup_key for n in again]
    await outbox.enqueue(first + again, NOON)
    await outbox.enqueue(again, NOON)
    assert (await outbox.counts())["pending"] == 1


async def test_distinct_facts_have_distinct_keys(order: Any) -> None:
    ship = await first_shipment(order)
    keys = set()
    for event in (OrderShipped(order.no, 1, "sf", "SF1", NOON),
                  OrderShipped(order.no, 2, "sf", "SF2", NOON),
                  status_event(order.no, ship.id, "exception", NOON),
                  status_event(order.no, ship.id, "exception", china(2026, 11, 26, 9)),
                  GateFailed(order.no, (("a", "b"),), NOON),
                  GateFailed(order.no, (("a", "b"),), china(2026, 11, 26, 9))):
        keys.add(event.event_id)
    assert len(keys) == 6


async def test_dead_customer_push_alerts_the_salesperson(order: Any) -> None:
    [alert] = await plan_dead_letter("shipped:x", "shipped", "wechat_oa", order.no,
                                     "用户拒收公众号消息（43101）", config())
    assert (alert.recipient, alert.template) == ("zhangwei", "push_failed.wecom_app")
    assert "43101" in load().render(alert.template, alert.context).text
    assert await plan_dead_letter("k", "push_failed", "wecom_app", order.no, "x", config()) == []


# ---- configuration, formatting ----------------------------------------------------------------

def test_channels_follow_the_credentials() -> None:
    bare = NotifyConfig.from_settings(bot_config.defaults(), link=str)
    assert (bare.customer_channel, bare.staff_channel, bare.group_channel) == (
        "console", "console", "console")
    env = {"WECHAT_APP_ID": "wx1", "WECHAT_SECRET": "s", "WECOM_CORP_ID": "ww",
           "WECOM_SECRET": "s", "WECOM_AGENT_ID": "1000002", "WECOM_WEBHOOK_KEY": "k"}
    full = NotifyConfig.from_settings(bot_config.defaults(env), link=str,
                                      table={"managers": ["lina"]})
    assert (full.customer_channel, full.staff_channel, full.group_channel) == (
        "wechat_oa", "wecom_app", "wecom_group")
    assert full.managers == ("lina",) and full.carrier_names["sf"] == "顺丰速运"
    with pytest.raises(bot_config.ConfigError, match=r"notify\.managers"):
        NotifyConfig.from_settings(bot_config.defaults(), link=str, table={"managers": "lina"})


def test_masking() -> None:
    # One rule with the tracking page (bot/domain/fmt.py): the area only, never the street.
    assert mask_address("上海市浦东新区张江路88弄5号") == "上海市浦东新区****"
    assert mask_address("北京市朝阳区某某工业园内") == "北京市朝阳区****"
    assert mask_address("浙江省杭州市西湖区文三路90号") == "浙江省杭州市西湖区****"
    assert mask_address("某某工业园内") == "****"  # cannot be placed: nothing of it is shown
    assert mask_phone("13800000001") == "138****0001"
    assert mask_phone("0571-88886666") == "0571-****6666"  # the old push rule showed it in full
    assert mask_phone("8888666") == "****"


async def test_a_shop_without_openid_makes_its_salesperson_send_the_link_once(
        world: dict[str, Any]) -> None:
    order = await make_order(world, customer="C0002", status=OrderStatus.allocated)
    push, alert = await plan(OrderConfirmed(order.no, NOON), config(), NOON)
    assert (push.channel, push.recipient) == ("console", "客户:C0002")  # still recorded
    assert (alert.channel, alert.recipient, alert.template) == (
        "wecom_app", "zhangwei", "customer_unbound.wecom_app")
    assert alert.context["跟踪链接"] == link(order.no)
    # later pushes of the same order do not repeat the alert
    assert len(await plan(OrderShipped(order.no, 1, "sf", "SF1", NOON), config(), NOON)) == 1
    # in sandbox mode (customers on the console anyway) nobody is alerted
    assert len(await plan(OrderConfirmed(order.no, NOON), config(customer_channel="console"),
                          NOON)) == 1


# ---- cancellation ------------------------------------------------------------------------------

def cancelled(order_no: str, by: str = "api", was: str = "allocated") -> OrderCancelled:
    return OrderCancelled(order_no, by, "客户改单", was, NOON)


async def test_a_cancelled_order_tells_the_customer_who_was_told_it_was_confirmed(
        order: Any) -> None:
    await outbox.enqueue(await plan(OrderConfirmed(order.no, NOON), config(), NOON), NOON)
    sent = await plan(cancelled(order.no), config(), NOON)
    assert [(n.template, n.channel, n.recipient) for n in sent] == [
        ("order_cancelled.wechat_oa", "wechat_oa", OPENID),
        ("order_cancelled.wecom_app", "wecom_app", "zhangwei")]
    renderer = load()
    customer, sales = (renderer.render(n.template, n.context).text for n in sent)
    assert customer == f"王师傅，您的订单{order.no}已取消，不会发货。如有疑问请联系您的销售。"
    assert sales == (f"订单{order.no}（杭州西湖恒通汽修厂）已被api取消（原为“已分仓”）。\n"
                     "原因：客户改单")
    assert all(set(n.context) >= VARIABLES["order_cancelled"] for n in sent)
    assert sent[0].quiet and sent[1].order_no == order.no


async def test_a_customer_never_told_of_the_order_hears_nothing_of_its_cancellation(
        order: Any) -> None:
    sent = await plan(cancelled(order.no, was="draft"), config(), NOON)
    assert [(n.template, n.recipient) for n in sent] == [
        ("order_cancelled.wecom_app", "zhangwei")]
    # a confirmation that never reached them (a dead letter) does not count either
    [push] = await plan(OrderConfirmed(order.no, NOON), config(), NOON)
    await outbox.enqueue([push], NOON)
    for claimed in await outbox.claim(1, "w", 60, NOON, ["wechat_oa"]):
        await outbox.mark_dead(claimed, "用户拒收公众号消息（43101）")
    sent = await plan(cancelled(order.no), config(), NOON)
    assert [n.template for n in sent] == ["order_cancelled.wecom_app"]


async def test_the_salesperson_who_cancelled_is_not_told_again(order: Any) -> None:
    assert await plan(cancelled(order.no, by="zhangwei", was="draft"), config(), NOON) == []
    [note] = await plan(cancelled(order.no, by="lina", was="draft"), config(), NOON)
    assert "已被李娜取消" in load().render(note.template, note.context).text
