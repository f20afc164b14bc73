"""The customers as the parser sees them: codes, names and aliases, rare characters (pure)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.domain.parser_lexicon import Entry, Lexicon
from bot.domain.parser_text import normalize_name


@dataclass(frozen=True)
class CustomerRef:
    code: str
    name: str
    aliases: tuple[str, ...] = ()
    active: bool = True


@dataclass(repr=False)
class CustomerTable:
    refs: list[CustomerRef] = field(default_factory=list)
    by_code: dict[str, int] = field(default_factory=dict)
    by_compact: dict[str, str] = field(default_factory=dict)  # KH001 → KH-001
    exact: dict[str, list[int]] = field(default_factory=dict)  # name or alias → customers
    exact_is_name: dict[str, bool] = field(default_factory=dict)
    lexicon: Lexicon = field(default_factory=lambda: Lexicon({}))
    char_owners: dict[str, set[int]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    chars: list[frozenset[str]] = field(default_factory=list)
    strings: list[tuple[str, ...]] = field(default_factory=list)  # name and aliases


def build_customers(customers: Iterable[CustomerRef]) -> CustomerTable:
    t = CustomerTable()
    exact: dict[str, list[int]] = defaultdict(list)
    owners: dict[str, set[int]] = defaultdict(set)
    for i, c in enumerate(customers):
        t.refs.append(c)
        code = normalize_name(c.code).strip()
        t.by_code[code] = i
        compact = "".join(ch for ch in code if ch.isascii() and ch.isalnum())
        if compact != code and len(compact) >= 3:
            t.by_compact[compact] = code
        strings = tuple(dict.fromkeys(
            normalize_name(s).strip() for s in (c.name, *c.aliases) if s and s.strip()))
        t.strings.append(strings)
        for k, s in enumerate(strings):
            if len(s) >= 2:
                exact[s].append(i)
                t.exact_is_name[s] = t.exact_is_name.get(s, False) or k == 0
        chars = frozenset(ch for s in strings for ch in s if not ch.isspace())
        t.chars.append(chars)
        for ch in chars:
            owners[ch].add(i)
    t.exact = dict(exact)
    t.char_owners = dict(owners)
    n = max(1, len(t.refs))
    t.idf = {ch: math.log(1 + n / len(o)) for ch, o in owners.items()}
    t.lexicon = Lexicon({s: Entry("customer", s, 0) for s in t.exact})
    return t
