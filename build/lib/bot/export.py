"""Finance export: confirmed-or-later orders with their invoice data, as an XLSX list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from bot.domain.invoice import INVOICE_TYPES
from bot.domain.vocab import CST as SHANGHAI
from bot.domain.vocab import status_zh
from integrations import excel
from storage.models import Order, OrderLine, OrderStatus

NOT_EXPORTED = (OrderStatus.draft, OrderStatus.cancelled, OrderStatus.on_hold)
HEADER = ("订单号", "下单日期", "客户编码", "客户名称", "开票类型", "税号", "开户行", "银行账号",
          "金额(含税)", "状态", "商品明细")


async def export_invoices(path: str | Path, *, invoice_type: str | None = "专票",
                          since: date | None = None) -> int:
    """Write the finance list to an XLSX file; returns the number of orders in it.

    invoice_type None exports every type; since is a date in China time (Asia/Shanghai).
    """
    if invoice_type is not None and invoice_type not in INVOICE_TYPES:
        raise ValueError(f"开票类型“{invoice_type}”无效，应为普票、专票或无需")
    orders = await _orders(invoice_type, since)
    return excel.write_xlsx(path, HEADER, (order_row(o) for o in orders), title="开票清单")


async def _orders(invoice_type: str | None, since: date | None) -> list[Order]:
    query = Order.exclude(status__in=list(NOT_EXPORTED))
    if invoice_type is not None:
        query = query.filter(invoice_type=invoice_type)
    if since is not None:
        # Compare in UTC: SQLite keeps timestamps as text, so offsets must match.
        start = datetime.combine(since, time.min, SHANGHAI).astimezone(UTC)
        query = query.filter(created_at__gte=start)
    return await query.order_by("created_at", "id").prefetch_related("customer", "lines")


def order_row(order: Order) -> list[Any]:
    """One spreadsheet row; tax ID and account stay text so Excel keeps every digit."""
    customer = order.customer
    return [
        order.no, order.created_at.astimezone(SHANGHAI).date(), customer.code, customer.name,
        order.invoice_type, order.tax_id, order.bank, order.account, order.total,
        status_zh(order.status),
        lines_summary(order.lines),
    ]


def lines_summary(lines: Iterable[OrderLine]) -> str:
    """'BRK00001×20; OIL00012×4' in line order."""
    return "; ".join(f"{line.sku}×{line.qty}" for line in sorted(lines, key=lambda x: x.id))
