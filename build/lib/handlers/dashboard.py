"""The managers' dashboard: `GET /dashboard` (HTML, charts as inline SVG) and
`GET /dashboard/data.json` (the same figures), `?days=7|30|90` (default 30).

The figures are business data, so they are served to loopback clients (not through a
proxy: a request carrying X-Forwarded-For/Forwarded/X-Real-IP is not local) and to anyone
holding a signed link `?k=<token>` (bot/tokens.py's HMAC token over the subject
"dashboard", keyed by a key derived from the app's secret, so no tracking token is ever a
dashboard key and back; it expires after LINK_TTL_DAYS). Everyone else gets a 403 page.
`dashboard_link` makes such links, e.g. for the managers' daily report.

The secret, the window (`promise.delivery_window_hours`), the carrier names and the clock
come from the tracking page's config on the app (`handlers.pages.TRACKING`, set by
bot/app.py), so the links are signed with exactly the key the tracking links use. Charts
are geometry from messages/charts.py that the template turns into SVG: no JS, no CDN.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot import kpi
from bot.config import Settings
from bot.domain.vocab import CST
from bot.tokens import tracking_token, verify_tracking_token
from bot.trackview import TrackingPageConfig, carrier_name
from handlers import pages
from handlers.keys import SETTINGS
from handlers.local import is_local
from handlers.problems import json_response, problem
from messages.charts import histogram_chart, orders_chart, questions_chart, ship_chart

SUBJECT = "dashboard"
LINK_TTL_DAYS = 7.0
DEFAULT_DAYS = 30
CSS = "dashboard.css"
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the key is in the query string
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}
routes = web.RouteTableDef()


# ---- links and access ------------------------------------------------------------------

def _link_key(secret: str) -> str:
    """The dashboard's own key, derived from the app secret (domain separation)."""
    return hmac.new(secret.encode("utf-8"), b"lvyue dashboard link", hashlib.sha256).hexdigest()


def _secret_of(source: Settings | TrackingPageConfig | str) -> str:
    if isinstance(source, str):
        return source
    secret: Any = source.secret
    return str(getattr(secret, "value", secret))


def dashboard_link(source: Settings | TrackingPageConfig | str, base_url: str,
                   now: datetime | None = None, *, ttl_days: float = LINK_TTL_DAYS) -> str:
    """`{base_url}/dashboard?k=…`, valid for `ttl_days` from `now`.

    Pass the running app's TrackingPageConfig (app[handlers.pages.TRACKING]) or its secret:
    without LVYUE_SECRET the app signs with a random key, which Settings does not know. With
    no secret at all the link is unsigned and opens only on the server itself.
    """
    base = f"{base_url.rstrip('/')}/dashboard"
    secret = _secret_of(source)
    if not secret:
        return base
    token = tracking_token(SUBJECT, _link_key(secret), ttl_days, now=now)
    return f"{base}?{urlencode({'k': token})}"


def key_ok(key: str, secret: str, now: datetime) -> bool:
    return bool(key and secret) and verify_tracking_token(key, _link_key(secret), now) == SUBJECT


def config(app: web.Application) -> TrackingPageConfig:
    if pages.TRACKING in app:
        return app[pages.TRACKING]
    settings = app[SETTINGS] if SETTINGS in app else Settings()
    return TrackingPageConfig(secret=settings.secret.value,
                              window_hours=settings.promise.delivery_window_hours,
                              carrier_names={c: v.name for c, v in settings.carriers.items()})


@dataclass(frozen=True)
class Access:
    cfg: TrackingPageConfig
    now: datetime
    key: str  # the valid key the request came with, "" for a local request
    days: int


def _access(request: web.Request, days: int) -> Access | None:
    cfg = config(request.app)
    now = cfg.clock()
    key = request.query.get("k", "")
    if key_ok(key, cfg.secret, now):
        return Access(cfg, now, key, days)
    if is_local(request):
        return Access(cfg, now, "", days)
    return None


def _days(request: web.Request) -> int | None:
    """?days=7|30|90, DEFAULT_DAYS when absent, None when anything else."""
    raw = request.query.get("days", "")
    if not raw:
        return DEFAULT_DAYS
    return int(raw) if raw.isdigit() and int(raw) in kpi.PERIODS else None


# ---- routes ----------------------------------------------------------------------------

@routes.get("/dashboard")
async def page(request: web.Request) -> web.Response:
    access = _access(request, _days(request) or DEFAULT_DAYS)  # a bad ?days: the default
    if access is None:
        html = pages.render("pages/dashboard.html.j2", v=None, css=_css_url())
        return web.Response(status=403, text=html, content_type="text/html", charset="utf-8",
                            headers=HEADERS)
    dash = await kpi.load(access.days, access.now, access.cfg.window_hours)
    html = pages.render("pages/dashboard.html.j2", v=view(dash, access), css=_css_url())
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=HEADERS)


@routes.get("/dashboard/data.json")
async def data(request: web.Request) -> web.Response:
    days = _days(request)
    access = _access(request, days or DEFAULT_DAYS)
    if access is None:
        return problem(403, "无权查看看板", [
            {"field": "k", "code": "forbidden",
             "message": "请在服务器本机打开，或使用带有效签名的看板链接"}])
    if days is None:
        return problem(422, "请求参数有误", [
            {"field": "days", "code": "invalid", "message": "days 只能是 7、30 或 90"}])
    dash = await kpi.load(access.days, access.now, access.cfg.window_hours)
    resp = json_response(as_json(dash, access.cfg))
    resp.headers.update({k: v for k, v in HEADERS.items() if k != "Content-Security-Policy"})
    return resp


@routes.get("/dashboard/static/dashboard.css")
async def css(request: web.Request) -> web.FileResponse:
    return web.FileResponse(pages.WEB / CSS, headers={
        "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})


def _css_url() -> str:
    return f"/dashboard/static/{CSS}?v={pages.asset_version(CSS)}"


# ---- JSON ------------------------------------------------------------------------------

def _iso(at: datetime) -> str:
    return at.astimezone(CST).isoformat(timespec="seconds")


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def as_json(d: kpi.Dashboard, cfg: TrackingPageConfig) -> dict[str, Any]:
    """The figures as JSON: times ISO 8601 in China time, shares in percent."""
    dl, hours = d.deliveries, d.ship_hours
    return {
        "period": {"days": d.period.days, "start": _iso(d.period.start),
                   "end": _iso(d.period.end), "window_hours": d.window_hours},
        "generated_at": _iso(d.period.end),
        "summary": {
            "placed": d.total("placed"), "shipped": d.total("shipped"),
            "delivered": d.total("delivered"), "parcels_delivered": dl.delivered,
            "parcels_with_promise": dl.with_promise,
            "mean_deviation_pct": _r(dl.mean_deviation_pct, 2),
            "median_deviation_pct": _r(dl.median_deviation_pct, 2),
            "within_window_pct": dl.within_window_pct, "on_time_pct": dl.on_time_pct,
            "early_pct": dl.early_pct, "late_pct": dl.late_pct,
            "mean_signed_deviation_pct": _r(dl.mean_signed_deviation_pct, 2),
            "mean_early_deviation_pct": _r(_neg(dl.mean_early_deviation_pct), 2),
            "mean_late_deviation_pct": _r(dl.mean_late_deviation_pct, 2),
            "median_diff_hours": _r(dl.median_diff_hours, 2),
            "ship_hours": {"mean": _r(sum(hours) / len(hours) if hours else None),
                           "median": _r(kpi.percentile(hours, 50)),
                           "p90": _r(kpi.percentile(hours, 90)), "orders": len(hours)},
            "logistics_questions": d.questions,
            "held_now": d.held_now, "late_now": d.late_now, "demo_orders": d.demo_orders,
        },
        "daily": [{
            "date": day.date.isoformat(), "placed": day.placed, "shipped": day.shipped,
            "delivered": day.delivered, "parcels_shipped": day.parcels_shipped,
            "parcels_delivered": day.parcels_delivered,
            "questions": {k: day.questions.get(k, 0) for k in kpi.store.QUESTION_KINDS},
            "ship_hours": {"median": _r(kpi.percentile(day.ship_hours, 50)),
                           "p90": _r(kpi.percentile(day.ship_hours, 90)),
                           "orders": len(day.ship_hours)},
        } for day in d.days],
        "deviation_histogram": [{"from_hours": b.lo, "to_hours": b.hi, "count": b.count,
                                 "in_window": b.in_window} for b in dl.histogram],
        "carriers": [{"code": c.code, "name": carrier_name(c.code, cfg) or "未知",
                      "delivered": c.delivered, "on_time_pct": c.on_time_pct,
                      "within_window_pct": c.within_window_pct,
                      "early_pct": c.early_pct, "late_pct": c.late_pct,
                      "mean_deviation_pct": _r(c.mean_deviation_pct, 2),
                      "mean_signed_deviation_pct": _r(c.mean_signed_deviation_pct, 2)}
                     for c in dl.carriers],
        "repeat_purchase": [{"month": m.month, "customers": m.customers,
                             "returning": m.returning, "rate_pct": m.rate_pct,
                             "previous_customers": m.previous_customers, "retained": m.retained,
                             "retention_pct": m.retention_pct, "partial": m.partial}
                            for m in d.months],
    }


# ---- the page --------------------------------------------------------------------------

def _num(n: float | None, unit: str = "", nd: int = 0, *, sign: bool = False) -> str:
    """A figure with its unit; `sign` writes + for positive (− for negative either way)."""
    if n is None:
        return "—"
    if round(n, nd) == 0:
        n = 0.0  # never "−0.0"
    text = f"{n:+,.{nd}f}" if sign and n else f"{n:,.{nd}f}"
    text = text.replace("-", "−")
    return f"{text}{unit}" if unit in ("%", "") else f"{text} {unit}"


def _neg(x: float | None) -> float | None:
    return None if x is None else -x


def _href(path: str, access: Access, days: int | None = None) -> str:
    """A link that keeps the request's key (a signed link stays signed)."""
    query: dict[str, Any] = {"days": days or access.days}
    if access.key:
        query["k"] = access.key
    return f"{path}?{urlencode(query)}"


def view(d: kpi.Dashboard, access: Access) -> dict[str, Any]:
    """Everything the template shows, formatted (numbers with units, Chinese labels)."""
    dl, w = d.deliveries, _num(d.window_hours, nd=0 if d.window_hours.is_integer() else 1)
    hours, n_days = d.ship_hours, max(1, len(d.days))
    month = d.months[-1] if d.months else None
    last = d.months[-2] if len(d.months) > 1 else None
    early_n = round((dl.early_pct or 0) * dl.with_promise / 100)
    late_n = round((dl.late_pct or 0) * dl.with_promise / 100)
    tiles = [
        ("准时率", _num(dl.on_time_pct, "%", 1),
         f"不晚于承诺+{w}小时 · 有承诺的签收 {_num(dl.with_promise, '件')}",
         f"准时：签收不晚于承诺送达时间后 {w} 小时（提前送达也算准时），与日报的准时率一致。"
         f"分母是统计期内签收且有承诺时间的包裹。"),
        (f"±{w}小时内送达", _num(dl.within_window_pct, "%", 1),
         f"提前超{w}小时 {_num(dl.early_pct, '%', 1)} · 晚到超{w}小时 {_num(dl.late_pct, '%', 1)}",
         f"签收时间落在承诺时间前后 {w} 小时之内的包裹占比（例：承诺15:00，14:00–16:00签收）。"
         f"其余包裹不是提前超过 {w} 小时，就是晚到超过 {w} 小时，三者相加为100%。"),
        ("提前送达偏差", _num(_neg(dl.mean_early_deviation_pct), "%", 1),
         f"提前超{w}小时的 {_num(early_n, '件')}，平均值",
         f"只看比承诺早到 {w} 小时以上的包裹：(签收 − 承诺) ÷ (承诺 − 下单) × 100% 的平均，"
         f"负数表示提前。提前送达不算违约，但说明承诺时间定得偏保守。"),
        ("延迟送达偏差", _num(dl.mean_late_deviation_pct, "%", 1, sign=True),
         f"晚到超{w}小时的 {_num(late_n, '件')}，平均值",
         f"只看比承诺晚到 {w} 小时以上的包裹：(签收 − 承诺) ÷ (承诺 − 下单) × 100% 的平均，"
         f"正数表示延迟。"),
        ("平均承诺偏差", _num(dl.mean_deviation_pct, "%", 1),
         f"带符号平均 {_num(dl.mean_signed_deviation_pct, '%', 1, sign=True)}（负为提前）"
         f" · 中位差 {_num(dl.median_diff_hours, '小时', 1, sign=True)}",
         "承诺交付时间偏差率 = |签收 − 承诺| ÷ (承诺 − 下单) × 100%，提前和延迟都按绝对值计；"
         "带符号平均保留方向（负为提前、正为延迟）；中位差是 签收 − 承诺 的中位数（小时）。"),
        ("下单→发货", _num(kpi.percentile(hours, 50), "小时", 1),
         f"中位数 · P90 {_num(kpi.percentile(hours, 90), '小时', 1)}",
         "订单发货时间 − 下单时间，统计期内发货的订单；中位数一半订单更快，P90 即 90% 的订单"
         "在此时长内发货。"),
        ("物流咨询", _num(d.questions / n_days, "次/天", 1),
         f"共 {_num(d.questions, '次')}（查物流、查单）",
         "群聊和私聊里“查物流”“查单”的次数，按天平均；越少说明客户越不用追问货在哪。"),
        ("挂起订单", _num(d.held_now, "单"), "当前待处理",
         "当前状态为挂起的订单数（信用、库存、地址或发票等关卡未通过，等待修改或经理放行）。"),
        ("超时未签收", _num(d.late_now, "件"), "已过承诺时间的包裹",
         "当前已确认、已过承诺送达时间但还没有签收的包裹数。"),
        ("本月复购率", _num(month.rate_pct if month else None, "%", 1),
         f"上月 {_num(last.rate_pct if last else None, '%', 1)}",
         "本月下单的客户中，此前月份也下过单的客户占比（只计已确认且未取消的订单）。"),
        ("订单", _num(d.total("placed"), "单"),
         f"发货 {_num(d.total('shipped'), '单')} · 签收 {_num(d.total('delivered'), '单')}",
         "统计期内提交的订单数（按下单日）：未确认的草稿不算订单，与群里“看板”和日报的"
         "口径一致；发货、签收按发生日计。"),
    ]
    return {
        "days": d.period.days, "empty": d.empty, "window": w, "demo_orders": d.demo_orders,
        "generated": d.period.end.astimezone(CST).strftime("%Y年%m月%d日 %H:%M"),
        "tabs": [{"label": f"近{n}天", "href": _href("/dashboard", access, n),
                  "active": n == d.period.days} for n in kpi.PERIODS],
        "json_href": _href("/dashboard/data.json", access),
        "tiles": [{"label": a, "value": b, "sub": c, "title": t} for a, b, c, t in tiles],
        "charts": {
            "orders": orders_chart(d), "questions": questions_chart(d),
            "histogram": histogram_chart(dl.histogram),
            "ship": ship_chart(d),
        },
        "carriers": [{"name": carrier_name(c.code, access.cfg) or "未知",
                      "delivered": _num(c.delivered, "件"), "on_time": _num(c.on_time_pct, "%", 1),
                      "within": _num(c.within_window_pct, "%", 1),
                      "deviation": _num(c.mean_deviation_pct, "%", 1),
                      "early": _num(c.early_pct, "%", 1), "late": _num(c.late_pct, "%", 1),
                      "signed": _num(c.mean_signed_deviation_pct, "%", 1, sign=True)}
                     for c in dl.carriers],
        "months": [{"month": f"{int(m.month[5:])}月" + ("（至今）" if m.partial else ""),
                    "customers": _num(m.customers, "家"), "returning": _num(m.returning, "家"),
                    "rate": _num(m.rate_pct, "%", 1), "retention": _num(m.retention_pct, "%", 1),
                    "has": bool(m.customers)} for m in d.months],
    }
