"""Every parse result of six corpora as JSON lines, to show a speed change changes nothing.

    python bench/parser_golden.py before.jsonl     # on the old code
    python bench/parser_golden.py after.jsonl      # on the new code
    cmp before.jsonl after.jsonl

The corpora: 3,000 + 1,000 generated messages over the 18,000-SKU demo catalogue (as
bench/parser.py writes them, seeds 7 and 99), the hand-written corpus
(tests/bot/parser_corpus.py), the held-out catalogue's messages, and the three generated
catalogues of bench/catalogs.py at seeds 11 and 23 (4,841 messages in all, ~10 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import catalogs, parser_eval  # noqa: E402
from bench.parser import demo_index, generated  # noqa: E402
from bot.domain.parser import ParserIndex, parse  # noqa: E402
from tests.bot.parser_corpus import CORPUS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    count = 0
    with args.out.open("w", encoding="utf-8") as out:

        def dump(tag: str, texts: list[str], index: ParserIndex) -> None:
            nonlocal count
            for text in texts:
                draft = parse(text, index).to_json()
                out.write(json.dumps([tag, text, draft], ensure_ascii=False, default=str) + "\n")
                count += 1

        data, index = demo_index()
        dump("generated", generated(data, 3000, 7) + generated(data, 1000, 99), index)
        dump("corpus", [c.text for c in CORPUS], index)
        dump("heldout", [c.text for c in parser_eval.heldout_cases("all")],
             parser_eval.heldout_index())
        for name in catalogs.SHAPES:
            for seed in (11, 23):
                cat = catalogs.build(name, seed)
                dump(f"{name}:{seed}", [c.text for c in catalogs.corpus(cat, seed)], cat.index())
    print(f"{count:,} parse results written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
