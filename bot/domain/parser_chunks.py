"""From a chunk of an order line to spans, and from spans to order items (pure).

A chunk is a piece of a line between separators (、 ; 。 and commas not between digits).
`scan` finds everything it knows in it, in a fixed order so that longer, surer readings win:
SKU codes, specs, lexicon words (parts, brands, models), part numbers, prices, quantities,
positions, and what is left over (residual text, used as a fuzzy tie-breaker). `segment`
then cuts the spans into items: a part word that follows a complete item (part + quantity),
or a second part word, starts a new item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from bot.domain import parser_data as D
from bot.domain.parser_index import ParserIndex, code_key, compact_code
from bot.domain.parser_lexicon import Entry
from bot.domain.parser_text import CJK, find_prices, find_quantities, find_specs, take

HEAD_SPECS = frozenset({"tyre", "visc", "group"})
_SKU_TOKEN = re.compile(r"(?<![A-Z0-9])[A-Z]{2,4}\d{1,7}(?![A-Z0-9])")
_CODE_TOKEN = re.compile(r"(?<![A-Z0-9\-./])[A-Z0-9][A-Z0-9\-./+]*[A-Z0-9+](?![A-Z0-9\-./])")
_SPLIT_CODE = re.compile(r"(?<![\d])(\d{3}) (\d{4})(?!\d)")
_CODE_RUN = re.compile(r"(?<![A-Z0-9])[A-Z0-9](?:[A-Z0-9\-./_]| (?=[A-Z0-9]))*")
_PIECE = re.compile(r"\S+")
_SPACES = re.compile(r"\s+")
_ITEM_WORDS = frozenset({"brand", "spec", "code", "model", "make"})
_QTY_LIKE = re.compile(r"^[X*]\d+$")
_RESIDUAL = re.compile(f"[{CJK}A-Z0-9+]+")
_FILLERS = re.compile("|".join(sorted(map(re.escape, D.FILLER_WORDS), key=len, reverse=True)))
_POS_WORDS = sorted({**D.POSITION_WORDS, **dict.fromkeys(D.NOT_POSITION_WORDS, "")}.items(),
                    key=lambda kv: -len(kv[0]))
_TAKEN_RUN = re.compile(rb"[^\x00]+")
_POS_CHAR = re.compile("[前后左右]")
_POS_HINT = re.compile("|".join(["[前后左右]", *(re.escape(w) for w, _ in _POS_WORDS)]))
_APPROX_BEFORE = re.compile("[\\d十百" + "".join(D.QTY_UNITS) + "]\\s*$")
MAX_SELECTIVE_CODE = 30  # a part number matching more products than this is only a hint


@dataclass(frozen=True, slots=True)
class Span:
    kind: str  # sku badsku code term cat brand model make spec qty price total pos resid
    value: str
    start: int
    end: int
    entry: Entry | None = None
    bits: int = 0
    spec_kind: str = ""
    strong: bool = True
    each: bool = False
    unit: str = ""
    inherited: bool = False
    # a part word, a SKU, a selective part number or a head spec: what an item is about
    # (worked out once here: segmenting asks it of every span again and again)
    is_head: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind in ("sku", "badsku", "term", "cat"):
            head = True
        elif self.kind == "code":
            head = self.bits.bit_count() <= MAX_SELECTIVE_CODE
        else:
            head = self.kind == "spec" and self.spec_kind in HEAD_SPECS
        object.__setattr__(self, "is_head", head)

    @property
    def head_group(self) -> str:
        """Heads of one group do not share an item: two part words are two items."""
        if self.kind in ("term", "cat"):
            return "type" if self.entry is None or self.entry.typeish else "series"
        if self.kind == "spec":
            return self.spec_kind
        return "code"


@dataclass
class Item:
    spans: list[Span] = field(default_factory=list)
    text: str = ""  # the chunk this item came from

    def has(self, *kinds: str) -> bool:
        return any(s.kind in kinds for s in self.spans)

    def of(self, kind: str) -> list[Span]:
        return [s for s in self.spans if s.kind == kind]

    @property
    def heads(self) -> list[Span]:
        return [s for s in self.spans if s.is_head]

    @property
    def complete(self) -> bool:
        """A part word (or code) and a quantity: what a next part word starts a new item after."""
        spans = self.spans
        return any(s.is_head for s in spans) and any(s.kind == "qty" for s in spans)

    @property
    def is_product(self) -> bool:
        return self.has("sku", "badsku", "code", "term", "cat", "brand", "model", "spec")

    def raw(self) -> str:
        """The words of the item as typed, without its quantity and price."""
        parts = [s for s in self.spans
                 if s.kind not in ("qty", "price", "total") and not s.inherited]
        if not parts or not self.text:
            return ""
        lo, hi = min(s.start for s in parts), max(s.end for s in parts)
        cut = [s for s in self.spans if s.kind in ("qty", "price", "total") and lo <= s.start < hi]
        out, at = [], lo
        for s in sorted(cut, key=lambda s: s.start):
            out.append(self.text[at:s.start])
            at = s.end
        out.append(self.text[at:hi])
        return _SPACES.sub(" ", "".join(out)).strip(" :：-")


def scan(text: str, index: ParserIndex) -> list[Span]:
    """Every span of `text` the parser recognises, in text order."""
    taken = bytearray(len(text))
    spans = _skus(text, index, taken)
    short = index.products.short_models
    for h in find_specs(text):
        if not any(taken[h.start:h.end]):
            spans.append(Span("spec", h.value, h.start, h.end, spec_kind=h.kind))
            take(taken, h.start, h.end)
            if h.kind == "engine" and short:
                spans += _short_model(text, h.start, short, taken)
    for entry, start, end in index.lexicon.scan(text, taken):
        spans.append(Span(entry.kind, entry.key, start, end, entry=entry, bits=entry.bits))
        take(taken, start, end)
    spans += _codes(text, index, taken)
    units = index.units
    for h in find_prices(text, taken, units) + find_quantities(text, taken, units):
        spans.append(Span(h.kind, h.value, h.start, h.end, strong=h.strong, each=h.each,
                          unit=h.unit))
    spans += _positions(text, taken) + _residual(text, taken)
    return sorted(spans, key=lambda s: s.start)


def _short_model(text: str, at: int, short: dict[str, Entry],
                 taken: bytearray) -> list[Span]:
    """唐1.8T, 秦 1.6L: a one-character model right before an engine spec."""
    i = at - 1 if at >= 1 and text[at - 1] != " " else at - 2
    if i < 0 or taken[i] or text[i] not in short:
        return []
    entry = short[text[i]]
    take(taken, i, i + 1)
    return [Span("model", entry.key, i, i + 1, entry=entry, bits=entry.bits)]


def _skus(text: str, index: ParserIndex, taken: bytearray) -> list[Span]:
    out = []
    prefixes = index.products.sku_prefixes
    for m in _SKU_TOKEN.finditer(text):
        sku = index.sku_for(m[0])
        if sku is not None:
            out.append(Span("sku", sku, m.start(), m.end()))
        elif re.match(r"[A-Z]+", m[0])[0] in prefixes and len(m[0]) >= 6:  # type: ignore[index]
            out.append(Span("badsku", m[0], m.start(), m.end()))
        else:
            continue
        take(taken, m.start(), m.end())
    if index.products.loose_codes:
        out += _spaced_skus(text, index, taken)
    return out


def _spaced_skus(text: str, index: ParserIndex, taken: bytearray) -> list[Span]:
    """SKUs written in another case or with other separators or spaces (flt oc 3302,
    0986AB1234, BAT70-L): the longest run of pieces whose letters and digits are a SKU's."""
    out = []
    for run in _CODE_RUN.finditer(text):
        pieces = [(run.start() + m.start(), run.start() + m.end(), m[0])
                  for m in _PIECE.finditer(run[0])]
        i = 0
        while i < len(pieces):
            for j in range(len(pieces), i, -1):
                start, end = pieces[i][0], pieces[j - 1][1]
                if any(taken[start:end]):
                    continue
                sku = index.sku_for("".join(p[2] for p in pieces[i:j]))
                if sku is not None:
                    out.append(Span("sku", sku, start, end))
                    take(taken, start, end)
                    i = j - 1
                    break
            else:
                start, end, token = pieces[i]
                if _bad_sku(token, index) and not any(taken[start:end]):
                    out.append(Span("badsku", token, start, end))
                    take(taken, start, end)
            i += 1
    return out


def _bad_sku(token: str, index: ParserIndex) -> bool:
    """FLT-OC-9999: shaped like the catalogue's SKUs (separators, first four characters) but
    not one of them, nor a part number in a product name."""
    t = index.products
    key = compact_code(token)
    return (len(key) >= 6 and key[:4] in t.compact_prefixes and key != token
            and code_key(token) not in t.code)


def _codes(text: str, index: ParserIndex, taken: bytearray) -> list[Span]:
    out = []
    table = index.products.code
    candidates = [(m.start(), m.end(), m[0]) for m in _CODE_TOKEN.finditer(text)]
    candidates += [(m.start(), m.end(), m[1] + m[2]) for m in _SPLIT_CODE.finditer(text)]
    for start, end, token in sorted(candidates, key=lambda c: (c[0], -c[1])):
        key = code_key(token)
        if any(taken[start:end]) or not any(c.isdigit() for c in key) or _QTY_LIKE.match(key):
            continue
        if key.isdigit() and len(key) < 6:
            continue
        bits = table.get(key, 0)
        if bits:
            out.append(Span("code", key, start, end, bits=bits))
            take(taken, start, end)
    return out


def _positions(text: str, taken: bytearray) -> list[Span]:
    out: list[Span] = []
    if not _POS_HINT.search(text):
        return out
    for word, pos in _POS_WORDS:
        at = text.find(word)
        while at >= 0:
            if not any(taken[at:at + len(word)]):
                # 20个左右 is about twenty, not both sides
                approx = word == "左右" and _APPROX_BEFORE.search(text, 0, at)
                if pos and not approx:
                    out.append(Span("pos", pos, at, at + len(word)))
                take(taken, at, at + len(word))
            at = text.find(word, at + 1)
    for m in _POS_CHAR.finditer(text):
        i = m.start()
        if not taken[i]:
            out.append(Span("pos", m[0], i, i + 1))
            taken[i] = 1
    return out


def _residual(text: str, taken: bytearray) -> list[Span]:
    parts: list[str] = []
    at = 0
    for run in _TAKEN_RUN.finditer(taken):
        parts += (text[at:run.start()], " " * (run.end() - run.start()))
        at = run.end()
    free = "".join(parts) + text[at:]
    out = []
    for m in _RESIDUAL.finditer(free):
        at = m.start()
        for piece in _FILLERS.split(m[0]):
            start = free.find(piece, at) if piece else -1
            if piece and (len(piece) >= 2 or (piece.isascii() and piece.isalpha())):
                out.append(Span("resid", piece, start, start + len(piece)))
            if start >= 0:
                at = start + len(piece)
    return out


def segment(spans: list[Span], text: str) -> list[Item]:
    """Cut a chunk's spans into items (see the module docstring)."""
    items: list[Item] = []
    cur, buffered = Item(text=text), list[Span]()
    for sp in spans:
        if sp.kind == "qty" and sp.strong and sp.unit and (cut := _second_item(cur, buffered)):
            # 骆驼70AH 2个 瓦尔塔45AH 1个, H7 LED 2个 H4 10个: product words, then a quantity
            # with its unit, after an item that has one are another item
            first, rest = cut
            items.append(Item(first, text))
            cur, buffered = Item([*rest, sp], text), []
        elif sp.is_head and _starts_new(cur, sp):
            moved = buffered if cur.complete else _adjacent_prefix(cur, sp)
            items.append(cur)
            cur, buffered = Item(moved, text), []
            cur.spans.append(sp)
        elif cur.complete and not sp.is_head:
            if sp.kind in ("price", "total") and not cur.has("price") and not buffered:
                cur.spans.append(sp)  # 前刹车片2套 285元: the price closes the same item
            else:
                buffered.append(sp)
        else:
            cur.spans.extend(buffered)
            buffered = []
            cur.spans.append(sp)
    cur.spans.extend(buffered)
    items.append(cur)
    return _merge_refinements([i for i in items if i.spans])


def _second_item(cur: Item, buffered: list[Span]) -> tuple[list[Span], list[Span]] | None:
    pending = cur.spans + buffered
    last = max((i for i, s in enumerate(pending) if s.kind == "qty" and s.strong and s.unit),
               default=None)
    if last is None:
        return None
    start = next((i for i in range(last + 1, len(pending))
                  if pending[i].kind in _ITEM_WORDS or pending[i].is_head), None)
    if start is None:
        return None
    return pending[:start], pending[start:]


def _merge_refinements(items: list[Item]) -> list[Item]:
    """机滤 x20 W244/10: a part number or spec after a complete item, with no quantity of its
    own and nothing the item already has, refines that item rather than starting one."""
    out: list[Item] = []
    for item in items:
        prev = out[-1] if out else None
        groups = {h.head_group for h in item.heads}
        if (prev is not None and not item.has("qty", "sku", "badsku") and "type" not in groups
                and not groups & {h.head_group for h in prev.heads}):
            prev.spans.extend(item.spans)
            continue
        out.append(item)
    return out


def _starts_new(cur: Item, sp: Span) -> bool:
    heads = cur.heads
    if not heads:
        return False
    return cur.complete or any(h.head_group == sp.head_group for h in heads)


def _adjacent_prefix(cur: Item, head: Span) -> list[Span]:
    """Position and brand words right before a new part word belong to it (前刹车片 后刹车片)."""
    moved: list[Span] = []
    edge = head.start
    for sp in reversed(cur.spans):
        if sp.kind not in ("pos", "brand") or edge - sp.end > 1 or sp.is_head:
            break
        moved.insert(0, sp)
        edge = sp.start
    for sp in moved:
        cur.spans.remove(sp)
    return moved


def inherit(item: Item, kind: str, spans: list[Span]) -> None:
    item.spans.extend(replace(s, inherited=True) for s in spans)
