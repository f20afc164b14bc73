"""Order-text parser throughput over the 18,000-SKU demo catalogue (in memory, no database).

    python bench/parser.py [--seconds 5] [--messages 2000] [--seed 7]

Builds the demo data set with `build_demo`, times `ParserIndex.build`, then parses two sets
of messages in a loop on one core:

- the parser corpus (tests/bot/parser_corpus.py): ~100 hand-written messages, including
  quote cards, pipe tables, addresses and invoices;
- generated chat messages: 1-4 lines each, written from random catalogue products the way
  salespeople type them (brand, position, part word or a synonym, model, spec, part number
  or SKU, a quantity in one of the forms, sometimes a price), a customer alias or code, and
  in one message of three a delivery address.

Addresses go through integrations.geocode.parse, which caches (an lru_cache of 8,192). The
figure "warm" is with the cache filled by a first pass (a customer's addresses repeat);
"cold addresses" clears the cache before every message, so each address is placed afresh.
Exit code 1 when the warm figure is below the 2,000 messages/s target.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot import config  # noqa: E402
from bot.catalog import ProductInfo  # noqa: E402
from bot.demo import build_demo  # noqa: E402
from bot.domain.parser import CustomerRef, ParserIndex, parse  # noqa: E402
from integrations import geocode  # noqa: E402

TARGET_PER_S = 2_000
SYNONYMS = {"机油滤清器": "机滤", "空气滤清器": "空滤", "空调滤清器": "空调滤芯",
            "燃油滤清器": "汽油滤芯", "火花塞": "火嘴", "蓄电池": "电瓶", "雨刮片": "雨刷",
            "减震器": "避震", "刹车片": "刹车皮"}
QTY_FORMS = ("x{n}", "×{n}", "*{n}", "{n}{u}", "数量:{n}", "{cn}{u}", "{fw}{u}", " {n}")
CN = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 8: "八", 10: "十", 12: "十二",
      20: "二十", 24: "二十四", 40: "四十"}


def _fullwidth(n: int) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in str(n))


def product_text(p: dict[str, Any], rng: random.Random) -> str:
    """How a salesperson might name the product."""
    if rng.random() < 0.15:
        sku = str(p["sku"])
        return sku.lower() if rng.random() < 0.3 else sku
    toks = p["name"].split()
    if p["category"] in ("OIL", "TYR", "BAT", "FLU") or "灯泡" in p["name"]:
        return " ".join(toks if rng.random() < 0.5 else toks[:-1])
    brand, part, fitment, *rest = toks
    for full, short in SYNONYMS.items():
        if part.endswith(full) and rng.random() < 0.5:
            part = part[: -len(full)] + short
    model = fitment.split("/")[0]
    model = model[2:] if rng.random() < 0.6 and len(model) > 3 else model
    words = [brand, part, model] + ([rest[-1]] if rest and rng.random() < 0.5 else [])
    rng.shuffle(words)
    return " ".join(words)


def qty_text(rng: random.Random, unit: str) -> str:
    n = rng.choice(sorted(CN))
    return rng.choice(QTY_FORMS).format(n=n, u=unit, cn=CN[n], fw=_fullwidth(n))


def generated(data: Any, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    customers = data.customers
    out = []
    for _ in range(count):
        c = rng.choice(customers)
        who = rng.choice((c["code"], c["name"], c["aliases"][0]))
        lines = [who]
        for _ in range(rng.randint(1, 4)):
            p = rng.choice(data.products)
            line = f"{product_text(p, rng)} {qty_text(rng, p['unit'])}"
            if rng.random() < 0.3:
                line += f" @{int(p['price'])}"
            lines.append(line)
        if rng.random() < 0.33:
            lines.append(f"送到{c['address']}")
        out.append("\n".join(lines))
    return out


def _refs(data: Any) -> tuple[list[ProductInfo], list[CustomerRef]]:
    products = [ProductInfo(i + 1, p["sku"], p["name"], p["category"], p["brand"], p["unit"],
                            p["price"], p["models"], True) for i, p in enumerate(data.products)]
    customers = [CustomerRef(c["code"], c["name"], tuple(c["aliases"]), c["active"])
                 for c in data.customers]
    return products, customers


def demo_index() -> tuple[Any, ParserIndex]:
    """The demo data set and the parser index over its 18,000 products."""
    data = build_demo(config.defaults())
    return data, ParserIndex.build(*_refs(data), geocode.parse)


def corpus_texts() -> list[str]:
    try:
        from tests.bot.parser_corpus import CORPUS
    except ImportError:
        return []
    return [case.text for case in CORPUS]


def rate(messages: Sequence[str], index: ParserIndex, seconds: float,
         before_each: Callable[[], None] | None = None) -> tuple[float, list[float]]:
    """Messages per second over at least `seconds`, and per-message latencies in ms."""
    lat: list[float] = []
    n, start = 0, time.perf_counter()
    while True:
        for text in messages:
            if before_each:
                before_each()
            t0 = time.perf_counter()
            parse(text, index)
            lat.append((time.perf_counter() - t0) * 1000)
            n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed, lat


def _report(label: str, per_s: float, lat: list[float]) -> None:
    lat = sorted(lat)

    def p(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    print(f"{label:<34} {per_s:>8,.0f} msg/s   p50 {p(0.5):.3f} ms  p99 {p(0.99):.3f} ms  "
          f"max {lat[-1]:.2f} ms  mean {statistics.fmean(lat):.3f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{platform.processor() or platform.platform()}")
    data = build_demo(config.defaults())
    t0 = time.perf_counter()
    index = ParserIndex.build(*_refs(data), geocode.parse)
    print(f"index build: {time.perf_counter() - t0:.2f} s over {len(data.products):,} products, "
          f"{len(data.customers)} customers")
    sets = {"corpus": corpus_texts(), "generated": generated(data, args.messages, args.seed)}
    warm_rates = []
    for name, messages in sets.items():
        if not messages:
            print(f"{name}: no messages")
            continue
        rate(messages, index, 0.0)  # first pass: warms caches (geocode, regex)
        per_s, lat = rate(messages, index, args.seconds)
        warm_rates.append(per_s)
        _report(f"{name} ({len(messages)} msgs), warm", per_s, lat)
        per_s, lat = rate(messages, index, args.seconds / 2, geocode.parse.cache_clear)
        _report(f"{name}, cold addresses", per_s, lat)
    ok = bool(warm_rates) and min(warm_rates) >= TARGET_PER_S
    print(f"target >= {TARGET_PER_S:,} msg/s (warm): {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
