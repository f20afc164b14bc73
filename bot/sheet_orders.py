"""Orders from a spreadsheet (.xlsx/.csv) a salesperson sends: a quote sheet or a batch order.

Every row becomes an order line by the rules of chat orders: a SKU code as in the catalogue
(case, separators and spaces normalised by the parser), else the product name through the
parser's product matching (the team's learnt phrases included); a row the parser is not sure
of is not guessed but listed. Rows are grouped by customer, one draft order per customer, in
the order the customers first appear; a row with a blank customer cell belongs to the
customer above it (merged cells). Headers are matched like the master-data imports
(bot/imports.py: trimmed, case-insensitive, a "(单位)" suffix ignored); other columns
(金额, 备注 …) are ignored.

The same reader serves chat (WeCom file messages, the console's upload) and
POST /api/orders/import; placing is the caller's (each has its channel and card/JSON).
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from bot.domain import limits
from bot.domain.parser_table import HEADER_WORDS
from bot.imports import _header_key
from bot.ordering import InputError, LineInput, OrderService, Outcome, PlaceOrder
from integrations import excel
from storage.models import Customer

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 500
MAX_UNPACKED = 40 * 1024 * 1024
SUFFIXES = (*excel.CSV_SUFFIXES, *excel.XLSX_SUFFIXES)

# field → accepted headers (compared with bot.imports._header_key): the same words as a table
# pasted in chat (bot/domain/parser_table.py), so a sheet and a paste read alike. Brand, spec
# and model columns are read with the name (博世 | 前刹车片 | 朗逸 is one product phrase).
CONTEXT_FIELDS = ("brand", "spec", "model")
_SHEET_ONLY = {"customer": ("客户代码", "客户编号")}
HEADERS: dict[str, tuple[str, ...]] = {
    f: (f, *HEADER_WORDS[f], *_SHEET_ONLY.get(f, ()))
    for f in ("customer", "sku", "name", "qty", "price", "brand", "spec", "model")
}
_LOOKUP = {_header_key(n): f for f, names in HEADERS.items() for n in names}
_INT = re.compile(r"^\d+(?:\.0+)?$")


class SheetError(ValueError):
    """The file as a whole cannot be read as an order sheet; the message is Chinese."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(message)


class _Parser(Protocol):
    async def parse(self, text: str, customer: str | None = None,
                    team: str = "") -> dict[str, Any]: ...


@dataclass(frozen=True)
class SheetLine:
    row: int
    sku: str
    name: str
    qty: int
    price: Decimal | None


@dataclass(frozen=True)
class Unmatched:
    row: int
    field: str
    code: str
    message: str  # Chinese, without the row number

    def text_zh(self) -> str:
        return f"第{self.row}行：{self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "code": self.code,
                "message": self.text_zh()}


@dataclass
class SheetOrder:
    customer: str  # code
    customer_name: str
    lines: list[SheetLine] = field(default_factory=list)


@dataclass
class SheetResult:
    orders: list[SheetOrder]
    unmatched: list[Unmatched]
    total_rows: int


def read_sheet(data: bytes, filename: str) -> excel.Table:
    """The first sheet of an uploaded file, bounded in size and rows (SheetError otherwise)."""
    name = Path(filename or "").name or "文件"
    suffix = Path(name).suffix.lower()
    if len(data) > MAX_BYTES:
        raise SheetError("too_large", f"文件“{name}”太大（{len(data) // 1024} KB），"
                         f"表格下单的文件最大 {MAX_BYTES // 1024 // 1024} MB，请拆成几个文件发送")
    if suffix not in SUFFIXES:
        raise SheetError("not_spreadsheet", f"“{name}”不是表格文件。表格下单请发送 .xlsx 或 "
                         ".csv 文件（第1行为表头：客户、商品编码或商品名称、数量、单价）")
    if not data.strip():
        raise SheetError("empty", f"文件“{name}”是空的")
    if suffix in excel.XLSX_SUFFIXES:
        _check_unpacked(data, name)
    with tempfile.TemporaryDirectory(prefix="lvyue-sheet-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            table = excel.read_table(path, max_rows=MAX_ROWS)
        except excel.SpreadsheetError as exc:
            raise SheetError("unreadable", str(exc).replace("upload" + suffix, name)) from exc
    if len(table.rows) > MAX_ROWS:
        raise SheetError("too_many_rows", f"表格超过 {MAX_ROWS} 行，请拆成几个文件发送")
    if not table.rows:
        raise SheetError("no_rows", f"“{name}”只有表头，没有数据行")
    return table


def _check_unpacked(data: bytes, name: str) -> None:
    """An .xlsx is a zip: refuse one that would unpack to more than MAX_UNPACKED (a few MB
    of zip can hold gigabytes of XML, and openpyxl keeps the shared strings in memory)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, ValueError):
        return  # not a zip at all: reading it says so
    if unpacked > MAX_UNPACKED:
        raise SheetError("too_large", f"文件“{name}”解压后太大（{unpacked // 1048576} MB），"
                         "请只保留订单所在的工作表，或另存为 CSV 后发送")


def map_columns(header: list[str], customer_known: bool = False) -> dict[str, str]:
    """{file header: field}; SheetError when the quantity or the product column is missing
    (or the customer column, unless the customer is known otherwise)."""
    mapping: dict[str, str] = {}
    for name in filter(None, header):
        target = _LOOKUP.get(_header_key(name))
        if target is not None and target not in mapping.values():
            mapping[name] = target
    present = set(mapping.values())
    missing = []
    if "customer" not in present and not customer_known:
        missing.append("客户（客户编码或名称；一个客户的报价单也可以把客户写在文件名里，"
                       "例如“C0001报价单.xlsx”）")
    if not present & {"sku", "name"}:
        missing.append("商品编码或商品名称")
    if "qty" not in present:
        missing.append("数量")
    if missing:
        raise SheetError("missing_columns", f"表格缺少列：{'、'.join(missing)}。第1行应为表头，"
                         "例如：客户 | 商品编码 | 商品名称 | 数量 | 单价")
    return mapping


async def read_orders(data: bytes, filename: str, parser: _Parser, products: Any,
                      team: str = "", customer: str = "") -> SheetResult:
    """Rows → draft orders per customer, and the rows that could not be matched.

    A sheet without a customer column is one customer's: `customer` (the API's form field),
    else the customer the file name names (恒通汽修报价单.xlsx), when the parser is sure."""
    table = read_sheet(data, filename)
    customers = _Customers(parser)
    has_column = "customer" in {_LOOKUP.get(_header_key(h)) for h in table.header if h}
    current: tuple[str, str] | None = None
    said_customer = customer.strip()
    if not has_column:
        if said_customer:
            current = await customers.find(said_customer)
            if current is None:
                raise SheetError("unknown_customer", f"客户“{said_customer}”不存在，"
                                 "请写客户编码或全称")
        elif stem := Path(filename or "").stem:
            current = await customers.find(stem)
    mapping = map_columns(table.header, customer_known=current is not None)
    orders: dict[str, SheetOrder] = {}
    unmatched: list[Unmatched] = []
    names = _Names(products)
    for number, cells in table.rows:
        row = {f: cells.get(h, "") for h, f in mapping.items()}
        if row.get("customer"):
            said_customer = row["customer"]
            current = await customers.find(said_customer)
        if current is None:
            unmatched.append(Unmatched(number, "customer", "unknown_customer",
                                       f"客户“{said_customer}”不存在，请写客户编码或全称"
                                       if said_customer else "没有写客户"))
            continue
        line = await _line(number, row, parser, products, team, names)
        if isinstance(line, Unmatched):
            unmatched.append(line)
            continue
        order = orders.setdefault(current[0], SheetOrder(*current))
        if len(order.lines) >= limits.MAX_LINES:
            unmatched.append(Unmatched(number, "lines", "too_many",
                                       f"客户{current[0]}的订单已满 {limits.MAX_LINES} 行"))
            continue
        order.lines.append(line)
    return SheetResult(list(orders.values()), unmatched, len(table.rows))


async def _line(number: int, row: dict[str, str], parser: _Parser, products: Any,
                team: str, names: _Names | None = None) -> SheetLine | Unmatched:
    qty_text = row.get("qty", "").replace(",", "")
    if not _INT.match(qty_text) or int(float(qty_text)) <= 0:
        return Unmatched(number, "qty", "bad_qty", f"数量“{row.get('qty', '')}”不对，"
                         "数量必须是大于0的整数" if qty_text else "没有写数量")
    qty = int(float(qty_text))
    if r := limits.qty_refusal(qty):
        return Unmatched(number, "qty", r.code, r.message)
    price: Decimal | None = None
    if price_text := row.get("price", "").replace(",", "").removeprefix("¥").strip():
        try:
            price = Decimal(price_text)
        except InvalidOperation:
            return Unmatched(number, "price", "bad_price", f"单价“{row['price']}”不是数字")
        if not price.is_finite() or (r := limits.price_refusal(price)):
            return Unmatched(number, "price", "bad_price", f"单价“{row['price']}”不对")
    sku_text, name_text = row.get("sku", ""), row.get("name", "")
    if not sku_text and not name_text:
        return Unmatched(number, "sku", "no_product", "没有写商品编码或商品名称")
    context = " ".join(t for f in CONTEXT_FIELDS if (t := row.get(f, "").strip()))
    found = await _product(sku_text, name_text, qty, parser, products, team, names, context)
    if isinstance(found, str):
        return Unmatched(number, "sku" if sku_text else "name", "unmatched", found)
    return SheetLine(number, found[0], found[1], qty, price)


def _name_key(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().upper()


class _Names:
    """Exact catalogue names → SKU (names two products share are left to the parser);
    built on first use, once per sheet."""

    def __init__(self, products: Any) -> None:
        self.products = products
        self._index: dict[str, str | None] | None = None

    def get(self, name: str) -> str | None:
        if self._index is None:
            self._index = {}
            for sku, p in self.products.items():
                key = _name_key(p.name)
                self._index[key] = None if key in self._index else sku
        return self._index.get(_name_key(name))


async def _product(sku_text: str, name_text: str, qty: int, parser: _Parser, products: Any,
                   team: str, names: _Names | None = None,
                   context: str = "") -> tuple[str, str] | str:
    """(sku, name), or why not (Chinese). An exact code wins; a code the catalogue does not
    know is not replaced by a guess from the name."""
    if sku_text:
        code = sku_text.strip().upper()
        if code in products:
            return code, products[code].name
        draft = await parser.parse(sku_text, team=team)
        hit = [ln for ln in draft["lines"] if ln.get("sku") and ln.get("confidence", 0) >= 1]
        if len(hit) == 1:
            return hit[0]["sku"], hit[0]["name"]
        if not name_text:
            return f"商品编码“{sku_text}”不存在"
    elif names is not None and (exact := names.get(name_text)):
        return exact, products[exact].name  # a catalogue name copied as it is
    # The parser reads a line as chat does: the name with its quantity (a bare name is no
    # order line to it); the quantity itself is the sheet's.
    phrase = " ".join(t for t in (context, name_text) if t) if name_text else ""
    draft = await parser.parse(f"{phrase} x{qty}", team=team)
    lines = draft["lines"]
    # One product however the parser cut the cell (it may split a long name in two lines
    # that both name the same SKU); two products, or a line it is unsure of, is not a match.
    skus = {ln.get("sku") for ln in lines}
    if len(skus) == 1 and None not in skus:
        if sku_text:  # a wrong code beside a name: ask, never guess past the code
            return (f"商品编码“{sku_text}”不存在（名称像是 {lines[0]['sku']} "
                    f"{lines[0]['name']}，请核对）")
        return lines[0]["sku"], lines[0]["name"]
    candidates = [c for ln in lines for c in ln.get("candidates", [])][:3]
    if candidates:
        near = "、".join(f"{c['sku']} {c['name']}" for c in candidates)
        return f"商品“{name_text}”不确定是哪一个（可能是：{near}），请写商品编码"
    return f"找不到商品“{name_text}”，请写商品编码"


class _Customers:
    """Customer cell → (code, name): the code, the full name, an alias, else the parser's
    confident match; each distinct cell is looked up once."""

    def __init__(self, parser: _Parser) -> None:
        self.parser = parser
        self.seen: dict[str, tuple[str, str] | None] = {}

    async def find(self, text: str) -> tuple[str, str] | None:
        if text not in self.seen:
            self.seen[text] = await self._find(text.strip())
        return self.seen[text]

    async def _find(self, text: str) -> tuple[str, str] | None:
        c = (await Customer.get_or_none(code=text.upper(), active=True)
             or await Customer.filter(name=text, active=True).first())
        if c is not None:
            return c.code, c.name
        draft = await self.parser.parse(text)
        found = draft.get("customer")
        if found and found.get("confidence", 0) >= 0.9:
            return str(found["code"]), str(found["name"])
        return None


@dataclass
class Placed:
    sheet: SheetOrder
    outcome: Outcome | None  # None: refused before a draft existed (`error` says why)
    error: str = ""


async def place_all(result: SheetResult, service: OrderService, *, channel: str, actor: str,
                    price_approved: bool, key: str | None = None) -> list[Placed]:
    """One draft order per customer of the sheet (never confirmed: the salesperson confirms
    each on its card, or the API client by POST /api/orders/{no}/confirm)."""
    placed = []
    for sheet in result.orders:
        cmd = PlaceOrder(
            customer=sheet.customer,
            lines=[LineInput(ln.sku, ln.qty, ln.price) for ln in sheet.lines],
            channel=channel, idempotency_key=f"{key}:{sheet.customer}" if key else None,
            salesperson=actor, keep_failed=True, actor=actor, price_approved=price_approved)
        try:
            placed.append(Placed(sheet, await service.place(cmd)))
        except InputError as e:
            placed.append(Placed(sheet, None, e.message))
    return placed
