"""Spreadsheet I/O: read rows from CSV or XLSX, write a formatted XLSX.

Reading yields ``(row_number, {header: value})`` where row_number is the spreadsheet row
(header = row 1, first data row = 2) and every value is a trimmed string ("" when blank).
CSV may be UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text") or GB18030/GBK,
which is what Excel on a Chinese Windows writes.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

CSV_SUFFIXES = (".csv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
_TEXT_ENCODINGS = ("utf-8-sig", "gb18030")
_MIN_WIDTH, _MAX_WIDTH = 6, 60
# Excel keeps 15 significant digits: a bigger "whole" number (a bank account typed as a
# number) has already lost digits, so it stays in float form and fails validation.
_EXACT_FLOAT = 1e15

Row = tuple[int, dict[str, str]]


class SpreadsheetError(ValueError):
    """The file cannot be read as a table; the message is in Chinese for the user."""


@dataclass(frozen=True)
class Table:
    """A sheet read into memory: the header row and the non-blank data rows."""

    header: list[str]
    rows: list[Row]


def read_table(path: str | Path, max_rows: int | None = None) -> Table:
    """Read the whole first sheet (CSV or XLSX); blank rows are skipped. With `max_rows`,
    reading stops after max_rows + 1 data rows (the caller tells "too many" by the count)."""
    path = Path(path)
    raw = _raw_rows(path)
    try:
        header = [cell_text(v) for v in next(raw, ())]
        data = (row for row in _data_rows(header, raw) if any(row[1].values()))
        rows = list(data if max_rows is None else islice(data, max_rows + 1))
    except csv.Error as exc:
        raise SpreadsheetError(f"{path.name} 不是有效的 CSV 文件：{exc}") from exc
    if not any(header):
        raise SpreadsheetError(f"文件 {path.name} 的第1行是空的，第1行应为表头")
    return Table(header, rows)


def iter_rows(path: str | Path) -> Iterator[Row]:
    """(row_number, {header: value}) for every non-blank data row."""
    yield from read_table(path).rows


def _data_rows(header: list[str], raw: Iterator[Sequence[Any]]) -> Iterator[Row]:
    for number, values in enumerate(raw, start=2):
        cells = [cell_text(v) for v in values]
        cells += [""] * (len(header) - len(cells))
        yield number, {h: cells[i] for i, h in enumerate(header) if h}


def _raw_rows(path: Path) -> Iterator[Sequence[Any]]:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _csv_rows(path)
    if suffix in XLSX_SUFFIXES:
        return _xlsx_rows(path)
    if suffix == ".xls":
        raise SpreadsheetError(f"不支持旧版 Excel 文件 {path.name}，请另存为 .xlsx 或 CSV")
    raise SpreadsheetError(f"不支持的文件类型“{path.suffix or path.name}”，请使用 CSV 或 XLSX")


# --- CSV ---------------------------------------------------------------------------------


def _csv_rows(path: Path) -> Iterator[list[str]]:
    text = decode_text(_read_bytes(path), path.name)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    return iter(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SpreadsheetError(f"无法读取文件 {path}：文件不存在") from None
    except OSError as exc:
        raise SpreadsheetError(f"无法读取文件 {path}：{exc.strerror or exc}") from exc


def decode_text(data: bytes, name: str = "文件") -> str:
    """UTF-16 by BOM, else UTF-8 (BOM optional), else GB18030 (a superset of GBK)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for encoding in _TEXT_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SpreadsheetError(f"{name} 的文字编码无法识别，请另存为 UTF-8 CSV 或 XLSX")


# --- XLSX --------------------------------------------------------------------------------


def _xlsx_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    if not path.exists():
        raise SpreadsheetError(f"无法读取文件 {path}：文件不存在")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise SpreadsheetError(f"{path.name} 不是有效的 XLSX 文件") from exc
    return _sheet_values(workbook)


def _sheet_values(workbook: Any) -> Iterator[tuple[Any, ...]]:
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers store a wrong dimension; read every row
        yield from sheet.iter_rows(min_row=1, values_only=True)
    finally:
        workbook.close()


def cell_text(value: Any) -> str:
    """A cell as trimmed text: 20.0 → "20", a time → "HH:MM", None → ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT:
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").strip()


# --- writing -----------------------------------------------------------------------------


def write_xlsx(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]],
               *, title: str = "Sheet1") -> int:
    """Write one sheet: bold frozen header, fitted column widths. Returns the data row count."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    count = 0
    for values in rows:
        sheet.append(list(values))
        count += 1
    _format_cells(sheet)
    sheet.freeze_panes = "A2"
    workbook.save(Path(path))
    return count


def _format_cells(sheet: Any) -> None:
    widths: dict[int, int] = {}
    for row in sheet.iter_rows():
        for cell in row:
            _number_format(cell)
            widths[cell.column] = max(widths.get(cell.column, 0), display_width(cell.value))
    for column, width in widths.items():
        letter = get_column_letter(column)
        sheet.column_dimensions[letter].width = min(max(width + 2, _MIN_WIDTH), _MAX_WIDTH)


def _number_format(cell: Any) -> None:
    if isinstance(cell.value, Decimal):
        cell.number_format = "#,##0.00"
    elif isinstance(cell.value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm"
    elif isinstance(cell.value, date):
        cell.number_format = "yyyy-mm-dd"


def display_width(value: Any) -> int:
    """Width in Excel character units: wide (CJK) characters count double."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = f"{value:,.2f}" if isinstance(value, Decimal) else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
