"""`python bot.py parse "TEXT" [--customer CODE]`: the parsed draft as JSON, no side effects.

The caller initialises tortoise; this module reads the products and customers, builds the
parser index and parses. A long-running process should build the index once with
`load_index` and call `bot.domain.parser.parse` per message.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tortoise.exceptions import OperationalError

from bot.catalog import ProductInfo
from bot.config import Settings
from bot.domain.parser import CustomerRef, ParserIndex, parse
from integrations import geocode
from storage.models import Customer, Product


async def load_index() -> ParserIndex:
    """The parser index over every product and customer in the database."""
    rows = await Product.all().values_list(
        "id", "sku", "name", "category", "brand", "unit", "price", "models", "active")
    products = [ProductInfo(*r) for r in rows]
    customers = [CustomerRef(code, name, _aliases(aliases), active)
                 for code, name, aliases, active in await Customer.all().values_list(
                     "code", "name", "aliases", "active")]
    from bot import learning

    return ParserIndex.build(products, customers, geocode.parse, learnt=await learning.for_index())


async def parse_command(text: str, customer: str | None, settings: Settings) -> dict[str, Any]:
    """The draft of `text` as the JSON-ready dict `python bot.py parse` prints.

    Reads the database when it holds a catalogue; a missing or empty database parses
    against the demo data set built in memory, so nothing is written either way.
    """
    index = await load_index() if await _has_catalogue(settings) else demo_index(settings)
    return parse(text, index, customer).to_json()


def _exists(path: str) -> bool:
    return Path(path).exists()  # one stat, before any database work: not worth a thread


async def _has_catalogue(settings: Settings) -> bool:
    from storage import db

    if db.engine(settings.db_url) == "sqlite" and not _exists(db.sqlite_path(settings.db_url)):
        return False
    await db.init(settings.db_url, create=False)
    try:
        return await Product.exists()
    except OperationalError:  # no tables yet
        return False


def demo_index(settings: Settings) -> ParserIndex:
    from bot.demo import build_demo

    data = build_demo(settings)
    products = [ProductInfo(i, p["sku"], p["name"], p["category"], p["brand"], p["unit"],
                            p["price"], p["models"], True)
                for i, p in enumerate(data.products, start=1)]
    customers = [CustomerRef(c["code"], c["name"], _aliases(c["aliases"]), c["active"])
                 for c in data.customers]
    return ParserIndex.build(products, customers, geocode.parse)


def _aliases(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(a.strip() for a in value.split(";") if a.strip())
    if isinstance(value, Iterable):
        return tuple(str(a) for a in value if str(a).strip())
    return ()
