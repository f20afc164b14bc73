"""The parser's index over the catalogue and the customers, built once (pure, no I/O).

Each product is broken into features (brand, part terms, position, fitted models and makes,
specs, part numbers). Every feature value maps to a bitset of product positions (a Python int),
so narrowing 18,000 products to the few that fit a line is a handful of integer ANDs. A
longest-match lexicon maps what people type (brands, part words and their trade synonyms,
models, categories) onto those bitsets.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bot.domain import parser_data as D
from bot.domain.parser_customers import CustomerRef, CustomerTable, build_customers
from bot.domain.parser_lexicon import Entry, Lexicon
from bot.domain.parser_text import (
    SHIPPED_UNITS,
    Units,
    find_specs,
    is_cjk,
    normalize_name,
    units_for,
)

__all__ = ["CustomerRef", "Entry", "Lexicon", "ParserIndex", "ProductTable", "members"]

UNIVERSAL_MODELS = frozenset({"", "通用", "全车系", "通用型"})
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9\-./]*$")
_CODE_STRIP = re.compile(r"[\-./]")
_SKU_SHAPE = re.compile(r"^([A-Z]{1,4})0*(\d{1,7})$")


class PlaceLike(Protocol):
    """What the parser reports of a placed address (integrations.geocode.Place fits)."""

    @property
    def province(self) -> str: ...
    @property
    def city(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def adcode(self) -> str: ...


Geocoder = Callable[[str], PlaceLike | None]


class ProductLike(Protocol):
    """What the parser needs of a product (bot.catalog.ProductInfo fits)."""

    @property
    def sku(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def brand(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def models(self) -> str: ...
    @property
    def active(self) -> bool: ...


def code_key(text: str) -> str:
    """Part numbers compare without dashes, dots and slashes: W712/52 = W71252."""
    return _CODE_STRIP.sub("", text)


def sku_key(text: str) -> tuple[str, int] | None:
    """BRK12 and BRK00012 are the same SKU when SKUs are letters and a running number."""
    m = _SKU_SHAPE.match(text)
    return (m[1], int(m[2])) if m else None


def compact_code(text: str) -> str:
    """A code with case, separators and spaces taken out (bosch-p85020 → BOSCHP85020); ""
    when too short or without a digit and a letter to be told from ordinary words."""
    key = "".join(ch for ch in text.upper() if ch.isascii() and ch.isalnum())
    if key.isdigit():  # 0451.103.316, 60215043: long enough not to be a quantity or price
        return key if len(key) >= 7 else ""
    if len(key) < 4 or not any(c.isdigit() for c in key) or not any(c.isalpha() for c in key):
        return ""
    return key


def phrase_key(text: str) -> str:
    """A phrase as the learnt aliases store it: the query's normal form, letters and digits
    only (博世 刹车片 x4 and 博世刹车片 are the same phrase only without the quantity)."""
    from bot.domain.parser_text import normalize

    return "".join(ch for ch in normalize(text) if ch.isalnum())


def split_fitment(text: str) -> list[tuple[str, str]]:
    """大众朗逸/速腾 → [(大众, 朗逸), (大众, 速腾)]: a model without a make keeps the last make."""
    out: list[tuple[str, str]] = []
    make = ""
    for item in (t.strip() for t in text.split("/")):
        if not item:
            continue
        found = next((m for m in _MAKES_LONGEST if item.startswith(m)), "")
        if found:
            make = found
        else:  # 上汽荣威RX5: a group name before the make
            inner = next((m for m in _MAKES_LONGEST if m in item[1:-1]), "")
            if inner:
                make, found = inner, item[:item.index(inner, 1) + len(inner)]
        out.append((make, item[len(found):] or item))
    return out


_MAKES_LONGEST = tuple(sorted((normalize_name(m) for m in D.MAKES), key=len, reverse=True))


def strip_position(token: str) -> tuple[str, str]:
    """前刹车片 → (前, 刹车片); a token that is only a position word stays whole."""
    for pos in D.POSITIONS:
        rest = token[len(pos):]
        if token.startswith(pos) and len(rest) >= 2 and any(is_cjk(c) for c in rest):
            return pos, rest
    return "", token


_WORD_CACHE: dict[int, tuple[list[str], list[str]]] = {}


def _lexicon_words() -> tuple[list[str], list[str]]:
    gen = D.GENERATION[0]
    if gen not in _WORD_CACHE:
        _WORD_CACHE.clear()
        _WORD_CACHE[gen] = (sorted(D.TEXT_REWRITES, key=len, reverse=True),
                            sorted(D.TERM_ALIASES, key=len, reverse=True))
    return _WORD_CACHE[gen]


def canonical_term(term: str) -> str:
    """A catalogue's part word in the words the query side uses: 玻璃水 → 玻璃清洗液 (the
    query rewrites), 无骨雨刮 → 无骨雨刮片 (a trade word at the end → the canonical word)."""
    return _canonical(term, D.GENERATION[0])


@functools.lru_cache(maxsize=65536)
def _canonical(term: str, generation: int) -> str:  # part words repeat across a catalogue
    rewrite_words, alias_words = _lexicon_words()
    for _ in range(2):  # as the query side: a rewrite may make another rewrite's word
        before = term
        for word in rewrite_words:
            if word in term:
                term = term.replace(word, D.TEXT_REWRITES[word])
        if term == before:
            break
    for alias in alias_words:
        target = D.TERM_ALIASES[alias]
        if term.endswith(alias) and not term.endswith(target):
            return term[:-len(alias)] + target
    return term


def is_typeish(term: str) -> bool:
    return term.endswith(D.TYPE_HEADS)


@dataclass
class _ProductFeatures:
    brand: str
    terms: list[str]
    position: str
    fitments: list[tuple[str, str]]
    specs: list[tuple[str, str]]
    codes: list[str]
    name_key: str
    words: list[str]  # ASCII words that are not part numbers (PLUS, CVT, LED)


def product_features(p: ProductLike) -> _ProductFeatures:
    name = normalize_name(p.name)
    brand = normalize_name(p.brand).strip()
    specs = find_specs(name)
    masked = list(name)
    for h in specs:
        masked[h.start:h.end] = " " * (h.end - h.start)
    models = normalize_name(p.models).strip()
    raw_models = {models, *models.split("/")}
    engines = [h for h in find_specs(models) if h.kind == "engine"]
    if engines:  # 大众朗逸 1.5L: the engine is a spec, the model is 朗逸
        specs += engines
        cut = list(models)
        for h in engines:
            cut[h.start:h.end] = " " * (h.end - h.start)
        models = " ".join("".join(cut).split())
    fitment_tokens = raw_models | {models, *models.split("/")}
    terms, words, position, digits = [], [], "", []
    fitments = [] if models in UNIVERSAL_MODELS else split_fitment(models)
    fitment_tokens |= {model for _, model in fitments}
    for tok in "".join(masked).split():
        if tok in (brand, models) or tok in fitment_tokens:
            continue
        if _CODE.match(tok) and any(c.isdigit() for c in tok):
            digits.append(tok)
            continue
        if not any(is_cjk(c) for c in tok):
            words.append(tok)
            continue
        if tok in D.POSITIONS:  # 博世刹车片 前 朗逸: a position written apart
            position = position or tok
            continue
        if brand and tok.startswith(brand) and len(tok) > len(brand) + 1:
            tok = tok[len(brand):]  # 弗列加机油滤清器: the brand glued to the part word
        pos, term = strip_position(canonical_term(tok))
        position = position or pos
        terms.append(term)
    codes = [code_key(t) for t in digits if len(code_key(t)) >= 3]
    if len(digits) >= 2 and all(t.isdigit() for t in digits[-2:]):
        codes.append(digits[-2] + digits[-1])  # INA writes 534 0837
    return _ProductFeatures(brand, terms, position, fitments,
                            [(h.kind, h.value) for h in specs], codes, name, words)


class _Bits:
    """Collects product positions per key, then turns each list into an int bitset."""

    def __init__(self) -> None:
        self.lists: dict[object, list[int]] = defaultdict(list)

    def add(self, key: object, i: int) -> None:
        self.lists[key].append(i)

    def build(self, size: int) -> dict[object, int]:
        return {k: to_bits(v, size) for k, v in self.lists.items()}


def to_bits(positions: Iterable[int], size: int) -> int:
    buf = bytearray((size + 8) // 8)
    for i in positions:
        buf[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buf, "little")


_BYTE_BITS = tuple(tuple(b for b in range(8) if v >> b & 1) for v in range(256))
_NONZERO_BYTE = re.compile(rb"[^\x00]")


def members(bits: int, limit: int | None = None) -> list[int]:
    """Positions set in `bits`, lowest first, at most `limit` of them.

    Sets here span the whole catalogue (18,000 bits), so the way is chosen by size: a few
    members by taking the lowest bit, a few of many by scanning bytes up to the limit,
    otherwise numpy over the non-zero bytes (bench/parser.py).
    """
    if limit == 1 and bits:
        return [(bits & -bits).bit_length() - 1]
    count = bits.bit_count()
    want = count if limit is None else min(limit, count)
    out: list[int] = []
    if want <= 6:
        while len(out) < want:
            low = bits & -bits
            out.append(low.bit_length() - 1)
            bits ^= low
        return out
    raw = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    if want * 4 < count:
        starts: Iterable[int] = (m.start() for m in _NONZERO_BYTE.finditer(raw))
    else:
        starts = np.flatnonzero(np.frombuffer(raw, np.uint8)).tolist()
    for at in starts:
        base = at * 8
        out += [base + b for b in _BYTE_BITS[raw[at]]]
        if len(out) >= want:
            break
    return out[:want]


@dataclass(repr=False)
class ProductTable:
    """Parallel arrays over the active products, and the feature bitsets."""

    skus: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    name_keys: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    all_bits: int = 0
    universal: int = 0  # fits every vehicle (通用)
    brand: dict[object, int] = field(default_factory=dict)
    term: dict[object, int] = field(default_factory=dict)
    cat: dict[object, int] = field(default_factory=dict)
    model: dict[object, int] = field(default_factory=dict)
    make: dict[object, int] = field(default_factory=dict)
    spec: dict[object, int] = field(default_factory=dict)
    code: dict[object, int] = field(default_factory=dict)
    fb: dict[object, int] = field(default_factory=dict)  # 前 / 后 / "" (none)
    lr: dict[object, int] = field(default_factory=dict)  # 左 / 右 / "" (none)
    bigram: dict[object, int] = field(default_factory=dict)
    by_sku: dict[str, int] = field(default_factory=dict)
    by_sku_key: dict[tuple[str, int], str] = field(default_factory=dict)
    by_compact: dict[str, str] = field(default_factory=dict)  # FLTOC3302 → FLT-OC-3302
    sku_prefixes: frozenset[str] = frozenset()  # BRK, FLT …: a code of this shape is a SKU
    compact_prefixes: frozenset[str] = frozenset()  # FLTO, 0986 …: the same for other shapes
    # models too short to stand alone (唐, 秦): read only right before an engine (唐1.8T)
    short_models: dict[str, Entry] = field(default_factory=dict)
    loose_codes: bool = False  # SKUs may be written with other separators, or are all digits
    inactive: dict[str, str] = field(default_factory=dict)  # sku → name
    fitments: set[tuple[str, str]] = field(default_factory=set)  # (make, model)
    vocab: str = ""  # every catalogue word, to tell a product word from chat in leftovers

    def __len__(self) -> int:
        return len(self.skus)

    def __repr__(self) -> str:
        return f"<ProductTable {len(self.skus)} products, {len(self.inactive)} inactive>"


def build_products(products: Iterable[ProductLike]) -> tuple[ProductTable, dict[str, Entry]]:
    t = ProductTable()
    acc = {k: _Bits() for k in ("brand", "term", "cat", "model", "make", "spec", "code", "fb",
                                "lr", "bigram")}
    universal: list[int] = []
    ascii_words: set[str] = set()
    for p in products:
        sku = normalize_name(p.sku).strip()
        if not p.active:
            t.inactive[sku] = p.name
            if (k := sku_key(sku)) is not None:
                t.by_sku_key.setdefault(k, sku)
            if (c := compact_code(sku)) and c != sku:
                t.by_compact.setdefault(c, sku)
            continue
        i = len(t.skus)
        f = product_features(p)
        t.skus.append(p.sku)
        t.names.append(p.name)
        t.name_keys.append(f.name_key)
        t.units.append(p.unit)
        t.by_sku[sku] = i
        if (k := sku_key(sku)) is not None:
            t.by_sku_key[k] = sku
        if (c := compact_code(sku)) and c != sku:
            t.by_compact[c] = sku if t.by_compact.get(c, sku) == sku else ""
        _index_product(acc, universal, i, f, normalize_name(p.category).strip())
        t.fitments.update(f.fitments)
        ascii_words.update(f.words)
    size = len(t.skus)
    for kind, bits in acc.items():
        setattr(t, kind, bits.build(size))
    t.all_bits = (1 << size) - 1
    t.sku_prefixes = frozenset(k[0] for k in t.by_sku_key)
    t.compact_prefixes = frozenset(k[:4] for k in t.by_compact)
    t.loose_codes = bool(t.by_compact) or any(s.isdigit() for s in t.by_sku)
    t.universal = to_bits(universal, size)
    words = _lexicon_entries(t)
    t.vocab = "\n".join([*words, *(str(k) for k in t.brand), *ascii_words])
    return t, words


def _index_product(acc: dict[str, _Bits], universal: list[int], i: int,
                   f: _ProductFeatures, category: str) -> None:
    acc["brand"].add(f.brand, i)
    acc["cat"].add(category, i)
    for term in f.terms:
        acc["term"].add(term, i)
    fb = "前" if "前" in f.position else "后" if "后" in f.position else ""
    lr = "左" if "左" in f.position else "右" if "右" in f.position else ""
    acc["fb"].add(fb, i)
    acc["lr"].add(lr, i)
    if not f.fitments:
        universal.append(i)
    for make, model in f.fitments:
        acc["model"].add(model, i)
        if make:
            acc["make"].add(make, i)
    for spec in f.specs:
        acc["spec"].add(spec, i)
    for code in f.codes:
        acc["code"].add(code, i)
    for bg in {f.name_key[j:j + 2] for j in range(len(f.name_key) - 1)}:
        if is_cjk(bg[0]) and is_cjk(bg[1]):
            acc["bigram"].add(bg, i)


def _lexicon_entries(t: ProductTable) -> dict[str, Entry]:
    """Every word the lexicon knows; earlier kinds win a clash (terms before brands …)."""
    words: dict[str, Entry] = {}
    suffix_bits: dict[str, int] = defaultdict(int)
    for term, bits in t.term.items():
        assert isinstance(term, str)
        suffix_bits[term] |= bits
        if is_typeish(term):
            for j in range(1, len(term) - 1):
                if is_cjk(term[j]) and sum(map(is_cjk, term[j:])) >= 2:
                    suffix_bits[term[j:]] |= bits
    for word, bits in suffix_bits.items():
        words[word] = Entry("term", word, bits, t.term.get(word, 0), is_typeish(word))
    for alias, target in D.TERM_ALIASES.items():
        target = normalize_name(target)
        if target in suffix_bits:
            words.setdefault(normalize_name(alias), Entry(
                "term", target, suffix_bits[target], t.term.get(target, 0), True))
    _brand_entries(t, words)
    _model_entries(t, words)
    for word, cat in D.CATEGORY_WORDS.items():
        if cat in t.cat:
            words.setdefault(word, Entry("cat", cat, t.cat[cat], typeish=True))
    return words


def _brand_entries(t: ProductTable, words: dict[str, Entry]) -> None:
    for brand, bits in t.brand.items():
        if brand:
            words.setdefault(str(brand), Entry("brand", str(brand), bits))
    for alias, brands in D.BRAND_ALIASES.items():
        bits = 0
        for b in brands:
            bits |= t.brand.get(b, 0)
        # a known brand this catalogue does not carry still counts: 米其林 asked of a
        # catalogue without it fits nothing, and is never matched as another tyre
        words.setdefault(alias, Entry("brand", "/".join(brands), bits))
        for b in brands:
            words.setdefault(b, Entry("brand", b, t.brand.get(b, 0)))


def _model_entries(t: ProductTable, words: dict[str, Entry]) -> None:
    makes_of: dict[str, set[str]] = defaultdict(set)
    for make, model in t.fitments:
        makes_of[model].add(make)
        words.setdefault(make + model, Entry("model", model, t.model[model]))
        if len(model) >= 2 and model not in D.MODELS_NEED_MAKE:
            words.setdefault(model, Entry("model", model, t.model[model]))
        elif model:
            t.short_models[model] = Entry("model", model, t.model[model])
    for alias, model in D.MODEL_ALIASES.items():
        if model not in t.model:
            continue
        for make in makes_of[model]:
            words.setdefault(make + alias, Entry("model", model, t.model[model]))
        if alias not in D.MODELS_NEED_MAKE:
            words.setdefault(alias, Entry("model", model, t.model[model]))
    for make in (str(m) for m in t.make if m):
        words.setdefault(make, Entry("make", make, t.make[make]))


@dataclass(repr=False)
class ParserIndex:
    """Everything `parse` needs, built once at start-up from the catalogue and the customers."""

    products: ProductTable
    lexicon: Lexicon
    customers: CustomerTable
    geocoder: Geocoder
    # (team, phrase key) → SKU: phrases a team taught the parser (see `phrase_key`)
    learnt: dict[tuple[str, str], str] = field(default_factory=dict)
    units: Units = SHIPPED_UNITS  # counting units, the catalogue's 单位 among them

    @classmethod
    def build(cls, products: Iterable[ProductLike], customers: Iterable[CustomerRef],
              geocoder: Geocoder, learnt: Iterable[tuple[str, str, str]] = ()) -> ParserIndex:
        """Index the active products and all customers. `geocoder` places an address
        (integrations.geocode.parse, offline; the domain does not reach for it itself)."""
        table, words = build_products(products)
        known = {(team, phrase_key(phrase)): sku for team, phrase, sku in learnt
                 if normalize_name(sku).strip() in table.by_sku}
        units = units_for(tuple(sorted({normalize_name(u).strip() for u in table.units})))
        return cls(table, Lexicon(words), build_customers(customers), geocoder,
                   {k: normalize_name(v).strip() for k, v in known.items() if k[1]}, units)

    def __repr__(self) -> str:
        return f"<ParserIndex {self.products!r}, {len(self.customers.refs)} customers>"

    def sku_for(self, text: str) -> str | None:
        """The catalogue SKU written as `text` (exact, or the same letters and number)."""
        if text in self.products.by_sku or text in self.products.inactive:
            return text
        t = self.products
        key = sku_key(text)
        found = t.by_sku_key.get(key) if key else None
        if found:
            return found
        compact = compact_code(text)
        if compact in t.by_sku or compact in t.inactive:
            return compact
        return t.by_compact.get(compact) or None
