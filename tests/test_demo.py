"""The demo data set: size and shape, determinism, parseable addresses, valid invoice data
and stock that exercises the brake-pad rule. The load runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from decimal import Decimal

from bot.config import Settings
from bot.demo import CUSTOMER_COUNT, PRODUCT_COUNT, build_demo, load_demo
from bot.domain.invoice import invoice_problems
from integrations.geocode import parse
from storage.models import (
    Carrier,
    CarrierCoverage,
    Customer,
    Order,
    OrderLine,
    OrderLog,
    Product,
    Shipment,
    Staff,
    Stock,
    Warehouse,
    WarehouseKind,
)

REQUIRED_CATEGORIES = {"BRK", "FLT", "OIL", "TYR", "SPK", "BAT", "WIP", "LMP", "BLT", "SUS",
                       "CLT", "IGN"}
PHYSICAL = ("HZ01", "SH01", "NJ01", "HF01", "NB01")
UNITS = {"套", "片", "瓶", "桶", "条", "只", "个", "支", "根"}


# --- the pure build (no database) ------------------------------------------------------


def test_build_is_deterministic_per_seed(settings: Settings) -> None:
    first, again = build_demo(settings), build_demo(settings)
    assert first == again
    other = build_demo(settings, seed=7)
    assert other.products != first.products
    assert other.customers != first.customers


def test_catalogue_shape(settings: Settings) -> None:
    products = build_demo(settings).products
    assert len(products) == PRODUCT_COUNT
    skus = [p["sku"] for p in products]
    assert len(set(skus)) == len(skus)
    assert all(re.fullmatch(r"[A-Z]{3}\d{5}", s) for s in skus)
    assert all(p["sku"].startswith(p["category"]) for p in products)
    categories = Counter(p["category"] for p in products)
    assert len(categories) >= 12
    assert categories.keys() >= REQUIRED_CATEGORIES
    assert len({p["name"] for p in products}) >= 0.99 * len(products)
    assert all(p["unit"] in UNITS for p in products)
    assert all(p["price"] > 0 and p["price"].as_tuple().exponent == -2 for p in products)
    assert all(p["brand"] and p["name"].startswith(p["brand"]) for p in products)
    names = {c: [p["name"] for p in products if p["category"] == c] for c in categories}
    assert any(n.startswith("博世 前刹车片 ") for n in names["BRK"])
    assert any("后刹车盘" in n for n in names["BRK"])
    assert {"机油滤清器", "空气滤清器", "空调滤清器", "燃油滤清器"} <= {
        n.split()[1] for n in names["FLT"]}
    assert "速霸2000 全合成机油 5W-30 4L" in " | ".join(names["OIL"])
    for spec in ("0W-20", "5W-30", "5W-40", "10W-40", " 1L", " 4L"):
        assert any(spec in n for n in names["OIL"]), spec
    assert "米其林 浩悦4 205/55R16 91V" in names["TYR"]
    assert any("215/60R17" in n for n in names["TYR"])
    assert any("60Ah" in n for n in names["BAT"])
    assert any("70Ah" in n for n in names["BAT"])
    assert {f"{i}寸" for i in range(16, 27)} <= {n.split()[3] for n in names["WIP"]}
    for spec in (" H4 ", " H7 ", "LED"):
        assert any(spec in n for n in names["LMP"]), spec
    assert any(n.split()[1] in ("左前减震器", "右前减震器") for n in names["SUS"])
    assert any("大众朗逸/速腾" in p["models"] for p in products)


def test_people_and_carriers(settings: Settings) -> None:
    data = build_demo(settings)
    roles = Counter(s["role"] for s in data.staff)
    assert roles == {"sales": 6, "manager": 2, "warehouse": 2, "finance": 1, "admin": 1}
    assert all(re.fullmatch(r"[a-z]+", s["userid"]) for s in data.staff)
    assert all(s["group_chat"] for s in data.staff if s["role"] in ("manager", "warehouse"))
    sales = {s["userid"] for s in data.staff if s["role"] == "sales"}

    customers = data.customers
    assert [c["code"] for c in customers] == [f"C{i:04d}" for i in range(1, CUSTOMER_COUNT + 1)]
    assert len({c["name"] for c in customers}) == CUSTOMER_COUNT
    assert all(1 <= len(c["aliases"]) <= 2 for c in customers)
    assert all(re.fullmatch(r"1[3-9]\d{9}", c["phone"]) for c in customers)
    assert all(Decimal(20_000) <= c["credit_limit"] <= Decimal(500_000)
               and c["credit_limit"] % 1000 == 0 for c in customers)
    assert all(c["sales_owner"] in sales for c in customers)
    assert sum(not c["active"] for c in customers) == 3
    openids = [c["openid"] for c in customers if c["openid"]]
    assert len(openids) > 0.7 * CUSTOMER_COUNT
    assert all(re.fullmatch(r"o[A-Za-z0-9_-]{27}", o) for o in openids)
    kinds = Counter(c["invoice_type"] for c in customers)
    assert 0.3 < kinds["专票"] / CUSTOMER_COUNT < 0.5
    assert 0.35 < kinds["普票"] / CUSTOMER_COUNT < 0.55
    assert 0.08 < kinds["无需"] / CUSTOMER_COUNT < 0.22
    for c in customers:
        if c["invoice_type"] == "专票":
            assert len(c["tax_id"]) == 18
            assert re.fullmatch(r"\d{16,19}", c["account"]), c
            assert c["bank"].endswith("支行")

    assert [c["code"] for c in data.carriers] == list(settings.carriers)
    expected = {(code, place, False) for code, c in settings.carriers.items()
                for place in c.coverage}
    expected |= {(code, place, True) for code, c in settings.carriers.items()
                 for place in c.exclude}
    assert set(data.coverage) == expected


# --- the load, on each engine ----------------------------------------------------------


async def test_load_demo(db: str, settings: Settings) -> None:
    counts = await load_demo(settings, history_days=0)
    assert counts["products"] == PRODUCT_COUNT == await Product.all().count()
    assert counts["customers"] == CUSTOMER_COUNT == await Customer.all().count()
    assert counts["stock"] == await Stock.all().count()
    assert counts["staff"] == await Staff.all().count() == 12
    categories = set(await Product.all().distinct().values_list("category", flat=True))
    assert len(categories) >= 12
    assert "BRK" in categories

    await _check_warehouses()
    await _check_carriers(settings)
    await _check_customers()
    await _check_stock()

    digest = await _digest()
    await _add_an_order()
    assert await load_demo(settings, history_days=0) == counts
    assert await _digest() == digest
    for model in (Order, OrderLine, Shipment, OrderLog):
        assert await model.all().count() == 0


async def _check_warehouses() -> None:
    warehouses = {w.code: w for w in await Warehouse.all()}
    assert set(warehouses) == {*PHYSICAL, "SK-2026"}
    assert [c for c, w in warehouses.items() if w.kind == WarehouseKind.virtual] == ["SK-2026"]
    flash, hz = warehouses["SK-2026"], warehouses["HZ01"]
    assert (flash.name, flash.city, flash.cutoff) == ("秒杀专仓", "杭州", "18:00")
    assert (flash.lat, flash.lon) == (hz.lat, hz.lon)
    assert {w.province for w in warehouses.values()} == {"浙江", "上海", "江苏", "安徽"}
    for w in warehouses.values():
        place = parse(w.address)
        assert place is not None, w.code
        assert place.city_short == w.city, w.code
        assert w.lat is not None
        assert w.lon is not None
        assert re.fullmatch(r"\d\d:\d\d", w.cutoff)


async def _check_carriers(settings: Settings) -> None:
    carriers = {c.code: c for c in await Carrier.all()}
    assert set(carriers) == {"sf", "zto", "jd"} == set(settings.carriers)
    assert all(c.enabled and c.sandbox for c in carriers.values())
    rows = await CarrierCoverage.all().values_list("carrier__code", "place", "excluded")
    by_carrier = defaultdict(set)
    for code, place, excluded in rows:
        by_carrier[code].add((place, excluded))
    for code, cfg in settings.carriers.items():
        assert by_carrier[code] == ({(p, False) for p in cfg.coverage}
                                    | {(p, True) for p in cfg.exclude})


async def _check_customers() -> None:
    customers = await Customer.all()
    for c in customers:
        place = parse(c.address)
        assert place is not None, c.address
        assert place.district, c.address
    # Every 专票 customer has a valid tax ID, bank and account; a 普票 tax ID is valid too.
    assert any(c.invoice_type == "专票" for c in customers)
    for c in customers:
        assert invoice_problems(c.invoice_type, c.tax_id, c.bank, c.account) == [], c.code


async def _check_stock() -> None:
    assert await Stock.filter(reserved__not=0).count() == 0
    rows = await Stock.filter(product__category="BRK", warehouse__kind=WarehouseKind.physical) \
        .values_list("product_id", "warehouse__code", "on_hand", "reserved")
    available: dict[int, dict[str, int]] = defaultdict(dict)
    for product_id, code, on_hand, reserved in rows:
        available[product_id][code] = on_hand - reserved
    short_in_hangzhou = [
        pid for pid, by_wh in available.items()
        if by_wh.get("HZ01", 0) < 50 and any(by_wh.get(w, 0) >= 50 for w in PHYSICAL[1:])
    ]
    assert short_in_hangzhou

    flash = await Stock.filter(warehouse__code="SK-2026").values_list("product_id", "on_hand")
    assert 50 <= len(flash) <= 70
    assert all(100 <= qty <= 300 for _, qty in flash)
    flash_ids = [pid for pid, _ in flash]
    assert len(set(await Product.filter(id__in=flash_ids).values_list("category", flat=True))) >= 5
    in_main = await Stock.filter(product_id__in=flash_ids, warehouse__code="HZ01",
                                 on_hand__gt=0).count()
    assert in_main == len(flash_ids)

    per_wh = Counter(await Stock.all().values_list("warehouse__code", flat=True))
    assert per_wh["HZ01"] == max(per_wh[w] for w in PHYSICAL)
    for w in PHYSICAL:
        assert 0.55 * PRODUCT_COUNT <= per_wh[w] <= 0.85 * PRODUCT_COUNT, w


async def _digest() -> str:
    products = await Product.all().order_by("sku").values_list(
        "sku", "name", "category", "brand", "unit", "price", "models", "active")
    customers = await Customer.all().order_by("code").values_list(
        "code", "name", "aliases", "credit_limit", "contact", "phone", "address",
        "invoice_type", "tax_id", "bank", "account", "openid", "sales_owner", "active")
    stock = await Stock.all().order_by("warehouse__code", "product__sku").values_list(
        "warehouse__code", "product__sku", "on_hand", "reserved", "safety_stock")
    return hashlib.sha256(repr((products, customers, stock)).encode()).hexdigest()


async def _add_an_order() -> None:
    """Child rows of every kind, so the reload has to clear them first."""
    customer = await Customer.get(code="C0001")
    product = await Product.get(sku="BRK00001")
    warehouse = await Warehouse.get(code="HZ01")
    order = await Order.create(no="SO-DEMO-1", customer=customer, total=product.price)
    await OrderLine.create(order=order, product=product, sku=product.sku, name=product.name,
                           qty=1, unit_price=product.price, amount=product.price)
    await Shipment.create(order=order, seq=1, warehouse=warehouse,
                          lines=[{"sku": product.sku, "product_id": product.id, "qty": 1}])
    await OrderLog.create(order=order, actor="test", action="create")


# --- 90 days of demo history ------------------------------------------------------------


async def test_demo_history_gives_the_dashboard_and_calibration_something_true(
        db: str, settings: Settings) -> None:
    from datetime import UTC, datetime

    from bot import kpi
    from bot.calibration import recalibrate
    from bot.demo_history import DEMO_CHANNEL
    from bot.domain.eta import CST
    from integrations.carriers import sandbox
    from storage.chat_models import ChatQuestion
    from storage.models import OrderStatus
    from storage.reservations import Reservation

    now = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # a Friday, noon in China
    counts = await load_demo(settings, now=now)
    orders = await Order.all().order_by("id")
    assert counts["demo_orders"] == len(orders) > 90 * 25
    # clearly demo data, numbered as real orders are (LY + China date + id)
    assert {o.channel for o in orders} == {DEMO_CHANNEL}
    assert all(o.no == f"LY{o.created_at.astimezone(CST):%y%m%d}{o.id}" for o in orders)
    ships = await Shipment.all()
    assert ships and all(s.waybill_no.startswith("DEMO") for s in ships)
    # every day of the 90 has orders, none in the future, no drafts, no reservations
    days = {o.created_at.astimezone(CST).date() for o in orders}
    assert len(days) == 90 and max(o.created_at for o in orders) < now
    statuses = {o.status for o in orders}
    assert OrderStatus.draft not in statuses and OrderStatus.delivered in statuses
    assert OrderStatus.in_transit in statuses or OrderStatus.shipped in statuses
    held = [o for o in orders if o.status == OrderStatus.on_hold]
    assert 1 <= len(held) <= 4 and all(o.gates and not o.gates[0]["ok"] for o in held)
    assert await Reservation.all().count() == 0
    # parcels on their way are not polled (the sandbox would replay them 60× too fast)
    from storage.tracking_models import ShipmentTracking
    open_ones = await Shipment.filter(delivered_at__isnull=True).count()
    assert open_ones and await ShipmentTracking.filter(next_poll_at__isnull=True).count() == (
        open_ones)
    assert await OrderLine.all().count() >= len(orders)
    # delivered after the sandbox's own transit time for that waybill
    from integrations.geocode import short_name
    for s in await Shipment.filter(delivered_at__isnull=False).limit(40).prefetch_related(
            "order", "warehouse"):
        story = sandbox.story(s.waybill_no, sandbox.SandboxTrip(
            s.shipped_at, short_name(s.warehouse.city), short_name(s.order.city)), speed=1.0)
        assert s.delivered_at == story[-1].occurred_at, s.waybill_no
    # the dashboard shows 90 days of it, early and late both present
    d = await kpi.load(90, now, 2.0)
    assert sum(1 for day in d.days if day.placed) >= 85
    assert d.total("placed") == len(orders) - sum(
        1 for o in orders if o.status == OrderStatus.cancelled and o.confirmed_at is None)
    dl = d.deliveries
    assert dl.delivered > 2000 and dl.early_pct and dl.late_pct and dl.within_window_pct
    assert d.questions > 100 and await ChatQuestion.all().count() == counts["demo_questions"]
    assert d.held_now == len(held)
    assert d.demo_orders == len(orders)  # the dashboard marks them as demo data
    from bot.trackview import TrackingPageConfig
    from handlers import dashboard, pages
    access = dashboard.Access(TrackingPageConfig.from_settings(settings), now, "", 90)
    html = pages.render("pages/dashboard.html.j2", v=dashboard.view(d, access), css="x.css")
    assert 'id="demo-notice"' in html and f"{len(orders)} 单是演示历史" in html
    # calibration learns lanes from it
    report = await recalibrate(settings, now, dry_run=True)
    assert any("小时" in line for line in report.lines()), report.lines()


# --- README: the demo rows it lists are the ones loaded; no link outside the repository -----


def test_readme_lists_demo_rows_that_exist_and_links_only_inside_the_repo(
        settings: Settings) -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (root / target).exists(), target
    design = (root / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    assert "## 5. Public contract" in design
    data = build_demo(settings)
    customers = {c["code"]: c for c in data.customers}
    staff = {s["userid"]: s for s in data.staff}
    products = {p["sku"]: p for p in data.products}
    section = readme[readme.index("## Demo data to try"):]
    section = section[:section.index("\n## ", 5)]
    rows = re.findall(r"^\| (.+?) \| (C\d{4}) \| (\S+)[^|]*\| (\S+) \|$", section, re.M)
    assert len(rows) >= 4
    names = {s["userid"]: s["name"] for s in data.staff}
    for name, code, invoice, owner in rows:
        c = customers[code]
        assert (c["name"], c["invoice_type"], names[c["sales_owner"]]) == (name, invoice, owner)
        if invoice == "专票":
            assert c["tax_id"] and c["bank"] and c["account"]
    skus = re.findall(r"^\| ([A-Z]{3}\d{5}) \| (.+?) \| ([\d.]+) \|$", section, re.M)
    assert len(skus) >= 5
    for sku, name, price in skus:
        assert (products[sku]["name"], f"{products[sku]['price']:.2f}") == (name, price)
    listed = re.findall(r"([\u4e00-\u9fff]{2,3}) `([a-z]+)`", section)
    assert len(listed) == len(staff)
    for name, userid in listed:
        assert staff[userid]["name"] == name, (name, userid)
    assert staff["zhangwei"]["mobile"] in section
