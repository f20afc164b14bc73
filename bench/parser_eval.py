"""Parser accuracy on the demo corpus and on a held-out catalogue it was not tuned on.

    python bench/parser_eval.py [--misses] [--set heldout|dev|all]

- demo: the demo data set (seed 2026, 18,000 SKUs) and the hand-written corpus of
  tests/bot/parser_corpus.py (the regression set the parser was developed on);
- heldout / dev: tests/data/heldout/products.csv and customers.csv (another distributor:
  other SKU shapes such as FLT-OC-3302, 0986.AB.1234, bosch-p85020, `BAT 70-L`, other
  brands and naming) with tests/data/heldout/messages.jsonl. The "heldout" messages were
  written before the parser was changed for this catalogue and are only scored; "dev" is a
  separate, smaller set that may be looked at while iterating.

Per field: customer, each expected line's SKU / quantity / unit price (a missing line is
wrong in all three, an extra line is a wrong SKU), and whether the draft asked a question
exactly when one is expected. "confident and wrong" counts lines given a SKU that is not
the expected one (the parser may ask too much, never guess wrong). Throughput is measured
by parsing each message set in a loop for about a second per catalogue on one core.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot import config  # noqa: E402
from bot.catalog import ProductInfo  # noqa: E402
from bot.domain.parser import CustomerRef, ParserIndex, parse  # noqa: E402
from bot.parse_cli import demo_index  # noqa: E402
from integrations import geocode  # noqa: E402
from tests.bot.parser_corpus import CORPUS, Case  # noqa: E402
from tests.bot.test_parser_corpus import score_case  # noqa: E402

HELDOUT = REPO / "tests" / "data" / "heldout"
FIELDS = ("customer", "line.sku", "line.qty", "line.unit_price", "question")


def heldout_index(folder: Path = HELDOUT) -> ParserIndex:
    with (folder / "products.csv").open(encoding="utf-8-sig") as f:
        products = [ProductInfo(i, r["商品编码"], r["商品名称"], r["品类"], r["品牌"], r["单位"],
                                Decimal(r["单价"]), r["适用车型"], True)
                    for i, r in enumerate(csv.DictReader(f), start=1)]
    with (folder / "customers.csv").open(encoding="utf-8-sig") as f:
        customers = [CustomerRef(r["客户编码"], r["客户名称"],
                                 tuple(a for a in r["别名"].split(";") if a), True)
                     for r in csv.DictReader(f)]
    return ParserIndex.build(products, customers, geocode.parse)


def heldout_cases(which: str, folder: Path = HELDOUT) -> list[Case]:
    cases = []
    for raw in (folder / "messages.jsonl").read_text(encoding="utf-8").splitlines():
        m = json.loads(raw)
        if which in ("all", m["set"]):
            lines = tuple((s, q, p) for s, q, p in m["lines"])
            cases.append(Case(m["text"], m["customer"], lines, m["asks"], note=m["set"]))
    return cases


def score(cases: list[Case], index: ParserIndex) -> tuple[dict[str, list[bool]], list[str],
                                                          list[str]]:
    totals: dict[str, list[bool]] = defaultdict(list)
    misses, wrong = [], []
    for n, case in enumerate(cases, start=1):
        out = parse(case.text, index, case.cli_customer).to_json()
        marks, bad = score_case(case, out)
        for field in FIELDS:
            totals[field] += marks[field]
        failed = [f for f in FIELDS if not all(marks[f])]
        if failed:
            got = [(line["sku"], line["qty"], line["unit_price"]) for line in out["lines"]]
            cust = out["customer"]["code"] if out["customer"] else None
            misses.append(f"#{n} {case.text!r}: {', '.join(failed)} | got {cust} {got} | "
                          f"want {case.customer} {list(case.lines)} | q={out['questions']}")
        wrong += [f"#{n} {case.text[:30]!r}: {w}" for w in bad]
    return totals, misses, wrong


def throughput(cases: list[Case], index: ParserIndex, seconds: float = 1.0) -> float:
    texts = [c.text for c in cases]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for t in texts:
            parse(t, index)
        done += len(texts)
    return done / (time.perf_counter() - start)


def table(title: str, totals: dict[str, list[bool]], wrong: list[str], rate: float) -> str:
    rows = [title, f"  {'field':<16}{'right':>7}{'of':>6}{'accuracy':>10}"]
    right = count = 0
    for field in FIELDS:
        v = totals[field]
        right, count = right + sum(v), count + len(v)
        rows.append(f"  {field:<16}{sum(v):>7}{len(v):>6}{sum(v) / max(1, len(v)):>10.1%}")
    rows.append(f"  {'all fields':<16}{right:>7}{count:>6}{right / max(1, count):>10.1%}")
    rows.append(f"  confident and wrong: {len(wrong)}    throughput: {rate:,.0f} msgs/s")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--misses", action="store_true", help="list the cases with a wrong field")
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    demo = demo_index(config.defaults())
    t1 = time.perf_counter()
    held = heldout_index()
    sets: list[tuple[str, list[Case], ParserIndex]] = [
        (f"demo corpus ({len(CORPUS)} messages, 18,000 SKUs; index built in {t1 - t0:.1f} s)",
         list(CORPUS), demo),
    ]
    for which in ("heldout", "dev"):
        cases = heldout_cases(which)
        sets.append((f"{which} ({len(cases)} messages, held-out catalogue)", cases, held))
    for title, cases, index in sets:
        totals, misses, wrong = score(cases, index)
        print(table(title, totals, wrong, throughput(cases, index, args.seconds)))
        for line in wrong:
            print(f"    WRONG {line}")
        if args.misses:
            for line in misses:
                print(f"    miss {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
