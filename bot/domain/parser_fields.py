"""The parts of an order message that are not products: customer, address, invoice (pure).

Each `take_*` function looks at one chunk of text, records what it found, and returns the
chunk with those characters blanked out, so what is left can still be read as products.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from bot.domain import parser_data as D
from bot.domain.invoice import normalise_tax_id, tax_id_problem
from bot.domain.parser_customers import CustomerTable
from bot.domain.parser_index import ParserIndex

_CUSTOMER_LABEL = re.compile(
    r"(?:" + "|".join(sorted(D.CUSTOMER_LABELS, key=len, reverse=True)) + r")\s*[:：]?\s*")
_LOOSE_CUSTOMER_CODE = re.compile(r"(?<![A-Z0-9\-])[A-Z]{1,4}[-_./ ]?\d{2,6}(?![A-Z0-9\-])")
_CUSTOMER_CODE = re.compile(r"(?<![A-Z0-9])[A-Z]{1,3}\d{3,6}(?![A-Z0-9])")
_ADDRESS_LABEL = re.compile(
    r"(?:" + "|".join(sorted(D.ADDRESS_LABELS, key=len, reverse=True)) + r")\s*[:：]?\s*")
_ADMIN = re.compile(r"[省市区县州]")
_PLACE_DETAIL = re.compile(r"[路街道弄巷镇村幢栋室]|号|汽配城|园区|大厦|广场|工业区|开发区")
_ROAD_NUMBER = re.compile(r"[路街道弄巷]\s*\d+\s*号")
_LEADING_QTY = re.compile(r"^[\dA-Z.×*@¥]+[" + "".join(D.QTY_UNITS[2:]) + r"元]?")
_WORD = re.compile(r"\S+")
_PHONE = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
_CONTACT = re.compile(r"(?:联系人|收货人|收件人|联系电话|电话|手机)\s*:?\s*[\u4e00-\u9fffA-Z]{0,4}"
                      r"|[\u4e00-\u9fff]{1,2}(?:师傅|先生|女士|小姐|经理|老板|总)"
                      r"(?![\u4e00-\u9fff])")
_INVOICE_NONE = re.compile(r"不开票|不开发票|不要发票|不要票|无需发票|无需开票|不需要发票"
                           r"|不需要开票|不用开票|不用发票|免开票|不开票据")
_INVOICE_SPECIAL = re.compile(r"增值税专用发票|专用发票|增值税专票|电子专票|专票|增专")
_INVOICE_NORMAL = re.compile(r"增值税普通发票|普通发票|电子普票|电子发票|普票|普通票|电票")
_TAX_LABEL = re.compile(r"(?:纳税人识别号|统一社会信用代码|社会信用代码|信用代码|识别号|税号)"
                        r"\s*:?\s*([0-9A-Z][0-9A-Z \-]{2,30}[0-9A-Z])?")
_TAX_BARE = re.compile(r"(?<![0-9A-Z])(?=[0-9A-Z]*\d)[0-9A-Z]{18}(?![0-9A-Z])")
_BANK = re.compile(r"(?:开户行|开户银行|开户支行)\s*:?\s*([^\s;、:]+?(?:银行[^\s;、:]*|社|行))"
                   r"(?=\s|$|;|、|账|帐)")
_ACCOUNT = re.compile(r"(?:银行账号|银行帐号|账号|帐号|账户|卡号)\s*[:：]?\s*(\d[\d \-]{6,40}\d)")
# Gates: every word of the pattern above holds one of these (tests/bot/test_parser_gates.py),
# so a chunk without any of them cannot match and the pattern is not run.
INVOICE_GATE = ("票", "增专")
TAX_LABEL_GATE = ("号", "代码")
BANK_GATE = ("开户",)
ACCOUNT_GATE = ("账", "帐", "卡号")
_ACCOUNT_SEPARATORS = re.compile(r"[\s\-]")
_CJK_TAIL = re.compile(r"[\u4e00-\u9fff]{1,4}$")
CUSTOMER_OK = 0.75
CUSTOMER_MARGIN = 0.1


@dataclass
class Invoice:
    type: str | None = None
    tax_id: str | None = None
    bank: str | None = None
    account: str | None = None
    types_seen: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, str | None]:
        return {"type": self.type, "tax_id": self.tax_id, "bank": self.bank,
                "account": self.account}


@dataclass
class CustomerMention:
    kind: str  # code | name | alias | fuzzy
    ids: list[int]
    text: str
    scores: list[float] = field(default_factory=list)
    context: str = ""  # the words around a shared alias (上海 in 上海鑫隆汽修)


def blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


# --- invoice --------------------------------------------------------------------------------


def take_invoice(chunk: str, inv: Invoice) -> str:
    """Invoice type, tax ID, bank and account; blanks them out of the chunk."""
    # each pattern runs only when a word it cannot match without is in the chunk
    if _holds(chunk, INVOICE_GATE):
        for pattern, kind in ((_INVOICE_NONE, "无需"), (_INVOICE_SPECIAL, "专票"),
                              (_INVOICE_NORMAL, "普票")):
            for m in pattern.finditer(chunk):
                inv.types_seen.add(kind)
                chunk = blank(chunk, m.start(), m.end())
    if _holds(chunk, TAX_LABEL_GATE):
        for m in _TAX_LABEL.finditer(chunk):
            if m[1]:
                _set_tax_id(inv, m[1])
            chunk = blank(chunk, m.start(), m.end())
    for m in _TAX_BARE.finditer(chunk) if len(chunk) >= 18 else ():
        if tax_id_problem(m[0]) is None:
            _set_tax_id(inv, m[0])
            chunk = blank(chunk, m.start(), m.end())
    if _holds(chunk, BANK_GATE):
        for m in _BANK.finditer(chunk):
            inv.bank = inv.bank or m[1]
            chunk = blank(chunk, m.start(), m.end())
    if _holds(chunk, ACCOUNT_GATE):
        for m in _ACCOUNT.finditer(chunk):
            inv.account = inv.account or _ACCOUNT_SEPARATORS.sub("", m[1])
            chunk = blank(chunk, m.start(), m.end())
    return chunk


def _holds(text: str, words: tuple[str, ...]) -> bool:
    return any(w in text for w in words)


def _set_tax_id(inv: Invoice, value: str) -> None:
    tid = normalise_tax_id(value)
    if inv.tax_id is None:
        inv.tax_id = tid
        if problem := tax_id_problem(tid):
            inv.problems.append(problem + "，请核对")


def finish_invoice(inv: Invoice) -> list[str]:
    """Settle the type; the questions the invoice part raises."""
    questions = list(inv.problems)
    if len(inv.types_seen) == 1:
        inv.type = next(iter(inv.types_seen))
    elif len(inv.types_seen) > 1:
        kinds = "、".join(sorted(inv.types_seen))
        questions.append(f"开票类型不明确（{kinds}），请确认开哪种发票")
    return questions


# --- address --------------------------------------------------------------------------------


def find_address(chunk: str) -> tuple[int, str] | None:
    """(where the address starts, the address text) when the chunk carries one.

    A label (地址, 送到 …) starts it; without one, the first word (addresses have no spaces)
    with a place (省/市/区/县) and a street or number in it, minus a quantity glued before.
    """
    m = _ADDRESS_LABEL.search(chunk)
    if m and (m.start() == 0 or _ADMIN.search(chunk, m.end()) or _ROAD_NUMBER.search(chunk)):
        return m.start(), chunk[m.end():]
    if not _ADMIN.search(chunk) and not _ROAD_NUMBER.search(chunk):
        return None  # what no word of the chunk can have
    for word in _WORD.finditer(chunk):
        if (_ADMIN.search(word[0]) and _PLACE_DETAIL.search(word[0])) or _ROAD_NUMBER.search(
                word[0]):
            lead = _LEADING_QTY.match(word[0])
            start = word.start() + (lead.end() if lead else 0)
            return start, chunk[start:]
    return None


def clean_address(text: str) -> str:
    text = _PHONE.sub(" ", text)
    text = _CONTACT.sub(" ", text)
    return re.sub(r"\s+", "", text).strip(" :：-()（）")


# --- customer -------------------------------------------------------------------------------


def customer_label(chunk: str) -> re.Match[str] | None:
    return _CUSTOMER_LABEL.match(chunk.strip())


def take_customer(chunk: str, index: ParserIndex, mentions: list[CustomerMention]) -> str:
    """Customer codes, exact names and aliases, blanked out of the chunk."""
    table = index.customers
    label = customer_label(chunk)
    for m in _CUSTOMER_CODE.finditer(chunk):
        if m[0] in table.by_code and (label or not _is_part_number(m[0], chunk, index)):
            mentions.append(CustomerMention("code", [table.by_code[m[0]]], m[0]))
            chunk = blank(chunk, m.start(), m.end())
    if table.by_compact:
        for m in _LOOSE_CUSTOMER_CODE.finditer(chunk):
            code = table.by_compact.get("".join(ch for ch in m[0] if ch.isalnum()))
            if code is not None and (label or not _is_part_number(code, chunk, index)):
                mentions.append(CustomerMention("code", [table.by_code[code]], code))
                chunk = blank(chunk, m.start(), m.end())
    taken = bytearray(len(chunk))
    for entry, start, end in table.lexicon.scan(chunk, taken):
        kind = "name" if table.exact_is_name.get(entry.key) else "alias"
        ids = list(table.exact[entry.key])
        before = _CJK_TAIL.search(chunk, 0, start) if len(ids) > 1 else None
        if before and index.lexicon.scan(before[0], bytearray(len(before[0]))):
            before = None  # product words (朗逸前刹车片精诚汽修), not part of the name
        if before:
            start = before.start()
        mentions.append(CustomerMention(kind, ids, entry.key,
                                        context=chunk[start:end].strip()))
        chunk = blank(chunk, start, end)
    return chunk


def _is_part_number(code: str, chunk: str, index: ParserIndex) -> bool:
    """曼牌 writes part numbers like C0206: it is one when the line's words fit that part."""
    bits = index.products.code.get(code, 0)
    if not bits:
        return False
    words = index.lexicon.scan(chunk, bytearray(len(chunk)))
    return bool(words) and all(entry.bits & bits for entry, _, _ in words
                               if entry.kind in ("term", "brand"))


def take_customer_label(chunk: str, table: CustomerTable,
                        mentions: list[CustomerMention]) -> str:
    """A chunk labelled 客户/店名/收货单位 names the customer: matched fuzzily when needed."""
    label = customer_label(chunk)
    if not label:
        return chunk
    offset = len(chunk) - len(chunk.lstrip())
    name = re.match(r"\S*", chunk[offset + label.end():])
    assert name is not None
    if len(name[0]) >= 2:
        mentions.append(fuzzy_customer(name[0], table))
    return blank(chunk, 0, offset + label.end() + name.end())


def looks_like_shop(chunk: str) -> bool:
    return chunk.strip().endswith(D.SHOP_SUFFIXES)


def fuzzy_customer(text: str, table: CustomerTable,
                   among: set[int] | None = None) -> CustomerMention:
    """Customers scored by rare characters shared (idf) and rapidfuzz similarity."""
    chars = {ch for ch in text if not ch.isspace()}
    weight = sum(table.idf.get(ch, 0.0) for ch in chars) or 1.0
    pool: set[int] = set()
    if among is not None:
        pool = set(among)
    else:  # customers sharing a rare character (owned by at most 15 % of them)
        rare = max(3, len(table.refs) * 0.15)
        for ch in chars:
            owners = table.char_owners.get(ch, set())
            if len(owners) <= rare:
                pool |= owners
    scored = []
    for i in pool:
        cover = sum(table.idf.get(ch, 0.0) for ch in chars & table.chars[i]) / weight
        best = process.extractOne(text, table.strings[i], scorer=fuzz.ratio, processor=None)
        similar = best[1] / 100 if best else 0.0
        scored.append((0.7 * cover + 0.3 * similar, i))
    scored.sort(key=lambda s: (-s[0], s[1]))
    top = [(round(s, 2), i) for s, i in scored[:5] if s >= 0.4]
    return CustomerMention("fuzzy", [i for _, i in top], text, [s for s, _ in top])


@dataclass
class CustomerResult:
    code: str | None = None
    name: str | None = None
    confidence: float = 0.0
    candidates: list[tuple[str, str, float]] = field(default_factory=list)
    question: str | None = None


def resolve_customer(mentions: list[CustomerMention], table: CustomerTable,
                     override: str | None) -> CustomerResult:
    if override is not None:
        return _by_code(override, table)
    for kind in ("code", "name", "alias", "fuzzy"):
        for m in (m for m in mentions if m.kind == kind):
            return _resolve(m, table)
    return CustomerResult(question="没有识别到客户，请注明客户编码或名称")


def _by_code(code: str, table: CustomerTable) -> CustomerResult:
    key = code.strip().upper()
    if key not in table.by_code:
        return CustomerResult(question=f"客户编码{code}不存在，请核对")
    ref = table.refs[table.by_code[key]]
    return CustomerResult(ref.code, ref.name, 1.0)


def _resolve(m: CustomerMention, table: CustomerTable) -> CustomerResult:
    refs = table.refs
    if m.kind == "fuzzy":
        ok = m.scores and m.scores[0] >= CUSTOMER_OK and (
            len(m.scores) == 1 or m.scores[0] - m.scores[1] >= CUSTOMER_MARGIN)
        if ok:
            ref = refs[m.ids[0]]
            return CustomerResult(ref.code, ref.name, m.scores[0])
        cands = [(refs[i].code, refs[i].name, s) for i, s in zip(m.ids, m.scores, strict=True)]
        return _ask(m.text, cands)
    ids = sorted(set(m.ids))
    if len(ids) == 1:
        ref = refs[ids[0]]
        return CustomerResult(ref.code, ref.name, 0.95 if m.kind == "alias" else 1.0)
    if len(m.context) > len(m.text):  # 上海鑫隆汽修: the city tells the 鑫隆汽修 apart
        narrowed = fuzzy_customer(m.context, table, set(ids))
        if narrowed.scores and (len(narrowed.scores) == 1
                                or narrowed.scores[0] - narrowed.scores[1] >= CUSTOMER_MARGIN):
            ref = refs[narrowed.ids[0]]
            return CustomerResult(ref.code, ref.name, min(0.9, narrowed.scores[0]))
    return _ask(m.text, [(refs[i].code, refs[i].name, 0.9) for i in ids])


def _ask(text: str, cands: list[tuple[str, str, float]]) -> CustomerResult:
    if not cands:
        return CustomerResult(question=f"客户“{text}”没有找到，请提供客户编码或全称")
    listing = "；".join(f"{c} {n}" for c, n, _ in cands[:5])
    if len(cands) == 1:
        return CustomerResult(candidates=cands,
                              question=f"客户“{text}”没有完全匹配，是否为：{listing}？")
    more = f"等{len(cands)}家" if len(cands) > 5 else ""
    return CustomerResult(candidates=cands[:5],
                          question=f"客户“{text}”匹配到多个客户{more}，请选择：{listing}")
