"""Text primitives of the order parser: normal form, Chinese numerals, specs, quantities, prices.

Every function here is pure and works on text already in normal form (`normalize`): NFKC
(fullwidth digits, letters and punctuation become ASCII), ASCII upper case, one multiplication
sign, one dash. Spans are (start, end) offsets into that text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from bot.domain import parser_data as D

_TRANSLATE = str.maketrans({
    **{chr(0x2460 + i): f"{i + 1}. " for i in range(20)},  # ①..⑳ number lines
    "，": "、",  # NFKC would make it a comma, which also separates thousands
    **{chr(c): chr(c - 32) for c in range(ord("a"), ord("z") + 1)},
    "✕": "×", "✖": "×", "╳": "×", "﹡": "*", "—": "-", "–": "-", "‐": "-", "−": "-",
    "～": "~", "\u3000": " ", "\xa0": " ", "\r": "\n",
})
_THOUSANDS = re.compile(r"(?<=[0-9０-９])，(?=[0-9０-９]{3}(?![0-9０-９]))")
_REWRITE_CACHE: list[tuple[int, re.Pattern[str]]] = []


def _rewrite_re() -> re.Pattern[str]:
    """The query rewrites as one pattern, longest first (rebuilt when the lexicon changes)."""
    if not _REWRITE_CACHE or _REWRITE_CACHE[0][0] != D.GENERATION[0]:
        words = sorted(map(re.escape, D.TEXT_REWRITES), key=len, reverse=True)
        _REWRITE_CACHE[:] = [(D.GENERATION[0], re.compile("|".join(words)))]
    return _REWRITE_CACHE[0][1]
CJK = "\u4e00-\u9fff"


_REGEX_REWRITES = tuple((re.compile(p), r) for p, r in D.REGEX_REWRITES)


def normalize(text: str) -> str:
    """Normal form for matching; the query side also gets the trade-word rewrites."""
    return rewrite(normalize_name(text))


def rewrite(text: str) -> str:
    """The trade-word rewrites of text already in `normalize_name` form."""
    for _ in range(2):  # 汽油滤芯 → 汽油滤清器 → 燃油滤清器: a rewrite may make another one's word
        rewritten = _rewrite_re().sub(lambda m: D.TEXT_REWRITES[m[0]], text)
        if rewritten == text:
            break
        text = rewritten
    for pattern, replacement in _REGEX_REWRITES:
        text = pattern.sub(replacement, text)
    return text


def as_typed(phrase: str, typed: str) -> str:
    """`phrase` (normal form, trade words rewritten) with the trade words as the salesperson
    typed them in `typed` (the message in `normalize_name` form), for the questions they
    read: 玻璃清洗液 → 玻璃水, 刹车片 → 刹车皮. Only words that appear in `typed` are put back."""
    targets, typed_as = _typed_words(D.GENERATION[0])
    for word in targets:
        if word in phrase:
            source = next((s for s in typed_as[word] if s in typed and s not in phrase), None)
            if source is not None and word not in typed:
                phrase = phrase.replace(word, source)
    return phrase


@functools.lru_cache(maxsize=4)
def _typed_words(generation: int) -> tuple[list[str], dict[str, list[str]]]:
    """Words in normal form (longest first) → the words the rewrites turn into them."""
    typed_as: dict[str, list[str]] = {}
    for source in sorted(D.TEXT_REWRITES, key=len, reverse=True):
        typed_as.setdefault(normalize(source), []).append(source)
    return sorted(typed_as, key=len, reverse=True), typed_as


def normalize_name(text: str) -> str:
    """Normal form without rewrites (catalogue names, customer names)."""
    text = _THOUSANDS.sub(",", text or "")  # 1，200 (a fullwidth comma) is a number
    return unicodedata.normalize("NFKC", text.translate(_TRANSLATE)).translate(_TRANSLATE)


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


# --- Chinese numerals --------------------------------------------------------------------

CN_NUM = "[零〇一幺二两俩三仨四五六七八九十百千万]+"
_CN_NUMERALS = frozenset(CN_NUM[1:-2])
_CN_ONLY = re.compile(f"^{CN_NUM}$")


def cn_to_int(text: str) -> int | None:
    """二十五 → 25, 两 → 2, 一百 → 100, 一百二 → 120, 一百零五 → 105; None if not a numeral."""
    if not text or not _CN_ONLY.match(text):
        return None
    total, digit, last_unit = 0, None, 1
    for ch in text:
        if ch in D.CN_DIGITS:
            digit = D.CN_DIGITS[ch]
        else:
            unit = D.CN_UNITS[ch]
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit is not None:
        # 一百二 is 120 and 两千五 is 2500: a trailing digit right after a unit of 100 and up.
        shifted = last_unit >= 100 and len(text) >= 2 and text[-2] in D.CN_UNITS
        total += digit * (last_unit // 10) if shifted else digit
    return total


def to_number(text: str) -> Decimal | None:
    """Arabic (with thousands separators) or Chinese numeral as a Decimal."""
    text = text.replace(",", "").strip()
    value = cn_to_int(text)
    if value is not None:
        return Decimal(value)
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


# --- specs ------------------------------------------------------------------------------


class Hit(NamedTuple):
    """A piece of text recognised in a chunk: kind, value and where it is."""

    kind: str
    value: str
    start: int
    end: int
    strong: bool = True
    each: bool = False
    unit: str = ""


def _volume(m: re.Match[str]) -> str:
    unit = {"升": "L", "毫升": "ML", "公斤": "KG"}.get(m[2], m[2])
    return f"{Decimal(m[1]).normalize():f}{unit}"


def _temperature(m: re.Match[str]) -> str:
    n = int(m[2])
    return "0°C" if n == 0 else f"-{n}°C"  # antifreeze and washer fluid ratings are frosts


# (kind, pattern, value, needs): a pattern runs only on text holding one of its `needs`,
# characters it cannot match without (most chunks hold none of them).
_SPECS: tuple[tuple[str, re.Pattern[str], object, frozenset[str]], ...] = (
    # an engine (朗逸1.5L, 1.4T, 迈腾2.0TSI): a displacement with one decimal and T or L
    ("engine", re.compile(r"(?<![\dA-Z.])([0-6]\.\d)\s*(T|L)(?![\d.])"),
     lambda m: f"{m[1]}{m[2]}", frozenset(".")),
    ("tyre", re.compile(r"(?<![\dA-Z])(\d{3})\s*[/-]?\s*(\d{2})\s*(?:Z?R\s*|[/-]\s*)(\d{2})"
                        r"(?![\d.])(?:\s*\d{2,3}[A-Z](?:\s*XL)?(?![A-Z0-9]))?"),
     # with its load/speed index (91V, 94W XL)
     lambda m: f"{m[1]}/{m[2]}R{m[3]}", frozenset("R/-")),
    # 205 55 16: with spaces only when it has a tyre's shape (width …5, aspect …0/…5, rim)
    ("tyre", re.compile(r"(?<![\dA-Z.])(1[3-9]5|2\d5|3[0-5]5) +([2-8][05]) +(1[2-9]|2[0-4])"
                        r"(?![\d.])"),
     lambda m: f"{m[1]}/{m[2]}R{m[3]}", frozenset(" ")),
    ("visc", re.compile(r"(?<![\dA-Z])(0|5|10|15|20)\s*W\s*[-/]?\s*(\d{2})(?!\d)"),
     lambda m: f"{m[1]}W-{m[2]}", frozenset("W")),
    ("group", re.compile(r"(?<![\dA-Z])(6-?QW-?\d{2,3}|L\d-\d{2}|H\d-\d{2})(?![\dA-Z])"),
     lambda m: m[1].replace("-", ""), frozenset("Q-")),
    ("ah", re.compile(r"(?<![\dA-Z.])(\d{2,3})\s*AH(?![A-Z])"), lambda m: f"{m[1]}AH",
     frozenset("H")),
    ("volume", re.compile(r"(?<![\dA-Z.])(\d+(?:\.\d+)?)\s*(ML|毫升|L|升|KG|公斤)(?![A-Z])"),
     _volume, frozenset("L升K斤")),
    ("wiper", re.compile(r"(?<![\dA-Z.])(\d{2})\s*(?:英寸|寸|\")"), lambda m: f"{m[1]}寸",
     frozenset("寸\"")),
    ("socket", re.compile(r"(?<![\dA-Z])(H(?:11|1|3|4|7|8|9)|D[1-4]S)(?![\dA-Z])"),
     lambda m: m[1], frozenset("HD")),
    ("dot", re.compile(r"DOT\s*(3|4|5\.1)(\s*PLUS)?"),
     lambda m: f"DOT{m[1]}{'PLUS' if m[2] else ''}", frozenset("D")),
    ("temp", re.compile(r"(零下|-)?\s*(\d{1,2})\s*(?:°C|度)"), _temperature, frozenset("°度")),
    ("kelvin", re.compile(r"(?<![\dA-Z])(\d{4})\s*K(?![A-Z])"), lambda m: f"{m[1]}K",
     frozenset("K")),
    ("elec", re.compile(r"(?<![\dA-Z.])(\d{1,3})\s*(V|W)(?![A-Z0-9])"), lambda m: m[1] + m[2],
     frozenset("VW")),
)
_DIGIT = re.compile(r"\d")
SOFT_SPECS = frozenset({"elec"})  # 12V 55W: read so they are not taken for numbers, not required
_BULB_NUMBER = re.compile(r"(?<![\dA-Z])(900[56])(?![\dA-Z])")
_LAMP_WORDS = re.compile(r"灯|LED|卤素|氙气|飞利浦|欧司朗|PHILIPS|OSRAM")


def find_specs(text: str) -> list[Hit]:
    """Specs in `text` (5W-30, 205/55R16, 4L, 60AH, 22寸, H7, 6QW60 …), not overlapping."""
    hits: list[Hit] = []
    taken = bytearray(len(text))
    if not _DIGIT.search(text):
        return hits  # every spec has a number
    chars = frozenset(text)
    for kind, pattern, value, needs in _SPECS:
        if chars.isdisjoint(needs):
            continue
        for m in pattern.finditer(text):
            if any(taken[m.start():m.end()]):
                continue
            hits.append(Hit(kind, value(m), m.start(), m.end()))  # type: ignore[operator]
            taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    # 9005/9006 are bulb sockets only next to a lamp word
    if "900" in text and _LAMP_WORDS.search(text):
        hits += [Hit("socket", m[1], m.start(), m.end()) for m in _BULB_NUMBER.finditer(text)
                 if not any(taken[m.start():m.end()])]
    return hits


# --- quantities and prices ------------------------------------------------------------------

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_ANY_NUM = f"{_NUM}|{CN_NUM}"
_PRICE_LABEL = "|".join(D.PRICE_LABELS)
_TOTAL_BEFORE = re.compile(r"(?:" + "|".join(D.TOTAL_LABELS) + r"|=)\s*[:：]?\s*¥?\s*$")
# Units a catalogue may use that are not counting words here: measures read as specs
# (4L, 2KG) and lengths or weights (5米 of hose is a spec of the product, not a count).
NOT_QTY_UNITS = frozenset({"L", "ML", "KG", "G", "升", "毫升", "公斤", "千克", "克", "吨", "米",
                           "厘米", "毫米", "元", "块钱"})
_UNIT_WORD = re.compile(r"[\u4e00-\u9fff]{1,2}|[A-Z]{2,4}")


@dataclass(frozen=True)
class Units:
    """The counting units of a catalogue and the quantity and price patterns built on them.

    The shipped units (parser_data.QTY_UNITS) plus the catalogue's own 单位 (块, 卷, 袋 …).
    块 is money in speech (85块) unless the catalogue sells by the 块 (batteries, pads): then
    `2块` is a count, and 块 is a price only as 块钱 or per unit (85块/个, 85块一个).
    """

    words: tuple[str, ...]
    qty_times_price: re.Pattern[str]
    prices: tuple[tuple[re.Pattern[str], frozenset[str]], ...]
    qty_marked: re.Pattern[str]
    qty_unit: re.Pattern[str]


@functools.lru_cache(maxsize=16)
def units_for(extra: tuple[str, ...] = ()) -> Units:
    """The Units with `extra` (a catalogue's 单位, in normal form) added to the shipped ones."""
    extra = tuple(u for u in dict.fromkeys(extra)
                  if u not in D.QTY_UNITS and u not in NOT_QTY_UNITS and _UNIT_WORD.fullmatch(u))
    words = tuple(sorted((*D.QTY_UNITS, *extra), key=len, reverse=True))  # stable: PCS, PC
    unit = "|".join(map(re.escape, words))
    kuai = rf"块(?=\s*(?:/|[每一](?:{unit})))" if "块" in words else "块"  # 85块/个, or any 块
    # (pattern, needs) as for the specs: a pattern runs only on text holding one of its
    # `needs` (a price label's first character stands for the label)
    prices = (
        (re.compile(rf"@\s*¥?\s*({_NUM})\s*(?:元|块)?(?:\s*/\s*(?:{unit}))?"), frozenset("@")),
        (re.compile(rf"(?:{_PRICE_LABEL})\s*[:：]?\s*(?:为|是)?\s*¥?\s*({_NUM})\s*(?:元|块)?"
                    rf"(?:\s*/\s*(?:{unit}))?"), frozenset(w[0] for w in D.PRICE_LABELS)),
        (re.compile(rf"每(?:{unit})\s*({_NUM})\s*(?:元|块)?"), frozenset("每")),
        (re.compile(rf"¥\s*({_NUM})(?:\s*元)?(?:\s*/\s*(?:{unit}))?"), frozenset("¥")),
        (re.compile(rf"(?<![\dA-Z.])({_ANY_NUM})\s*(?:元|块钱|{kuai}|RMB)"
                    rf"(?:\s*/\s*(?:{unit})|\s*[每一](?:{unit}))?"), frozenset("元块R")),
        (re.compile(rf"(?<![\dA-Z.])({_NUM})\s*/\s*(?:{unit})(?![A-Z])"), frozenset("/")),
        # × 4 @204 = 816: the amount, dropped as a total
        (re.compile(rf"=\s*¥?\s*({_NUM})"), frozenset("=")),
    )
    return Units(
        words,
        re.compile(rf"(?<![\dA-Z.])(\d+)\s*({unit})?\s*[×X*]\s*¥?\s*({_NUM})\s*(?:元)?\s*=\s*"
                   rf"¥?\s*(?:{_NUM})\s*元?"),
        prices,
        re.compile(rf"(?:(?<![A-Z\d])[×X*]|数量|QTY|共|各|要|来|订|拿)\s*[:：]?\s*(\d+|{CN_NUM})"
                   rf"\s*({unit})?"),
        re.compile(rf"(?<![\dA-Z.])(\d+|{CN_NUM})\s*({unit})"),
    )


SHIPPED_UNITS = units_for()
_QTY_BARE = re.compile(r"(?<![\dA-Z.\-/:])(\d{1,5})(?![\dA-Z.%\-/:月日号点年天周折度寸])")
_QTY_BARE_CN = re.compile(rf"(?:^|(?<=\s))({CN_NUM})(?=\s|$)")


def find_prices(text: str, taken: bytearray, units: Units = SHIPPED_UNITS) -> list[Hit]:
    """Unit prices (@85, 单价85, 85元, ¥85, 85/套); totals (合计 1140元, = 1140) are dropped."""
    hits: list[Hit] = []
    for m in units.qty_times_price.finditer(text) if "=" in text else ():
        if _free(taken, m):
            hits.append(Hit("qty", m[1], m.start(1), m.end(1), unit=m[2] or ""))
            hits.append(Hit("price", m[3].replace(",", ""), m.start(3), m.end()))
            _take(taken, m)
    chars = frozenset(text)
    for pattern, needs in units.prices:
        if chars.isdisjoint(needs):
            continue
        for m in pattern.finditer(text):
            if not _free(taken, m):
                continue
            _take(taken, m)
            if m[0].startswith("=") or _TOTAL_BEFORE.search(text, 0, m.start()):
                hits.append(Hit("total", m[1], m.start(), m.end()))
            elif (value := to_number(m[1])) is not None:
                hits.append(Hit("price", str(value), m.start(), m.end()))
    return hits


def find_quantities(text: str, taken: bytearray, units: Units = SHIPPED_UNITS) -> list[Hit]:
    """Quantities: x20, ×20, *20, 数量:20, 20套, 四十支, 两套, 各2个; bare numbers are weak."""
    hits: list[Hit] = []
    digits, numerals = bool(_DIGIT.search(text)), not _CN_NUMERALS.isdisjoint(text)
    for pattern, strong, ran in ((units.qty_marked, True, digits or numerals),
                                 (units.qty_unit, True, digits or numerals),
                                 (_QTY_BARE, False, digits), (_QTY_BARE_CN, False, numerals)):
        if not ran:
            continue  # every quantity is written in digits or in Chinese numerals
        for m in pattern.finditer(text):
            if not _free(taken, m):
                continue
            count = _count(m[1])
            if count is None:
                continue
            unit = m[2] if pattern.groups >= 2 and m[2] else ""
            hits.append(Hit("qty", str(count), m.start(), m.end(), strong=strong,
                            each=m[0].startswith("各"), unit=unit))
            _take(taken, m)
    return hits


def _count(text: str) -> int | None:
    """A positive whole number of pieces (20, 二十), or None."""
    if text.isascii() and text.isdigit():
        return int(text) or None
    value = to_number(text)
    if value is None or value <= 0 or value != value.to_integral_value():
        return None
    return int(value)


def _free(taken: bytearray, m: re.Match[str]) -> bool:
    return not any(taken[m.start():m.end()])


def _take(taken: bytearray, m: re.Match[str]) -> None:
    taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())


def take(taken: bytearray, start: int, end: int) -> None:
    taken[start:end] = b"\x01" * (end - start)
