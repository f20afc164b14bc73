"""Order master view bench: 查客户 / GET /api/customers/{code} over 500 customers × 100,000
orders on SQLite.

    python bench/customer_view.py [--customers 500] [--orders 100000] [--lookups 300] [--keep]

The script:
1. creates a fresh SQLite database in a temp dir with the project's schema, 5 warehouses
   (杭州/上海/南京/广州/北京), 400 products with stock in every warehouse, and `--customers`
   customers with addresses in those cities (every third one 专票 with its tax data);
2. bulk-inserts `--orders` orders spread evenly over the customers and the last 180 days
   (1–3 lines each; 2 % drafts, 3 % cancelled, the rest delivered except those of the
   last three days, of which 5 % are allocated and 5 % in transit with three tracking
   events), one shipment per order (executemany, one
   transaction, then ANALYZE);
3. times the whole view — `bot.customerview.load` plus the API's JSON shape plus the chat
   text — for `--lookups` random customers after 10 untimed warm-ups, in this process, on
   the project's tortoise connection.

It prints the machine, the seed time, per lookup p50 / p95 / max ms, the size of a typical
answer, and the target: p95 < 300 ms. Exit status 1 when the target is missed. No network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from intake import machine_lines  # noqa: E402

TARGET_MS = 300.0
CITIES = [  # code, name, city, province, lat, lon, a street there
    ("HZ01", "杭州仓", "杭州", "浙江", 30.2741, 120.1551, "浙江省杭州市西湖区文三路{n}号"),
    ("SH01", "上海仓", "上海", "上海", 31.2304, 121.4737, "上海市嘉定区莘松路{n}号"),
    ("NJ01", "南京仓", "南京", "江苏", 32.0603, 118.7969, "江苏省南京市鼓楼区中山路{n}号"),
    ("GZ01", "广州仓", "广州", "广东", 23.1291, 113.2644, "广东省广州市天河区天河路{n}号"),
    ("BJ01", "北京仓", "北京", "北京", 39.9042, 116.4074, "北京市朝阳区建国路{n}号"),
]
PRODUCTS = 400
CATEGORIES = ("BRK", "OIL", "FLT", "TYR", "BAT")
ORDER_COLS = ("id", "no", "customer_id", "status", "channel", "priority", "address_raw",
              "province", "city", "district", "adcode", "invoice_type", "tax_id", "bank",
              "account", "total", "gates", "promised_at", "created_at", "confirmed_at",
              "shipped_at", "delivered_at", "salesperson")
LINE_COLS = ("order_id", "product_id", "sku", "name", "category", "qty", "unit_price",
             "amount")
SHIP_COLS = ("id", "order_id", "seq", "warehouse_id", "carrier", "waybill_no", "status",
             "reserved", "promised_at", "shipped_at", "delivered_at", "lines")
EVENT_COLS = ("shipment_id", "carrier", "waybill", "status", "occurred_at", "location",
              "description", "raw", "received_at", "dedupe_key")


async def create_base(url: str, customers: int) -> None:
    from bot.domain.invoice import uscc_with_check
    from storage import db
    from storage.models import Customer, Product, Stock, Warehouse

    await db.init(url)
    whs = [await Warehouse.create(code=c, name=n, city=city, province=prov, lat=lat, lon=lon,
                                  cutoff="16:00") for c, n, city, prov, lat, lon, _ in CITIES]
    await Product.bulk_create([
        Product(sku=f"{CATEGORIES[i % 5]}{i:05d}", name=f"测试商品{i} 适用车型{i % 37}",
                category=CATEGORIES[i % 5], price=Decimal(20 + i % 300))
        for i in range(1, PRODUCTS + 1)])
    prods = await Product.all()
    await Stock.bulk_create([Stock(warehouse_id=w.id, product_id=p.id, on_hand=(p.id * 7 + w.id)
                                   % 300) for w in whs for p in prods], batch_size=1000)
    await Customer.bulk_create([Customer(
        code=f"C{i:04d}", name=f"测试汽修厂{i}", credit_limit=Decimal(200000),
        exposure=Decimal(1000 + i), contact="王师傅", phone=f"138{i:08d}",
        address=CITIES[i % 5][6].format(n=i), invoice_type="专票" if i % 3 == 0 else "普票",
        tax_id=uscc_with_check(f"91330106MA2B{i:05d}") if i % 3 == 0 else "",
        bank="中国工商银行" if i % 3 == 0 else "", account="6222021202001234" if i % 3 == 0
        else "") for i in range(1, customers + 1)])
    await db.close()


def generate(customers: int, orders: int, now: datetime, seed: int = 2026
             ) -> tuple[list[tuple[Any, ...]], ...]:
    rnd = random.Random(seed)
    o_rows, l_rows, s_rows, e_rows = [], [], [], []
    for oid in range(1, orders + 1):
        cust = 1 + (oid - 1) % customers
        created = now - timedelta(days=180 * (1 - oid / orders), hours=rnd.random() * 6)
        r = rnd.random()
        status = ("draft" if r < 0.02 else "cancelled" if r < 0.05 else "allocated"
                  if r < 0.10 else "in_transit" if r < 0.15 else "delivered")
        if status in ("allocated", "in_transit") and created < now - timedelta(days=3):
            status = "delivered"  # what is still moving was ordered in the last days
        shipped = created + timedelta(hours=4) if status in ("in_transit", "delivered") else None
        promised = created + timedelta(hours=36)
        delivered = created + timedelta(hours=30 + rnd.random() * 12) if status == "delivered" \
            else None
        if delivered is not None and delivered > now:
            status, delivered = "in_transit", None
        total = Decimal(0)
        picks = []
        for _ in range(rnd.choice((1, 1, 2, 3))):
            pid = 1 + int(rnd.paretovariate(1.2) * 7) % PRODUCTS
            qty = rnd.randint(1, 10)
            price = Decimal(20 + pid % 300)
            total += price * qty
            sku = f"{CATEGORIES[pid % 5]}{pid:05d}"
            l_rows.append((oid, pid, sku, f"测试商品{pid} 适用车型{pid % 37}", CATEGORIES[pid % 5],
                           qty, price, price * qty))
            picks.append({"sku": sku, "product_id": pid, "qty": qty})
        city = CITIES[cust % 5]
        o_rows.append((oid, f"LYB{oid:09d}", cust, status, "wecom", 0, city[6].format(n=cust),
                       city[3], city[2], "", "", "普票", "", "", "", total, "[]", promised,
                       created, created + timedelta(minutes=3), shipped, delivered, "zhangwei"))
        if status in ("draft", "cancelled"):
            continue
        wh = 1 + cust % 5
        waybill = f"SBX{oid:012d}" if shipped else None
        s_rows.append((oid, oid, 1, wh, "sandbox", waybill, status, status == "allocated",
                       promised, shipped, delivered, json.dumps(picks)))
        if status == "in_transit":
            for k, (code, where) in enumerate((("collected", "揽收"), ("in_transit", "转运中心"),
                                               ("in_transit", "目的地分拨"))):
                at = shipped + timedelta(hours=2 + 6 * k)
                e_rows.append((oid, "sandbox", waybill, code, at, f"{city[2]}{where}",
                               f"快件已到达{where}", "{}", at, f"sbx-{oid}-{k}"))
    return o_rows, l_rows, s_rows, e_rows


def _text(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat(" ")
    return str(v) if isinstance(v, Decimal) else v


def seed(path: str, rows: tuple[list[tuple[Any, ...]], ...]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for table, cols, data in zip(("orders", "order_lines", "shipments", "tracking_events"),
                                     (ORDER_COLS, LINE_COLS, SHIP_COLS, EVENT_COLS), rows,
                                     strict=True):
            marks = ", ".join("?" * len(cols))
            conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                             ([_text(v) for v in r] for r in data))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def measure(url: str, customers: int, lookups: int) -> tuple[list[float], int, str]:
    from bot import customerview as cv
    from bot.catalog import Catalog
    from bot.config import defaults
    from bot.domain.orders import STATUS_ZH
    from bot.ordering import OrderService
    from handlers.chat.customers import render
    from handlers.views import iso
    from storage import db
    from storage.models import Customer

    await db.init(url)
    try:
        settings = defaults()
        service = OrderService(settings, Catalog(settings))
        rnd = random.Random(7)

        async def one(code: str) -> tuple[float, int, str]:
            t0 = time.perf_counter()
            cat = await service.catalog.fresh()
            customer = await Customer.get(code=code)
            view = await cv.load(customer, cat)
            body = json.dumps(cv.as_json(view, cat, iso, STATUS_ZH), ensure_ascii=False)
            text = render(view, service)
            return (time.perf_counter() - t0) * 1000, len(body.encode()), text

        for _ in range(10):
            await one(f"C{rnd.randint(1, customers):04d}")
        walls, size, text = [], 0, ""
        for _ in range(lookups):
            ms, size, text = await one(f"C{rnd.randint(1, customers):04d}")
            walls.append(ms)
        return walls, size, text
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=500)
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=300)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="lvyue-custview-")
    path = str(Path(tmp) / "bench.db")
    url = f"sqlite://{path}"
    try:
        print("\n".join(machine_lines()))
        t0 = time.perf_counter()
        asyncio.run(create_base(url, args.customers))
        rows = generate(args.customers, args.orders, datetime.now(UTC))
        seed(path, rows)
        print(f"seeded {args.customers} customers, {len(rows[0]):,} orders, {len(rows[1]):,} "
              f"lines, {len(rows[2]):,} shipments, {len(rows[3]):,} tracking events in "
              f"{time.perf_counter() - t0:.1f} s")
        walls, size, text = asyncio.run(measure(url, args.customers, args.lookups))
        q = statistics.quantiles(walls, n=100)
        p50, p95 = statistics.median(walls), q[94]
        print(f"order master view ({args.lookups} lookups): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
              f"max {max(walls):.1f} ms; JSON {size:,} bytes")
        print("one chat answer:\n" + "\n".join("  " + ln for ln in text.splitlines()[:14]))
        ok = p95 < TARGET_MS
        print(f"target p95 < {TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
