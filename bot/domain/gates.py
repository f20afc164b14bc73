"""Intake gates. Each gate is a pure function returning a GateResult value, never raising.

Every gate runs, so all failing gates are reported together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.domain import couriers, credit
from bot.domain.allocation import Allocation, Destination, Shortage, WarehouseInfo
from bot.domain.coverage import usable_carriers
from bot.domain.invoice import invoice_problems
from bot.domain.places import Place
from bot.domain.rules import RuleBook


@dataclass(frozen=True)
class GateResult:
    code: str
    ok: bool
    message: str
    checked: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "message": self.message,
                "checked": dict(self.checked)}


@dataclass(frozen=True)
class CustomerView:
    code: str
    name: str
    active: bool
    credit_limit: Decimal
    exposure: Decimal


@dataclass(frozen=True)
class IntakeFacts:
    """What the gates look at for one order."""

    customer: CustomerView | None
    customer_ref: str
    total: Decimal
    allocation: Allocation
    place: Place | None
    address_raw: str
    invoice: Mapping[str, str]
    names: Mapping[str, str]  # sku → product name, for messages
    warehouses: Mapping[str, WarehouseInfo]
    credit_released_by: str | None = None
    address_missing: str = "请写明省、市"  # what the address lacks when it cannot be placed


def customer_gate(f: IntakeFacts) -> GateResult:
    if f.customer is None:
        return GateResult("customer", False, f"客户“{f.customer_ref}”不存在，请核对客户编码或名称",
                          {"customer": f.customer_ref})
    if not f.customer.active:
        return GateResult("customer", False, f"客户{f.customer.name}已停用，不能下单",
                          {"customer": f.customer.code, "active": False})
    return GateResult("customer", True, f"客户{f.customer.name}正常",
                      {"customer": f.customer.code, "active": True})


def credit_gate(f: IntakeFacts, settings: RuleBook) -> GateResult:
    c = f.customer
    if c is None:
        return GateResult("credit", False, "客户未知，无法核对信用额度", {})
    left = credit.left(c.credit_limit, c.exposure, settings.credit_tolerance)
    checked = {"credit_limit": str(c.credit_limit), "exposure": str(c.exposure),
               "order_total": str(f.total), "credit_left": str(left)}
    if f.total <= left:
        return GateResult("credit", True, f"信用额度充足，剩余{left:.2f}元", checked)
    if f.credit_released_by:
        return GateResult("credit", True, f"信用额度不足，已由{f.credit_released_by}放行",
                          {**checked, "released_by": f.credit_released_by})
    return GateResult(
        "credit", False,
        f"信用额度不足：额度{c.credit_limit:.2f}元，未结{c.exposure:.2f}元，"
        f"本单{f.total:.2f}元，超出{f.total - left:.2f}元。需经理放行或先回款", checked)


def stock_gate(f: IntakeFacts) -> GateResult:
    a = f.allocation
    picks = [{"sku": p.sku, "warehouse": p.warehouse, "qty": p.qty} for p in a.picks]
    if a.ok:
        return GateResult("stock", True, "库存充足", {"picks": picks})
    parts = [_shortage_zh(s, f) for s in a.shortages]
    return GateResult("stock", False, "库存不足：" + "；".join(parts), {
        "picks": picks,
        "shortages": [{"sku": s.sku, "wanted": s.wanted, "available": s.servable,
                       "warehouses": list(s.warehouses)} for s in a.shortages]})


def _shortage_zh(s: Shortage, f: IntakeFacts) -> str:
    name = f.names.get(s.sku, s.sku)
    if not s.warehouses:
        return f"{s.sku} {name} 没有可供货的仓库"
    return f"{s.sku} {name} 需要{s.wanted}，可用{s.servable}"


def coverage_gate(f: IntakeFacts, settings: RuleBook) -> GateResult:
    p = f.place
    if not f.address_raw.strip():
        return GateResult("coverage", False, "缺少收货地址", {})
    if p is None:  # only an address without a city is refused
        return GateResult("coverage", False,
                          f"收货地址“{f.address_raw}”无法识别到城市：{f.address_missing}",
                          {"address": f.address_raw})
    checked: dict[str, Any] = {"province": p.province, "city": p.city,
                               "district": p.district, "adcode": p.adcode}
    if p.zone:
        checked["zone"] = p.zone
    carriers, skipped = usable_carriers(destination(p), settings)
    if skipped:
        checked = {**checked, "unavailable": skipped}
    if not carriers and skipped:
        return GateResult("coverage", False,
                          f"{p.province}{p.city}{p.area}可配送的快递均未开通："
                          + "；".join(skipped.values()), checked)
    if not carriers:
        return GateResult("coverage", False,
                          f"{p.province}{p.city}{p.area}不在任何签约快递的配送范围内", checked)
    note = (f"；未开通：{'、'.join(couriers.short_name(c) for c in skipped)}"
            if skipped else "")
    return GateResult("coverage", True,
                      f"{p.city}{p.area}可配送（{'、'.join(carriers)}）{note}",
                      {**checked, "carriers": carriers})


def invoice_gate(f: IntakeFacts) -> GateResult:
    inv = f.invoice
    kind = inv.get("type") or "普票"
    problems = invoice_problems(kind, inv.get("tax_id", ""), inv.get("bank", ""),
                                inv.get("account", ""))
    checked = {"type": kind, "tax_id": inv.get("tax_id", "")}
    if problems:
        return GateResult("invoice", False, "开票信息有误：" + "；".join(problems), checked)
    return GateResult("invoice", True, f"开票信息完整（{kind}）", checked)


def run_intake(f: IntakeFacts, settings: RuleBook) -> list[GateResult]:
    """Run every intake gate; the list is in a fixed order."""
    return [customer_gate(f), credit_gate(f, settings), stock_gate(f),
            coverage_gate(f, settings), invoice_gate(f)]


def failed(results: Sequence[GateResult]) -> list[GateResult]:
    return [g for g in results if not g.ok]


def destination(p: Place) -> Destination:
    return Destination(p.province_short, p.city_short, p.lat, p.lon, p.area)
