"""Finance export: which orders, which columns, how the XLSX looks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.export import HEADER, export_invoices
from storage.models import Customer, Order, OrderLine, OrderStatus, Product

TAX_ID = "91330106MA27Y5XK19"


async def make_order(no: str, customer: Customer, products: dict[str, Product],
                     lines: list[tuple[str, int]], *, status: OrderStatus = OrderStatus.confirmed,
                     invoice_type: str = "专票", created_at: datetime | None = None) -> Order:
    total = sum((products[sku].price * qty for sku, qty in lines), Decimal(0))
    order = await Order.create(
        no=no, customer=customer, status=status, invoice_type=invoice_type,
        tax_id=TAX_ID if invoice_type == "专票" else "", bank="工商银行杭州文三路支行",
        account="6222021234567890123", total=total,
        created_at=created_at or datetime(2024, 5, 10, 2, 0, tzinfo=UTC))
    for sku, qty in lines:
        p = products[sku]
        await OrderLine.create(order=order, product=p, sku=sku, name=p.name, qty=qty,
                               unit_price=p.price, amount=p.price * qty)
    return order


@pytest.fixture
async def shop(db) -> tuple[Customer, dict[str, Product]]:
    customer = await Customer.create(code="C001", name="杭州西湖汽修厂", invoice_type="专票",
                                     tax_id=TAX_ID)
    products = {
        "BRK00001": await Product.create(sku="BRK00001", name="前刹车片", category="刹车",
                                         price=Decimal("168.00")),
        "OIL00012": await Product.create(sku="OIL00012", name="机油", category="机油",
                                         price=Decimal("299.50")),
    }
    return customer, products


def read_sheet(path: Path) -> list[tuple]:
    workbook = load_workbook(path)
    return list(workbook.active.iter_rows(values_only=True))


async def test_exports_confirmed_special_invoices(shop, tmp_path):
    customer, products = shop
    await make_order("SO001", customer, products, [("BRK00001", 20), ("OIL00012", 4)])
    await make_order("SO002", customer, products, [("BRK00001", 1)], status=OrderStatus.shipped)
    await make_order("SO003", customer, products, [("BRK00001", 1)], status=OrderStatus.draft)
    await make_order("SO004", customer, products, [("BRK00001", 1)], status=OrderStatus.cancelled)
    await make_order("SO005", customer, products, [("BRK00001", 1)], status=OrderStatus.on_hold)
    await make_order("SO006", customer, products, [("BRK00001", 1)], invoice_type="普票")
    path = tmp_path / "invoices.xlsx"
    assert await export_invoices(path) == 2
    rows = read_sheet(path)
    assert rows[0] == HEADER
    assert [r[0] for r in rows[1:]] == ["SO001", "SO002"]
    no, day, code, name, kind, tax_id, bank, account, amount, status, lines = rows[1]
    assert (no, code, name, kind, tax_id) == ("SO001", "C001", "杭州西湖汽修厂", "专票", TAX_ID)
    assert day.date() == date(2024, 5, 10)
    assert (bank, account) == ("工商银行杭州文三路支行", "6222021234567890123")
    assert amount == pytest.approx(168 * 20 + 299.5 * 4)
    assert status == "已确认"
    assert rows[2][9] == "已出库"
    assert lines == "BRK00001×20; OIL00012×4"


async def test_since_is_a_shanghai_date_and_type_none_exports_all(shop, tmp_path):
    customer, products = shop
    # 2024-05-01 16:30 UTC is already 2 May in Shanghai; 15:59 UTC is still 1 May.
    await make_order("SO010", customer, products, [("BRK00001", 1)],
                     created_at=datetime(2024, 5, 1, 15, 59, tzinfo=UTC))
    await make_order("SO011", customer, products, [("BRK00001", 2)], invoice_type="普票",
                     created_at=datetime(2024, 5, 1, 16, 30, tzinfo=UTC))
    path = tmp_path / "all.xlsx"
    assert await export_invoices(path, invoice_type=None, since=date(2024, 5, 2)) == 1
    rows = read_sheet(path)
    assert rows[1][0] == "SO011"
    assert rows[1][1].date() == date(2024, 5, 2)
    assert await export_invoices(path, invoice_type=None) == 2
    assert await export_invoices(path, invoice_type="普票", since=date(2024, 5, 3)) == 0
    assert read_sheet(path) == [HEADER]


async def test_sheet_is_formatted(shop, tmp_path):
    customer, products = shop
    await make_order("SO020", customer, products, [("OIL00012", 3)])
    path = tmp_path / "fmt.xlsx"
    await export_invoices(path)
    sheet = load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.column_dimensions["D"].width >= 16  # 杭州西湖汽修厂: 7 wide characters
    assert isinstance(sheet["F2"].value, str)  # tax ID stays text


async def test_rejects_unknown_invoice_type(db, tmp_path):
    with pytest.raises(ValueError, match="开票类型"):
        await export_invoices(tmp_path / "x.xlsx", invoice_type="增票")
