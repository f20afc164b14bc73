"""Spreadsheet orders (bot/sheet_orders.py): reading and matching a full sheet on the
18,000-SKU demo catalogue, without placing (placing is POST /api/orders' cost per customer).

    python bench/sheet_orders.py [--rows 500] [--runs 5]

Loads the demo into a temporary SQLite database, writes an .xlsx of `--rows` rows (the
row limit by default) for 20 customers: a third by SKU code (some lower case), a third by
the product's catalogue name, a third by code and name, and times `read_orders` (read the
file, map the header, find customers, match every row through the parser). Prints the
median and the rows matched. The parser index is built once before timing (a running
server has it).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from openpyxl import Workbook  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from bot import config, sheet_orders  # noqa: E402
from bot.catalog import Catalog  # noqa: E402
from bot.demo import load_demo  # noqa: E402
from bot.parsing import ParserService  # noqa: E402
from storage import db  # noqa: E402
from storage.models import Customer, Product  # noqa: E402


def sheet(rows: int, customers: list[str], products: list[tuple[str, str]],
          rng: random.Random) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["客户编码", "商品编码", "商品名称", "数量", "单价", "备注"])
    for i in range(rows):
        sku, name = rng.choice(products)
        kind = i % 3
        code = (sku.lower() if rng.random() < 0.3 else sku) if kind != 1 else ""
        ws.append([rng.choice(customers), code, name if kind else "", rng.randint(1, 40),
                   None, ""])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def run(args: argparse.Namespace) -> None:
    settings = config.defaults()
    with tempfile.TemporaryDirectory() as tmp:
        await db.init(f"sqlite://{tmp}/bench.sqlite3")
        try:
            await load_demo(settings, history_days=0)
            rng = random.Random(7)
            customers = [c async for c in Customer.all().limit(20).values_list("code", flat=True)]
            products = list(await Product.all().values_list("sku", "name"))
            print(f"catalogue: {len(products)} SKUs; sheet: {args.rows} rows, "
                  f"{len(customers)} customers")
            parser = ParserService(Catalog(settings))
            t0 = time.perf_counter()
            await parser.index()
            print(f"parser index built in {time.perf_counter() - t0:.2f} s (not timed below)")
            cat = await parser.catalog.fresh()
            data = sheet(args.rows, customers, products, rng)
            print(f"file: {len(data) / 1024:.0f} KB")
            times, result = [], None
            for _ in range(args.runs):
                t0 = time.perf_counter()
                result = await sheet_orders.read_orders(data, "bench.xlsx", parser, cat.products)
                times.append(time.perf_counter() - t0)
            assert result is not None
            matched = sum(len(o.lines) for o in result.orders)
            med = statistics.median(times)
            print(f"read_orders: median {med * 1000:.0f} ms over {args.runs} runs "
                  f"({args.rows / med:.0f} rows/s); matched {matched}/{result.total_rows}, "
                  f"unmatched {len(result.unmatched)}, {len(result.orders)} customers")
            for u in result.unmatched[:args.show]:
                print("  " + u.text_zh())
        finally:
            await Tortoise.close_connections()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=sheet_orders.MAX_ROWS)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--show", type=int, default=10, help="unmatched rows to print")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
