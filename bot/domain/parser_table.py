"""Pasted quote cards and tables: pipe tables, tab-separated rows, column headers (pure).

A header row (商品编码 | 商品名称 | 数量 | 单价 …) turns the rows under it into ordinary order
lines with explicit labels ("BRK00012 博世 前刹车片 数量:4 单价:285"), so the rest of the
parser reads them like typed lines. Without pipes or tabs, the numbers at the end of a row
are given to the numeric columns at the end of the header (数量 单价 金额), right to left.
"""

from __future__ import annotations

import re

from bot.domain import parser_data as D

HEADER_WORDS: dict[str, tuple[str, ...]] = {
    "seq": ("序号", "NO.", "NO", "#", "行号"),
    "customer": ("客户", "客户名称", "客户编码", "客户简称", "购货单位"),
    "sku": ("商品编码", "产品编码", "物料编码", "存货编码", "商品编号", "编码", "SKU", "货号",
            "料号", "编号"),
    "name": ("商品名称", "产品名称", "配件名称", "物料名称", "存货名称", "名称", "品名", "商品",
             "配件", "产品", "描述"),
    "brand": ("品牌",),
    "model": ("适用车型", "车型"),
    "spec": ("规格型号", "规格", "型号"),
    "unit": ("单位",),
    "qty": ("订货数量", "订购数量", "数量", "数目", "件数", "QTY"),
    "price": ("含税单价", "单价", "价格", "报价"),
    "amount": ("金额", "小计", "总价", "合计"),
    "note": ("备注",),
}
TEXT_COLUMNS = ("sku", "brand", "name", "spec", "model")
_TAIL = frozenset({"qty", "price", "amount", "unit"})
_SEPARATOR_ROW = re.compile(r"^[\s|:\-+=]*$")
_NUMBER = re.compile(r"^¥?\d{1,3}(?:,\d{3})*(?:\.\d+)?(?:元)?$|^¥?\d+(?:\.\d+)?(?:元)?$")
_UNIT_WORDS = frozenset(D.QTY_UNITS)
_QTY_CELL = re.compile(r"^(\d+)\s*(" + "|".join(D.QTY_UNITS) + r")?$")


def column_kind(cell: str) -> str | None:
    cell = re.sub(r"[(（].*?[)）]", "", cell).strip()
    for kind, words in HEADER_WORDS.items():
        if cell in words:
            return kind
    return None


def _cells(line: str) -> tuple[list[str], str]:
    if "|" in line:
        return [c.strip() for c in line.strip().strip("|").split("|")], "|"
    if "\t" in line:
        return [c.strip() for c in line.split("\t")], "\t"
    return line.split(), " "


_ANY_HEADER_WORD = re.compile("|".join(w for ws in HEADER_WORDS.values() for w in ws
                                       if not w.isascii()) + "|SKU|QTY")


def header(line: str) -> tuple[list[str | None], str] | None:
    """The column kinds when `line` is a table header."""
    if len(_ANY_HEADER_WORD.findall(line)) < 2:
        return None
    cells, sep = _cells(line)
    kinds = [column_kind(c) for c in cells]
    known = [k for k in kinds if k]
    if len(known) >= 2 and {"qty", "name", "sku"} & set(known) and len(known) * 2 >= len(cells):
        return kinds, sep
    return None


def row_to_line(line: str, kinds: list[str | None], sep: str) -> str | None:
    """An order line with labels, '' for a row to skip, None when the table has ended."""
    if _SEPARATOR_ROW.match(line):
        return ""
    if any(w in line for w in ("合计", "总计", "共计")):
        return ""
    cells, row_sep = _cells(line)
    if sep != " " and row_sep != sep:
        return None
    if sep == " ":
        values = _align(cells, kinds)
        if not any(k in values for k in _TAIL):
            return None  # a row of a card ends in its numbers; this line is past the table
    else:
        values = {k: c for k, c in zip(kinds, cells, strict=False) if k}
    text = " ".join(values[k] for k in TEXT_COLUMNS if values.get(k))
    if not text:
        return None
    if customer := values.get("customer", "").strip():
        text = f"客户:{customer}\n{text}"  # a line of its own, read like a typed one
    qty = values.get("qty", "")
    unit = values.get("unit", "") if values.get("unit", "") in _UNIT_WORDS else ""
    if m := _QTY_CELL.match(qty.strip()):
        text += f" 数量:{m[1]}{m[2] or unit}"
    elif qty:
        text += f" {qty}"
    if price := values.get("price", "").replace("¥", "").replace("元", "").strip():
        text += f" 单价:{price}"
    return text


def _align(tokens: list[str], kinds: list[str | None]) -> dict[str, str]:
    """Whitespace rows: numbers at the end go to the numeric columns at the end."""
    tokens = list(tokens)
    if kinds and kinds[0] == "seq" and tokens and tokens[0].rstrip(".、").isdigit():
        tokens.pop(0)
    tail: list[str] = []
    for k in reversed(kinds):
        if k not in _TAIL:
            break
        tail.insert(0, k)
    values: dict[str, str] = {}
    for k in reversed(tail):
        if not tokens:
            break
        tok = tokens[-1]
        if k == "unit":
            if tok in _UNIT_WORDS:
                values[k] = tokens.pop()
            continue
        if _NUMBER.match(tok) or (k == "qty" and _QTY_CELL.match(tok)):
            values[k] = tokens.pop()
    values["name"] = " ".join(tokens)
    return values


def expand_tables(lines: list[str]) -> list[str]:
    """Lines with every table row rewritten as a labelled order line."""
    out: list[str] = []
    current: tuple[list[str | None], str] | None = None
    for line in lines:
        found = header(line)
        if found:
            current = found
            continue
        if current is not None:
            row = row_to_line(line, *current)
            if row is None:
                current = None
            else:
                out.extend(row.split("\n"))
                continue
        out.append(line)
    return out
