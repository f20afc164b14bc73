"""Chart axes (messages/charts.py): sensible units and ticks for any data."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import kpi
from messages import charts


def test_tiny_values_get_whole_ticks_not_an_axis_to_a_thousandth():
    # issue 9: one order shipped 5 s after it was placed drew an axis up to 0.0015 小时
    assert charts._nice(0.0015, 0.5) == (1.0, 0.5)
    assert charts._nice(0.3) == (2.0, 1.0)  # counts: whole numbers
    assert charts._nice(3) == (3.0, 1.0)
    assert charts._nice(37) == (40.0, 10.0)
    assert charts._nice(0) == (4.0, 1.0)


def test_ship_chart_ticks_are_half_hours_at_least():
    now = datetime(2026, 3, 10, 4, tzinfo=UTC)
    period = kpi.Period.last(7, now)
    days = [kpi.Day(d) for d in period.dates]
    days[-1].ship_hours = [5 / 3600]
    dash = kpi.Dashboard(period, 2.0, days, kpi.deliveries([], 2.0), [5 / 3600], 0, 0, [])
    c = charts.ship_chart(dash)
    assert [t["label"] for t in c["yticks"]] == ["0", "0.5", "1"] and c["unit"] == "小时"


def test_histogram_bins_say_early_or_late_in_words():
    c = charts.histogram_chart(kpi.histogram([-30, -3, -1, 1, 7, 40], 2))
    titles = [b["title"] for b in c["bars"]]
    assert titles == ["提前超过24小时 包裹 1件", "提前2–6小时 包裹 1件",
                      "提前0–2小时（窗口内） 包裹 1件", "延迟0–2小时（窗口内） 包裹 1件",
                      "延迟6–12小时 包裹 1件", "延迟超过24小时 包裹 1件"]
    assert c["xunit"] == "签收−承诺（小时）"
    assert [t["label"] for t in c["xticks"]][:2] == ["−24", "−12"]
