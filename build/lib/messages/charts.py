"""Chart geometry for the dashboard's inline SVG (messages/templates/pages/dashboard.html.j2
draws it): stacked bars, lines, axis ticks and the delivery-deviation histogram. Pure
functions of bot.kpi's figures; no JS, no CDN."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import kpi
from bot.domain import fmt

W, H = 360.0, 190.0
LEFT, RIGHT, TOP, BOTTOM = 34.0, 8.0, 22.0, 22.0
PW, PH = W - LEFT - RIGHT, H - TOP - BOTTOM


@dataclass(frozen=True)
class Series:
    name: str
    cls: str
    values: Sequence[float | None]
    unit: str


def _nice(top: float, min_step: float = 1.0) -> tuple[float, float]:
    """(axis maximum, tick step): the smallest step of 1, 2 or 5 × 10^k, and at least
    `min_step` (counts come in whole units, hours in half hours), that covers `top` in at
    most 5 steps. A tiny maximum gets a few whole ticks, never an axis up to 0.0015."""
    if top <= 0:
        return 4.0 * min_step, min_step
    mag = 10 ** math.floor(math.log10(top / 5))
    step = next(m * mag for m in (1, 2, 5, 10, 20) if math.ceil(top / (m * mag) - 1e-9) <= 5)
    step = max(step, min_step)
    return max(2, math.ceil(top / step - 1e-9)) * step, step


def _fmt_tick(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"


def _fmt_value(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def chart(labels: Sequence[str], bars: Sequence[Series] = (), lines: Sequence[Series] = (),
          xticks: Sequence[tuple[float, str]] = (), unit: str = "",
          bar_classes: Sequence[str] | None = None, min_step: float = 1.0,
          xunit: str = "") -> dict[str, Any]:
    """Stacked bars and lines over `labels` slots: rectangles, polylines and axis ticks."""
    n = max(1, len(labels))
    stacked = [sum(s.values[i] or 0 for s in bars) for i in range(len(labels))]
    top = max([*stacked, *(v or 0 for s in lines for v in s.values), 0])
    vmax, step = _nice(top, min_step)
    slot = PW / n

    def y(v: float) -> float:
        return round(TOP + PH - v / vmax * PH, 1)

    rects = []
    base = [0.0] * len(labels)
    for s in bars:
        for i, v in enumerate(s.values):
            if not v:
                continue
            bw = max(1.0, slot * 0.72)
            cls = bar_classes[i] if bar_classes else s.cls
            rects.append({"x": round(LEFT + i * slot + (slot - bw) / 2, 1), "y": y(base[i] + v),
                          "w": round(bw, 1), "h": round(v / vmax * PH, 1), "cls": cls,
                          "title": f"{labels[i]} {s.name} {_fmt_value(v)}{s.unit}"})
            base[i] += v
    polylines = [{"cls": s.cls, "points": " ".join(
        f"{LEFT + (i + 0.5) * slot:.1f},{y(v)}" for i, v in enumerate(s.values) if v is not None),
        "dots": [{"x": round(LEFT + (i + 0.5) * slot, 1), "y": y(v),
                  "title": f"{labels[i]} {s.name} {_fmt_value(v)}{s.unit}"}
                 for i, v in enumerate(s.values) if v is not None] if n <= 31 else []}
        for s in lines]
    return {
        "w": W, "h": H, "left": LEFT, "right": W - RIGHT, "top": TOP, "bottom": TOP + PH,
        "empty": top <= 0, "unit": unit, "xunit": xunit, "bars": rects, "lines": polylines,
        "yticks": [{"y": y(step * j), "label": _fmt_tick(step * j)}
                   for j in range(round(vmax / step) + 1)],
        "xticks": [{"x": round(LEFT + pos * slot, 1), "label": text} for pos, text in xticks],
        "legend": [{"name": s.name, "cls": s.cls} for s in (*bars, *lines)],
    }


def _day_ticks(dates: Sequence[Any]) -> list[tuple[float, str]]:
    every = max(1, math.ceil(len(dates) / 6))
    last = len(dates) - 1
    picks = [i for i in range(len(dates)) if (last - i) % every == 0]
    return [(i + 0.5, f"{dates[i].month}/{dates[i].day}") for i in picks]


def _labels(d: kpi.Dashboard) -> list[str]:
    return [fmt.day(day.date) for day in d.days]


def orders_chart(d: kpi.Dashboard) -> dict[str, Any]:
    return chart(_labels(d), lines=[
        Series("下单", "s-placed", [day.placed for day in d.days], "单"),
        Series("发货", "s-shipped", [day.shipped for day in d.days], "单"),
        Series("签收", "s-delivered", [day.delivered for day in d.days], "单")],
        xticks=_day_ticks([day.date for day in d.days]), unit="单")


def questions_chart(d: kpi.Dashboard) -> dict[str, Any]:
    return chart(_labels(d), bars=[
        Series("查物流", "s-logistics", [day.questions.get("logistics", 0) for day in d.days],
               "次"),
        Series("查单", "s-order", [day.questions.get("order", 0) for day in d.days], "次")],
        xticks=_day_ticks([day.date for day in d.days]), unit="次")


def ship_chart(d: kpi.Dashboard) -> dict[str, Any]:
    return chart(_labels(d), bars=[
        Series("中位数", "s-median", [kpi.percentile(day.ship_hours, 50) for day in d.days],
               "小时")], lines=[
        Series("P90", "s-p90", [kpi.percentile(day.ship_hours, 90) for day in d.days], "小时")],
        xticks=_day_ticks([day.date for day in d.days]), unit="小时", min_step=0.5)


def _edge(v: float) -> str:
    return f"{v:+g}".replace("-", "−") if v else "0"


def _hours(v: float) -> str:
    return f"{abs(v):g}小时"


def _bin_label(b: kpi.Bin) -> str:
    """What a bin holds, in words: 提前超过24小时, 提前2–6小时, 延迟0–2小时 …"""
    if b.lo is None:
        return f"提前超过{_hours(b.hi or 0)}"
    if b.hi is None:
        return f"延迟超过{_hours(b.lo)}"
    inside = "（窗口内）" if b.in_window else ""
    if b.hi <= 0:
        return f"提前{abs(b.hi):g}–{_hours(b.lo)}{inside}"
    return f"延迟{b.lo:g}–{_hours(b.hi)}{inside}"


def histogram_chart(bins: Sequence[kpi.Bin]) -> dict[str, Any]:
    labels = [_bin_label(b) for b in bins]
    ticks = [(i + 1.0, _edge(b.hi)) for i, b in enumerate(bins[:-1]) if b.hi is not None]
    return chart(labels, bars=[Series("包裹", "s-bin", [b.count for b in bins], "件")],
                 xticks=ticks, unit="件", xunit="签收−承诺（小时）",
                 bar_classes=["s-bin in-window" if b.in_window else "s-bin" for b in bins])

