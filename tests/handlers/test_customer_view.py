"""The order master view: 查客户 in chat and GET /api/customers/{code} (issue 9, part 2)."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.app import build
from bot.catalog import Catalog
from bot.dispatch import Incoming, TextReply
from bot.ordering import LineInput, OrderService, PlaceOrder
from bot.parsing import ParserService
from bot.tracking import TrackingService
from handlers.chat.setup import build_dispatcher
from integrations.carriers.base import CommonStatus, TrackingEvent
from storage.models import Customer, Order, Shipment
from tests.conftest import HANGZHOU, bearer, issue_key
from tests.ship import ship_sandbox


def text(user, body):
    return Incoming(kind="text", user_id=user, text=body, transport="test")


async def order(service, *lines, confirm=True):
    out = await service.place(PlaceOrder("C0001", [LineInput(s, q) for s, q in lines],
                                         address=HANGZHOU))
    if confirm:
        await service.confirm(out.order.no)
    return out.order.no


@pytest.fixture
async def history(world, settings):
    """C0001: one order delivered 40 days ago and unpaid, one in transit with an event, one
    allocated, one draft; returns the order numbers."""
    service = OrderService(settings, Catalog(settings))
    old = await order(service, ("OIL00001", 4), ("FLT00001", 2))
    await ship_sandbox(service, old)
    moving = await order(service, ("OIL00001", 2))
    await ship_sandbox(service, moving)
    at = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
    tracker = TrackingService(settings, {})
    events = ((old, CommonStatus.DELIVERED, "杭州西湖", "已签收"),
              (moving, CommonStatus.IN_TRANSIT, "杭州转运中心", "已发往杭州西湖"))
    for no, status, where, what in events:
        ship = await Shipment.get(order__no=no)
        await tracker.apply([TrackingEvent(ship.waybill_no, "sandbox", status, at, where, what)])
    long_ago = datetime.now(UTC) - timedelta(days=40)
    await Order.filter(no=old).update(delivered_at=long_ago)
    open_ = await order(service, ("BRK00001", 5))
    draft = await order(service, ("TYR00001", 1), confirm=False)
    return {"old": old, "moving": moving, "open": open_, "draft": draft, "service": service}


async def test_chat_shows_the_whole_customer_in_one_answer(history, settings):
    service = history["service"]
    dispatcher = build_dispatcher(service, ParserService(service.catalog))
    [reply] = await dispatcher.feed(text("zhangwei", "查客户 恒通汽修"))
    assert isinstance(reply, TextReply)
    body = reply.text
    assert body.startswith("C0001 杭州西湖恒通汽修厂（王师傅，13800000001）")
    # the old order: 4 × 268 + 2 × 45 = 1,162, delivered 40 days ago and unpaid
    assert "额度¥50,000.00" in body and "逾期¥1,162.00（1单，签收超30天未回款）" in body
    assert f"• {history['open']} 已分仓 ¥600.00 预计" in body
    assert f"• {history['moving']} 包裹1" in body
    assert "运输中｜11月25日 14:30 杭州转运中心 已发往杭州西湖" in body
    assert "最近3单" in body and history["draft"] not in body
    assert "• OIL00001 美孚 速霸2000 全合成机油 5W-30 4L 共6件/2单｜杭州仓" in body
    assert "开票：专票 税号91330106MA2B3C4D5" in body and "开户行中国工商银行杭州西湖支行" in body


async def test_chat_names_not_found_and_ambiguous_customers(world, settings):
    catalog = Catalog(settings)
    dispatcher = build_dispatcher(OrderService(settings, catalog), ParserService(catalog))
    reply = (await dispatcher.feed(text("zhangwei", "查客户 不存在的店")))[0].text
    assert reply.startswith("没有找到客户“不存在的店”")
    await Customer.create(code="C0003", name="杭州西湖恒通汽修二厂")
    reply = (await dispatcher.feed(text("zhangwei", "查客户 恒通汽修")))[0].text
    assert "查客户 C0001（杭州西湖恒通汽修厂）" in reply and "查客户 C0003" in reply
    stranger = (await dispatcher.feed(text("nobody", "查客户 C0001")))[0].text
    assert "不在员工名单" in stranger


async def test_api_answers_sales_manager_finance_and_integration(history, settings,
                                                                 aiohttp_client):
    client = await aiohttp_client(build(settings, manage_db=False))
    for role in ("sales", "manager", "finance", "integration"):
        resp = await client.get("/api/customers/c0001",
                                headers=bearer(await issue_key(f"k-{role}", role)))
        assert resp.status == 200, role
    body = await resp.json()
    assert body["credit"] == {"limit": 50000.0, "used": 1162.0 + 536.0 + 600.0,
                              "left": 50000.0 - 2298.0, "overdue": 1162.0,
                              "overdue_orders": 1, "overdue_after_days": 30}
    assert [o["no"] for o in body["open_orders"]] == [history["open"], history["moving"]]
    assert body["open_orders"][0]["status"] == "allocated"
    assert body["open_orders"][0]["promised_at"].endswith("+08:00")
    [parcel] = body["in_transit"]
    assert parcel["order_no"] == history["moving"]
    assert parcel["latest"]["location"] == "杭州转运中心"
    assert [o["no"] for o in body["recent_orders"]] == [history["open"], history["moving"],
                                                       history["old"]]
    top = {t["sku"]: t for t in body["top_items"]}
    assert top["OIL00001"]["qty"] == 6 and top["OIL00001"]["orders"] == 2
    assert top["OIL00001"]["stock"][0]["warehouse"] == "HZ01"  # the nearest first
    assert top["BRK00001"]["stock"][0]["servable"] == 0  # 40 − 5 reserved, floor 50
    assert body["invoice"]["type"] == "专票" and body["invoice"]["problems"] == []
    assert body["invoice"]["bank"] == "中国工商银行杭州西湖支行"


async def test_api_refuses_other_roles_and_unknown_codes(world, settings, aiohttp_client):
    client = await aiohttp_client(build(settings, manage_db=False))
    warehouse = bearer(await issue_key("wh", "warehouse"))
    assert (await client.get("/api/customers/C0001", headers=warehouse)).status == 403
    sales = bearer(await issue_key("s", "sales"))
    resp = await client.get("/api/customers/C9999", headers=sales)
    assert resp.status == 404
    body = await resp.json()
    assert body["errors"][0]["field"] == "code" and "C9999" in body["errors"][0]["message"]
    assert (await client.get("/api/customers/" + "X" * 300, headers=sales)).status == 404
