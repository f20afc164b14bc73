"""`python bot.py stock reconcile [--fix]`: does each stock row's reserved figure equal the
reservations that hold it (storage/reservations.py)?

Orders reserved before reservations were rows get their rows first (from their reserved
shipments), so an upgraded database does not show them as drift. Then every stock row whose
`reserved` differs from the sum of its active reservation rows is reported; `--fix` sets
the figure to that sum (the rows are the record of who holds what) and checks again.
Exit status: 0 when the figures agree (after fixing, with `--fix`), 1 on drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage import reservations
from storage.models import Stock
from storage.reservations import Drift


@dataclass
class Report:
    checked: int
    backfilled: int
    drift: list[Drift] = field(default_factory=list)
    fixed: int = 0
    left: list[Drift] = field(default_factory=list)  # still drifting after --fix

    @property
    def ok(self) -> bool:
        return not (self.left if self.fixed else self.drift)

    def lines(self) -> list[str]:
        """What the command prints (Chinese, for the operator)."""
        out = []
        if self.backfilled:
            out.append(f"补记升级前锁定的预留明细 {self.backfilled} 条")
        out.append(f"库存锁定对账：检查 {self.checked} 行库存，{len(self.drift)} 行不一致")
        out += [f"  {d.warehouse} {d.sku}：已锁定 {d.counter}，预留明细合计 {d.rows}，"
                f"差 {d.difference:+d}" for d in self.drift]
        if self.fixed:
            out.append(f"已按预留明细修正 {self.fixed} 行")
            out += [f"  仍不一致：{d.warehouse} {d.sku}（已锁定 {d.counter}，明细 {d.rows}）"
                    for d in self.left]
        return out


async def reconcile(fix: bool = False) -> Report:
    """Compare (and with `fix`, repair) every stock row's reserved figure."""
    report = Report(checked=await Stock.all().count(), backfilled=await reservations.backfill())
    report.drift = await reservations.drift()
    if fix and report.drift:
        report.fixed = await reservations.fix()
        report.left = await reservations.drift()
    return report
