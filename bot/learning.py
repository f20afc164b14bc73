"""Phrases a team taught the parser: a salesperson picked a candidate on a choice card (or
corrected a line), so the phrase means that SKU for the team from now on.

Stored in learnt_aliases (storage/alias_models.py), apart from the catalogue: a re-import
keeps them; an alias whose SKU is no longer in the catalogue is ignored, not deleted. The
parser uses them with high confidence but never over a SKU code written in the line.
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError, OperationalError

from bot.domain.parser_index import phrase_key
from storage.alias_models import LearntAlias

MAX_PHRASE = 128


async def learn(team: str, phrase: str, sku: str, by: str = "",
                kind: str = "product") -> LearntAlias | None:
    """Remember `phrase` → `sku` (or, with kind "customer", → a customer code) for `team`
    (the latest choice wins); None for a phrase with nothing to key on (a bare code is not
    worth learning)."""
    key = phrase_key(phrase)[:MAX_PHRASE]
    if not key or key == phrase_key(sku):
        return None
    row = await LearntAlias.get_or_none(team=team, kind=kind, phrase=key)
    if row is not None:
        row.target, row.label, row.learnt_by = sku, phrase[:MAX_PHRASE], by
        await row.save(update_fields=["target", "label", "learnt_by"])
        return row
    try:
        return await LearntAlias.create(team=team, kind=kind, phrase=key, target=sku,
                                        label=phrase[:MAX_PHRASE], learnt_by=by)
    except IntegrityError:  # learnt by a concurrent pick: the same thing
        return await LearntAlias.get_or_none(team=team, kind=kind, phrase=key)


async def customer_for(team: str, phrase: str) -> str | None:
    """The customer code `team` (else everyone) taught for the words `phrase`, if any."""
    key = phrase_key(phrase)[:MAX_PHRASE]
    if not key:
        return None
    rows = await LearntAlias.filter(kind="customer", phrase=key, team__in=(team, "")
                                    ).values_list("team", "target")
    by_team = dict(rows)
    return by_team.get(team) or by_team.get("")


async def for_index() -> list[tuple[str, str, str]]:
    """(team, phrase key, SKU) of every learnt product phrase; [] before the table exists."""
    try:
        rows = await LearntAlias.filter(kind="product").values_list("team", "phrase", "target")
    except OperationalError:
        return []
    return [(str(t), str(p), str(s)) for t, p, s in rows]


async def stamp() -> tuple[int, int]:
    """Changes whenever an alias is learnt or deleted (the parser index is rebuilt)."""
    try:
        last = await LearntAlias.all().order_by("-id").first()
        return await LearntAlias.all().count(), last.id if last else 0
    except OperationalError:
        return 0, 0


async def listing(team: str | None = None) -> list[LearntAlias]:
    query = LearntAlias.all() if team is None else LearntAlias.filter(team=team)
    return await query.order_by("team", "id")


async def delete(alias_id: int) -> bool:
    return bool(await LearntAlias.filter(id=alias_id).delete())
