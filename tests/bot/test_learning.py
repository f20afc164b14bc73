"""Learnt aliases: a phrase a salesperson resolved means that SKU for the team next time,
survives a catalogue re-import, never overrides a SKU code, and can be listed and deleted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot import aliases_cli, learning
from bot.catalog import Catalog
from bot.config import Settings
from bot.parsing import ParserService
from storage.models import Product


async def _line(parser: ParserService, text: str, team: str = "") -> dict[str, Any]:
    draft = await parser.parse(text, team=team)
    return {"line": draft["lines"][0], "questions": draft["questions"]}


async def test_a_picked_candidate_is_used_next_time(world: Any, settings: Settings) -> None:
    await Product.create(sku="BRK00002", name="博世 后刹车片 大众朗逸 0986AB1235",
                         category="BRK", price=Decimal("100.00"))
    catalog = Catalog(settings)
    catalog.invalidate()
    parser = ParserService(catalog)
    first = await _line(parser, "恒通汽修 博世朗逸刹车片 x4")
    assert first["line"]["sku"] is None  # front or rear: a question
    phrase = first["line"]["name"]
    assert await learning.learn("team-a", phrase, "BRK00002", "zhangwei") is not None

    again = await _line(parser, "恒通汽修 博世朗逸刹车片 x4", team="team-a")
    assert (again["line"]["sku"], again["line"]["qty"]) == ("BRK00002", 4)
    assert again["line"]["confidence"] >= 0.9 and again["questions"] == []
    other = await _line(parser, "恒通汽修 博世朗逸刹车片 x4", team="team-b")
    assert other["line"]["sku"] is None  # another team's word is not ours

    # a SKU code written in the line always wins over the learnt phrase
    coded = await _line(parser, "恒通汽修 BRK00001 x4", team="team-a")
    assert coded["line"]["sku"] == "BRK00001"

    # a re-import (the catalogue changes) keeps the alias
    await Product.filter(sku="BRK00002").update(price=Decimal("99.00"))
    catalog.invalidate()
    kept = await _line(parser, "恒通汽修 博世朗逸刹车片 x4", team="team-a")
    assert kept["line"]["sku"] == "BRK00002"


async def test_aliases_list_and_delete(world: Any, capsys: Any) -> None:
    row = await learning.learn("", "卡罗拉风格", "FLT00001", "lina")
    assert row is not None
    assert await learning.learn("", "FLT00001", "FLT00001") is None  # a code is not a phrase

    class Args:
        aliases_command, team, id = "list", None, row.id

    assert await aliases_cli.run(Args()) == 0  # type: ignore[arg-type]
    assert "卡罗拉风格 → FLT00001" in capsys.readouterr().out
    Args.aliases_command = "delete"
    assert await aliases_cli.run(Args()) == 0  # type: ignore[arg-type]
    assert await learning.listing() == []
    assert await aliases_cli.run(Args()) == 2  # type: ignore[arg-type]
