"""Order text as salespeople type or paste it → a draft order (pure, no I/O).

    index = ParserIndex.build(products, customers, geocode.parse)  # once, at start-up
    draft = parse("恒通汽修 朗逸前刹车片 博世 x4 @285", index)
    draft.to_json()

The text is normalised (fullwidth → ASCII, upper case, trade synonyms), pasted tables are
rewritten as labelled lines, and every line is cut into chunks. A chunk gives up, in turn,
its invoice words, customer names, a delivery address, and then product items (see
parser_chunks and parser_match). Nothing ambiguous is guessed: an item that fits several
products, or fits only after relaxing what was asked, gets `sku: null`, its candidates and a
question in Chinese; so do unclear customers, quantities, addresses and tax IDs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from bot.domain import parser_data as D
from bot.domain.parser_chunks import Item, Span, inherit, scan, segment
from bot.domain.parser_fields import (
    CustomerMention,
    CustomerResult,
    Invoice,
    clean_address,
    find_address,
    finish_invoice,
    fuzzy_customer,
    looks_like_shop,
    resolve_customer,
    take_customer,
    take_customer_label,
    take_invoice,
)
from bot.domain.parser_index import CustomerRef, ParserIndex, phrase_key
from bot.domain.parser_match import LineMatch, match_item
from bot.domain.parser_table import expand_tables
from bot.domain.parser_text import as_typed, normalize_name, rewrite

__all__ = ["CustomerRef", "Draft", "DraftLine", "ParserIndex", "parse"]

_SPLIT = re.compile(r"[、;。!?]|(?<!\d),|,(?!\d)")
_NUMBERING = re.compile(r"^\s*(?:[(\[]\d{1,3}[)\]]|\d{1,3}\s*[.、:)](?!\d)|第\d+[行项条]\s*:?"
                        r"|[-•·*]\s)\s*")
_CONTACT_CHUNK = re.compile(r"^\s*(?:联系人|收货人|收件人|联系电话|电话|手机|联系方式)")
_SKIP_LINE = re.compile(r"^\s*[\[【(]?\s*(?:" + "|".join(D.SKIP_LABELS) + ")")
_CONTEXT_KINDS = frozenset({"brand", "model", "make", "resid", "pos"})
_CONTEXT_WORDS = frozenset({"brand", "model", "make", "term", "cat"})
_PRODUCT_WORDS = frozenset({"sku", "code", "term", "cat", "brand", "model", "spec"})
MAX_LISTED = 5


@dataclass
class DraftLine:
    sku: str | None
    name: str
    qty: int
    unit_price: Decimal | None
    confidence: float
    candidates: list[tuple[str, str, float]] = field(default_factory=list)
    # The words as typed (without quantity and price): what a correction teaches the parser.
    # Not part of the JSON (`bot.py parse` keeps its shape).
    phrase: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku, "name": self.name, "qty": self.qty,
            "unit_price": _number(self.unit_price), "confidence": round(self.confidence, 2),
            "candidates": [{"sku": s, "name": n, "score": round(sc, 2)}
                           for s, n, sc in self.candidates],
        }


@dataclass
class Draft:
    customer: CustomerResult
    lines: list[DraftLine]
    address: dict[str, str | None] | None
    invoice: Invoice
    questions: list[str]

    def to_json(self) -> dict[str, Any]:
        c = self.customer
        return {
            "customer": ({"code": c.code, "name": c.name, "confidence": round(c.confidence, 2)}
                         if c.code else None),
            "customer_candidates": [{"code": code, "name": name, "score": round(s, 2)}
                                    for code, name, s in c.candidates],
            "lines": [line.to_json() for line in self.lines],
            "address": self.address,
            "invoice": self.invoice.to_json(),
            "questions": list(self.questions),
        }


@dataclass
class _Context:
    index: ParserIndex
    mentions: list[CustomerMention] = field(default_factory=list)
    invoice: Invoice = field(default_factory=Invoice)
    address: str | None = None
    items: list[Item] = field(default_factory=list)
    context: list[Span] = field(default_factory=list)  # a line of only brand / model words
    team: str = ""


def parse(text: str, index: ParserIndex, customer_code: str | None = None,
          team: str = "") -> Draft:
    """Read an order message; `customer_code` (e.g. from --customer) overrides the text;
    `team` chooses whose learnt phrases apply (besides everyone's)."""
    ctx = _Context(index, team=team)
    named = normalize_name(text)  # as typed, in normal form: questions quote its words
    lines = expand_tables(rewrite(named).split("\n"))
    for line in lines:
        _read_line(line, ctx)
    questions: list[str] = []
    customer = resolve_customer(ctx.mentions, index.customers, customer_code)
    if customer.question:
        questions.append(customer.question)
    draft_lines = [_draft_line(n, item, index, questions, ctx.team, named)
                   for n, item in enumerate(ctx.items, start=1)]
    if not draft_lines:
        questions.append("没有识别到商品，请按“商品名称或编码 数量”发送")
    address = _address(ctx.address, index, questions)
    questions += finish_invoice(ctx.invoice)
    return Draft(customer, draft_lines, address, ctx.invoice, questions)


# --- lines and chunks -----------------------------------------------------------------------


def _read_line(line: str, ctx: _Context) -> None:
    line = _NUMBERING.sub("", line, count=1)
    skip = bool(_SKIP_LINE.match(line))
    items: list[Item] = []
    for chunk in _SPLIT.split(line):
        items += _read_chunk(chunk, ctx, skip)
    _finish_line(items, ctx)


def _read_chunk(chunk: str, ctx: _Context, skip: bool) -> list[Item]:
    if not chunk.strip() or _CONTACT_CHUNK.match(chunk):
        return []
    index = ctx.index
    chunk = take_invoice(chunk, ctx.invoice)
    chunk = take_customer(chunk, index, ctx.mentions)
    chunk = take_customer_label(chunk, index.customers, ctx.mentions)
    found = find_address(chunk)
    if found:
        start, text = found
        if (raw := clean_address(text)) and ctx.address is None:
            ctx.address = raw
        chunk = chunk[:start]
    if skip or not chunk.strip():
        return []
    spans = scan(chunk, index)
    if looks_like_shop(chunk) and not any(s.kind in _PRODUCT_WORDS for s in spans):
        ctx.mentions.append(fuzzy_customer(chunk.strip(), index.customers))
        return []
    return segment(spans, chunk)


def _finish_line(items: list[Item], ctx: _Context) -> None:
    products: list[Item] = []
    for item in items:
        if _context_only(item):
            ctx.context = [s for s in item.spans if s.kind in _CONTEXT_WORDS]
        elif item.is_product:
            products.append(item)
        elif item.has("qty", "price"):
            target = products[-1] if products else (ctx.items[-1] if ctx.items else None)
            if target is not None:
                _merge_modifiers(target, item)
    _share(products)
    _each(products)
    for item in products:
        _inherit_context(item, ctx.context)
        ctx.items.extend(_expand_positions(item))


def _context_only(item: Item) -> bool:
    """A line of only a brand or model (博世的：), or a heading (轮胎：), says what follows."""
    kinds = {s.kind for s in item.spans}
    if item.text.rstrip().endswith(":") and kinds <= _CONTEXT_KINDS | {"term", "cat"}:
        return bool(kinds & _CONTEXT_WORDS)
    return bool(kinds & {"brand", "model", "make"}) and kinds <= _CONTEXT_KINDS - {"pos"}


def _merge_modifiers(target: Item, item: Item) -> None:
    """A line of only a quantity or price (数量：6, 单价285) completes the item before it;
    a second, different quantity is kept so that the draft asks which one is meant."""
    for kind in ("qty", "price"):
        if kind == "qty" or not target.has(kind):
            target.spans.extend(s for s in item.spans if s.kind == kind)


def _share(products: list[Item]) -> None:
    """One model named once in a line counts for every item of the line (朗逸 前刹车片2套
    后刹车片2套); so does one brand, but not for an item about another car (博世朗逸前刹车片,
    卡罗拉机滤: the 机滤 may be of any brand)."""
    if len(products) < 2:
        return
    models = [s for it in products for s in it.spans if s.kind in ("model", "make")]
    if len({s.value for s in models}) == 1:
        for it in products:
            if not it.has("model", "make"):
                inherit(it, "model", [models[0]])
    brands = [(s, it) for it in products for s in it.of("brand")]
    if len({s.value for s, _ in brands}) == 1:
        source_models = {s.value for s in brands[0][1].spans if s.kind in ("model", "make")}
        for it in products:
            own = {s.value for s in it.spans if s.kind in ("model", "make") and not s.inherited}
            if not it.has("brand") and (not own or own == source_models):
                inherit(it, "brand", [brands[0][0]])


def _each(products: list[Item]) -> None:
    """各2套: the quantity of every item of the line that has none."""
    each = next((s for it in products for s in it.of("qty") if s.each), None)
    if each is None:
        return
    for it in products:
        if not it.has("qty"):
            it.spans.append(each)


def _inherit_context(item: Item, context: list[Span]) -> None:
    for kinds in (("brand",), ("model", "make"), ("term", "cat")):
        spans = [s for s in context if s.kind in kinds]
        if spans and not item.has(*kinds):
            inherit(item, kinds[0], spans)


def _expand_positions(item: Item) -> list[Item]:
    """前后刹车片 is two lines: 前刹车片 and 后刹车片 (左右 likewise)."""
    chars = "".join(s.value for s in item.of("pos"))
    for pair in ("前后", "左右"):
        if pair[0] in chars and pair[1] in chars:
            return [x for side in pair for x in _expand_positions(_one_side(item, pair, side))]
    return [item]


def _one_side(item: Item, pair: str, side: str) -> Item:
    """The item with the other side of `pair` taken out of its position words and text."""
    other = pair[1] if side == pair[0] else pair[0]
    spans, text = [], item.text
    for s in item.spans:
        if s.kind == "pos" and other in s.value:
            value = s.value.replace(other, "")
            text = text[:s.start] + text[s.start:s.end].replace(other, " ") + text[s.end:]
            if not value:
                continue
            s = replace(s, value=value)
        spans.append(s)
    return Item(spans, text)


# --- draft lines ----------------------------------------------------------------------------


LEARNT_CONFIDENCE = 0.95


def _draft_line(n: int, item: Item, index: ParserIndex, questions: list[str],
                team: str = "", typed: str = "") -> DraftLine:
    raw = item.raw()
    m = match_item(item, index, raw)
    if index.learnt and not item.has("sku", "badsku"):
        m = _learnt(raw, index, team) or m
    # an open line is quoted back in the salesperson's own words (玻璃水, not 玻璃清洗液)
    label = m.name if m.sku else as_typed(m.name or raw, typed)
    qty, qty_question = _quantity(item, m)
    price = _price(item)
    if m.problem:
        questions.append(_line_question(n, label, m))
    if qty_question:
        questions.append(f"第{n}行“{label}”{qty_question}")
    return DraftLine(m.sku, label, qty, price, m.confidence, m.candidates if not m.sku else [],
                     raw)


def _learnt(raw: str, index: ParserIndex, team: str) -> LineMatch | None:
    """A phrase the team taught the parser (never over a SKU code written in the line)."""
    key = phrase_key(raw)
    sku = index.learnt.get((team, key)) or index.learnt.get(("", key))
    if sku is None or sku not in index.products.by_sku:
        return None
    i = index.products.by_sku[sku]
    t = index.products
    return LineMatch(t.skus[i], t.names[i], LEARNT_CONFIDENCE, unit=t.units[i])


def _quantity(item: Item, m: LineMatch) -> tuple[int, str | None]:
    spans = item.of("qty")
    chosen = [s for s in spans if s.strong] or spans
    if not chosen:
        return 1, "没有写数量，暂按1计，请确认数量"
    values = list(dict.fromkeys(int(s.value) for s in chosen))
    first = chosen[0]
    if len(values) > 1:
        return values[0], f"数量不一致（{'、'.join(map(str, values))}），请确认"
    qty = values[0]
    if first.unit in D.PAIR_UNITS and m.unit in D.SINGLE_PIECE_UNITS:
        return qty * 2, None  # 一对雨刮 = 2 支
    if first.unit in D.PACK_UNITS and m.unit and m.unit not in D.PACK_UNITS:
        return qty, (f"按“{first.unit}”下单，每{first.unit}数量不确定，"
                     f"请确认实际数量（暂按{qty}{m.unit}计）")
    if not first.strong and len(spans) > 1:
        return qty, f"数量按{qty}计，其余数字未识别，请确认"
    return qty, None


def _price(item: Item) -> Decimal | None:
    prices = item.of("price")
    if prices:
        return Decimal(prices[0].value)
    # 氙气灯泡 D2S 2个 420: a bare number after a quantity with a unit is the unit price
    qty = [s for s in item.of("qty") if s.strong]
    after = [s for s in item.of("qty") if not s.strong and qty and s.start > qty[0].end]
    return Decimal(after[0].value) if len(after) == 1 and qty[0].unit else None


def _line_question(n: int, label: str, m: LineMatch) -> str:
    listing = "；".join(f"{sku} {name}" for sku, name, _ in m.candidates[:MAX_LISTED])
    if m.problem == "ambiguous":
        more = (f"（共{m.count}个，可补充品牌、车型、位置或规格）" if m.count > MAX_LISTED else "")
        return f"第{n}行“{label}”匹配到多个商品{more}，请选择：{listing}"
    if m.problem == "weak":
        return f"第{n}行“{label}”没有完全相符的商品，最接近的是：{listing}，请确认"
    if m.problem == "inactive":
        return f"第{n}行商品“{label}”已停用，请换一个商品"
    if m.problem == "badsku":
        return f"第{n}行商品编码“{label}”不存在，请核对"
    return f"第{n}行“{label}”没有找到对应的商品，请提供商品编码或完整名称"


def _address(raw: str | None, index: ParserIndex, questions: list[str]
             ) -> dict[str, str | None] | None:
    if not raw:
        return None
    place = index.geocoder(raw)
    if place is None:
        questions.append(f"收货地址“{raw}”无法识别到省市，请补充完整地址（省市区+详细地址）")
        return {"raw": raw, "province": None, "city": None, "district": None, "adcode": None}
    return {"raw": raw, "province": place.province, "city": place.city,
            "district": place.district or None, "adcode": place.adcode}


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)
