"""Match one order item to the catalogue (pure).

Hard constraints narrow the products with bitset ANDs: part words, brand, model (or make),
specs, part numbers and position. Position and part words are never relaxed (a 后刹车片 is
never offered as a 前刹车片). When nothing fits, brand, model, specs and part numbers are
dropped step by step; anything found that way is only offered, never chosen. Preferences
then narrow the fitting products: the exact part word over a longer one (铱金火花塞 over
双铱金火花塞), a stated position over none, a model-specific part over a universal one, and
finally the leftover words, scored with rapidfuzz over the remaining names. One product left
means a match; several mean a question listing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz import fuzz, process

from bot.domain.parser_chunks import Item, Span
from bot.domain.parser_index import ParserIndex, ProductTable, members
from bot.domain.parser_text import SOFT_SPECS, is_cjk

STRICT_CONFIDENCE = 0.97
MIN_CONFIDENCE = 0.6  # below this a single match is still only offered
RESIDUAL_MATCH = 80  # rapidfuzz partial_ratio for a leftover word to count as found
RANK_LIMIT = 300  # products ranked by rapidfuzz when a question lists candidates
RESIDUAL_LIMIT = 400
MAX_CANDIDATES = 5
_RELAX = (
    (),
    ("inherited",),
    ("inherited", "model"),
    ("inherited", "brand"),
    ("inherited", "model", "brand"),
    ("inherited", "spec"),
    ("inherited", "spec", "model", "brand"),
    ("inherited", "code", "spec", "model", "brand"),
)


@dataclass
class LineMatch:
    sku: str | None
    name: str
    confidence: float
    candidates: list[tuple[str, str, float]] = field(default_factory=list)
    problem: str | None = None  # ambiguous | weak | none | inactive | badsku
    count: int = 0  # products that fit when ambiguous
    unit: str = ""


class _Constraint(NamedTuple):
    group: str  # term code brand model spec pos
    bits: int
    inherited: bool = False


class _Words:
    """An item's spans by kind and the position it asks for, read once per match."""

    def __init__(self, item: Item) -> None:
        self.by_kind: dict[str, list[Span]] = {}
        for s in item.spans:
            self.by_kind.setdefault(s.kind, []).append(s)
        self.terms = [s for s in item.spans if s.kind in ("term", "cat")]
        chars = "".join(s.value for s in self.of("pos"))
        self.fb = "前" if "前" in chars else "后" if "后" in chars else ""
        self.lr = "左" if "左" in chars else "右" if "右" in chars else ""

    def of(self, kind: str) -> list[Span]:
        return self.by_kind.get(kind, [])


def match_item(item: Item, index: ParserIndex, raw: str) -> LineMatch:
    """The product an item names (`raw`: its words as typed), or the candidates to ask about."""
    table = index.products
    words = _Words(item)
    if skus := words.of("sku"):
        return _by_sku(skus[0].value, table, raw)
    if bad := words.of("badsku"):
        return LineMatch(None, bad[0].value, 0.0, problem="badsku")
    constraints = _constraints(words, table)
    if not constraints:
        return _fuzzy(raw, table)
    for level, drop in enumerate(_RELAX):
        kept = [c for c in constraints
                if c.group not in drop and not (c.inherited and "inherited" in drop)]
        bits = table.all_bits
        for c in kept:
            bits &= c.bits
        if bits:
            return _decide(words, raw, table, bits, relaxed=level > 1,
                           inherited=any(c.inherited for c in kept))
    return _fuzzy(raw, table)


def _by_sku(sku: str, table: ProductTable, raw: str) -> LineMatch:
    if sku in table.inactive:
        return LineMatch(None, table.inactive[sku], 0.0, problem="inactive")
    i = table.by_sku[sku]
    return LineMatch(table.skus[i], table.names[i], 1.0, unit=table.units[i])


def _constraints(item: _Words, table: ProductTable) -> list[_Constraint]:
    out = [_Constraint("code", s.bits) for s in item.of("code")]
    out += [_Constraint("term", s.bits) for s in item.terms]
    out += [_Constraint("spec", table.spec.get((s.spec_kind, s.value), 0))
            for s in item.of("spec") if s.spec_kind not in SOFT_SPECS]
    for group, spans in (("brand", item.of("brand")),
                         ("model", item.of("model") or item.of("make"))):
        if spans:
            bits = 0
            for s in spans:
                bits |= s.bits
            if group == "model":
                bits |= table.universal
            out.append(_Constraint(group, bits, all(s.inherited for s in spans)))
    if item.fb:
        out.append(_Constraint("pos", table.fb.get(item.fb, 0) | table.fb.get("", 0)))
    if item.lr:
        out.append(_Constraint("pos", table.lr.get(item.lr, 0) | table.lr.get("", 0)))
    return out


def _decide(item: _Words, raw: str, table: ProductTable, bits: int, *, relaxed: bool,
            inherited: bool) -> LineMatch:
    bits, unexplained = _residual(item, table, bits)
    bits, steps = _prefer(item, table, bits)
    # A leftover word the catalogue uses (无骨, 极护) that the match lacks is a conflict;
    # any other leftover word is chat and costs little.
    conflicts = [w for w in unexplained if w in table.vocab]
    count = bits.bit_count()
    if count == 1 and not relaxed and not conflicts and not _unasked_position(item, table, bits):
        i = members(bits, 1)[0]
        confidence = (STRICT_CONFIDENCE - 0.02 * steps - 0.05 * len(unexplained)
                      - (0.05 if inherited else 0.0))
        if confidence >= MIN_CONFIDENCE:
            return LineMatch(table.skus[i], table.names[i], round(confidence, 2),
                             unit=table.units[i])
    candidates = _ranked(raw, table, bits, base=0.3 if relaxed else 0.6)
    problem = "weak" if relaxed or count == 1 or conflicts else "ambiguous"
    # An open line is as sure as a pick among its candidates: 1/n for n equal ones.
    confidence = min(0.5, candidates[0][2] if problem == "weak" else 1 / count)
    unit = table.units[members(bits, 1)[0]] if bits else ""
    return LineMatch(None, raw, round(confidence, 2), candidates, problem, count, unit)


def _unasked_position(item: _Words, table: ProductTable, bits: int) -> bool:
    """The one product left has a side (前/后, 左/右) the line did not name: ask, don't assume."""
    if any(s.is_head for s in item.of("code")):
        return False  # a part number names the side too
    fb, lr = item.fb, item.lr
    return bool((not fb and not bits & table.fb.get("", 0))
                or (not lr and not bits & table.lr.get("", 0)))


def _prefer(item: _Words, table: ProductTable, bits: int) -> tuple[int, int]:
    """Narrow by preferences; returns the bits and how many preferences narrowed them."""
    fb, lr = item.fb, item.lr
    # The exact part word wins (铱金 over 双铱金), but not through a position nobody asked
    # for: 雨刮片 is exactly the word of the 后雨刮片 products.
    unplaced = table.all_bits if fb or lr else table.fb.get("", 0) & table.lr.get("", 0)
    terms = [s.entry for s in item.of("term") if s.entry is not None]
    prefs = [e.exact & unplaced for e in terms if e.exact]
    # 火嘴 铱金: a leftover word and the part word together may name a part (铱金火花塞)
    prefs += [table.term.get(s.value + e.key, 0) & unplaced
              for s in item.of("resid") for e in terms if e.typeish]
    if fb:
        prefs.append(table.fb.get(fb, 0))
    if lr:
        prefs.append(table.lr.get(lr, 0))
    models = item.of("model")
    if models:
        model_bits = 0
        for s in models:
            model_bits |= s.bits
        prefs.append(model_bits)
    steps = 0
    for pref in prefs:
        narrowed = bits & pref
        if narrowed and narrowed != bits:
            bits, steps = narrowed, steps + 1
    return bits, steps


def _residual(item: _Words, table: ProductTable, bits: int) -> tuple[int, list[str]]:
    """Leftover words (a series such as 极护, a part number fragment) narrow with rapidfuzz;
    returns the narrowed bits and the words no fitting product has."""
    words = [s.value for s in item.of("resid") if not s.inherited]
    if not words:
        return bits, []
    if bits.bit_count() > RESIDUAL_LIMIT:
        return bits, words
    ids = members(bits)
    choices = {i: table.name_keys[i] for i in ids}
    unexplained = []
    for word in words:
        scored = process.extract(word, choices, scorer=fuzz.partial_ratio, processor=None,
                                 limit=None, score_cutoff=RESIDUAL_MATCH)
        if not scored:
            unexplained.append(word)
            continue
        best = max(s for _, s, _ in scored)
        keep = {key for _, s, key in scored if s >= best - 1}
        if len(keep) < len(choices):
            choices = {i: n for i, n in choices.items() if i in keep}
    narrowed = 0
    for i in choices:
        narrowed |= 1 << i
    return narrowed, unexplained


def _ranked(raw: str, table: ProductTable, bits: int, base: float
            ) -> list[tuple[str, str, float]]:
    ids = members(bits, RANK_LIMIT)
    keys = table.name_keys
    best = process.extract(raw, [keys[i] for i in ids], scorer=fuzz.WRatio, processor=None,
                           limit=MAX_CANDIDATES)
    return [(table.skus[ids[j]], table.names[ids[j]],
             round(base + (1 - base) * 0.01 * s * 0.9, 2)) for _, s, j in best]


def _fuzzy(raw: str, table: ProductTable) -> LineMatch:
    """No word of the line is known: rapidfuzz over the products sharing its rarest bigrams."""
    grams = {raw[j:j + 2] for j in range(len(raw) - 1) if is_cjk(raw[j]) and is_cjk(raw[j + 1])}
    known = sorted((table.bigram[g] for g in grams if g in table.bigram), key=int.bit_count)
    bits = 0
    for b in known[:3]:
        bits |= b
    if not bits:
        return LineMatch(None, raw, 0.0, problem="none")
    ids = members(bits, RANK_LIMIT)
    best = process.extract(raw, {i: table.name_keys[i] for i in ids}, scorer=fuzz.WRatio,
                           processor=None, limit=MAX_CANDIDATES, score_cutoff=50)
    if not best:
        return LineMatch(None, raw, 0.0, problem="none")
    candidates = [(table.skus[i], table.names[i], round(0.5 * s / 100, 2)) for _, s, i in best]
    return LineMatch(None, raw, candidates[0][2], candidates, "weak", len(candidates))
