"""The parser as a service: builds the index from the database once, rebuilds it when the
catalogue or the customer list changes, and answers drafts as JSON dicts."""

from __future__ import annotations

import asyncio
from typing import Any

from bot import learning
from bot.catalog import Catalog
from bot.domain import parser as p
from bot.parse_cli import load_index
from storage.models import Customer


class ParserService:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._index: p.ParserIndex | None = None
        self._built_for: tuple[int, int, tuple[int, int]] | None = None
        self._lock = asyncio.Lock()

    async def index(self) -> p.ParserIndex:
        cat = await self.catalog.fresh()
        stamp = (cat.version, await Customer.all().count(), await learning.stamp())
        if self._index is None or self._built_for != stamp:
            async with self._lock:
                if self._index is None or self._built_for != stamp:
                    self._index, self._built_for = await load_index(), stamp
        return self._index

    async def parse(self, text: str, customer: str | None = None,
                    team: str = "") -> dict[str, Any]:
        return p.parse(text, await self.index(), customer, team).to_json()

    async def phrases(self, text: str, team: str = "") -> list[dict[str, Any]]:
        """[{sku, phrase}] per draft line of `text`: the words a salesperson wrote for each
        line, kept with an order card so a 修改 of the line can teach the parser."""
        draft = p.parse(text, await self.index(), None, team)
        return [{"sku": ln.sku, "phrase": ln.phrase} for ln in draft.lines]

    async def search_products(self, text: str, limit: int = 5) -> list[dict[str, Any]]:
        """Products a free-text name points at: the match, or its candidates, best first."""
        draft = await self.parse(text)
        if not draft["lines"]:
            return []
        line = draft["lines"][0]
        if line["sku"]:
            return [{"sku": line["sku"], "name": line["name"], "score": 1.0}]
        return list(line.get("candidates", []))[:limit]
