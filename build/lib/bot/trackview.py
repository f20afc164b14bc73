"""What the customer tracking page (/t/{token}) shows, built from an order; no HTML here.

`TrackingPageConfig` is the one place tracking links are made and checked (the API answer,
the pushes and the page must agree on the secret). `load` reads an order with its shipments,
warehouses, lines and carrier events and hands them to `build`, which is pure: statuses in
Chinese, the promise in words plus an ISO deadline for the live countdown, each shipment's
carrier, waybill and timeline (newest first), masked receiver data, and the map data
(warehouse, placed event locations, destination, reference cities).

Privacy: the page never carries the full phone, the street address or the full customer
name; carrier descriptions are scrubbed of the receiver's phone, contact name and address.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain import fmt
from bot.domain.eta import describe
from bot.domain.fmt import MASK, day_time, mask_name, mask_phone
from bot.domain.fmt import mask_address as mask_area
from bot.domain.vocab import CST, TRACK_STEPS, TRACKING_STATUS_ZH
from bot.domain.vocab import ORDER_STATUS_ZH as STATUS_ZH
from bot.domain.vocab import carrier_name as _carrier_name
from bot.tokens import tracking_token, verify_tracking_token
from integrations import geocode
from storage.models import Customer, Order, OrderLine, OrderStatus, Shipment, Staff, Warehouse

log = logging.getLogger(__name__)
S = OrderStatus
DEFAULT_TTL_DAYS = 30.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ---- links -----------------------------------------------------------------------------

@dataclass
class TrackingPageConfig:
    """How tracking links are signed and what the page may use (AMap).

    Without LVYUE_SECRET the application signs with a key it keeps in the database
    (`use_secret`, at startup), so links in queued and sent pushes survive a restart."""

    secret: str = field(repr=False)
    public_url: str = "http://127.0.0.1:8080"
    ttl_days: float = DEFAULT_TTL_DAYS
    amap_key: str = field(default="", repr=False)
    window_hours: float = 2.0
    carrier_names: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], datetime] = _utcnow

    @classmethod
    def from_settings(cls, settings: Settings, *, ttl_days: float = DEFAULT_TTL_DAYS,
                      clock: Callable[[], datetime] = _utcnow) -> TrackingPageConfig:
        """With no configured secret, a random one until `use_secret` gives the stored key."""
        secret = settings.secret.value or secrets.token_urlsafe(32)
        amap = settings.env.get("AMAP_KEY")
        return cls(secret=secret, public_url=settings.public_url.rstrip("/"),
                   ttl_days=ttl_days, amap_key=amap.value if amap else "",
                   window_hours=settings.promise.delivery_window_hours,
                   carrier_names={code: c.name for code, c in settings.carriers.items()},
                   clock=clock)

    def use_secret(self, secret: str) -> None:
        self.secret = secret

    def token(self, order_no: str, now: datetime | None = None) -> str:
        return tracking_token(order_no, self.secret, self.ttl_days, now=now or self.clock())

    def url(self, order_no: str, now: datetime | None = None) -> str:
        """The customer's link to the order's tracking page."""
        return f"{self.public_url}/t/{self.token(order_no, now)}"

    def verify(self, token: str, now: datetime | None = None) -> str | None:
        return verify_tracking_token(token, self.secret, now or self.clock())


# ---- events ----------------------------------------------------------------------------

@dataclass(frozen=True)
class EventView:
    at: datetime
    status: str  # integrations.carriers.base.CommonStatus value
    location: str
    description: str
    shipment_id: int | None = None


async def events_for(order: Order) -> list[EventView]:
    """The carrier events of the order's shipments, oldest first."""
    from storage.tracking_models import TrackingEventRow

    ids = await Shipment.filter(order_id=order.id).values_list("id", flat=True)
    if not ids:
        return []
    rows = await TrackingEventRow.filter(shipment_id__in=list(ids)).order_by("occurred_at", "id")
    return [EventView(r.occurred_at, str(getattr(r.status, "value", r.status)), r.location,
                      r.description, r.shipment_id) for r in rows]


EVENT_ZH = TRACKING_STATUS_ZH

# ---- view ------------------------------------------------------------------------------

STEPS = TRACK_STEPS
_STEP_OF = {S.draft: 0, S.confirmed: 0, S.allocated: 0, S.on_hold: 0, S.shipped: 1,
            S.in_transit: 2, S.out_for_delivery: 3, S.delivered: 4, S.exception: 2}
HEADLINE = {
    S.draft: "订单待确认", S.confirmed: "仓库正在备货", S.allocated: "仓库正在备货",
    S.shipped: "包裹已出库，等待快递揽收", S.in_transit: "包裹正在运输途中",
    S.out_for_delivery: "快递员正在派送，请保持电话畅通", S.delivered: "包裹已签收",
    S.on_hold: "订单处理中，销售顾问会与您联系", S.cancelled: "订单已取消",
    S.exception: "运输遇到异常，我们正在处理",
}
TONE = {S.delivered: "done", S.cancelled: "muted", S.exception: "bad", S.on_hold: "warn"}


@dataclass(frozen=True)
class Step:
    label: str
    state: str  # done | current | todo


@dataclass(frozen=True)
class TimelineRow:
    date: str  # 3月5日
    time: str  # 14:20
    iso: str
    status: str  # Chinese
    status_code: str
    location: str
    description: str
    latest: bool


@dataclass(frozen=True)
class ShipmentView:
    seq: int
    label: str  # 包裹1
    warehouse: str
    carrier: str
    waybill_no: str
    status: str
    status_code: str
    promise: str
    timeline: list[TimelineRow]


@dataclass(frozen=True)
class Delivery:
    at: str  # 3月5日 14:20
    on_time: bool | None  # None: no promise to compare with
    verdict: str  # 在承诺时间内送达 / 比承诺晚3小时送达


@dataclass(frozen=True)
class TrackingView:
    no: str
    status: str  # Chinese
    status_code: str
    headline: str
    tone: str  # ok | done | warn | bad | muted
    steps: list[Step]
    promise: str  # 预计明天15:00前送达 ("" when there is none)
    deadline_iso: str | None  # the live countdown runs to this
    countdown_hint: str  # what the live countdown shows at `now`: 21小时15分
    delivery: Delivery | None
    customer: str
    contact: str
    phone: str
    address: str
    shipments: list[ShipmentView]
    items: list[tuple[str, int]]  # product name, quantity
    map: dict[str, Any]
    now_iso: str
    updated: str  # 3月5日 14:20
    sales_name: str = ""  # the salesperson to call: the order's, else the customer's owner
    sales_phone: str = ""  # their mobile, digits only (for a tel: link)


async def load(order_no: str, cfg: TrackingPageConfig, now: datetime) -> TrackingView | None:
    """The view of one order, or None when there is no such order."""
    order = await Order.get_or_none(no=order_no)
    if order is None:
        return None
    customer = await Customer.get_or_none(id=order.customer_id)
    shipments = await Shipment.filter(order_id=order.id).order_by("seq")
    wh_ids = {s.warehouse_id for s in shipments}
    warehouses = {w.id: w for w in await Warehouse.filter(id__in=list(wh_ids))} if wh_ids else {}
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    events = await events_for(order)
    sales = await salesperson(order, customer)
    # Geocoding (cpca) is CPU work: keep it off the event loop.
    return await asyncio.to_thread(build, order, customer, shipments, warehouses, lines,
                                   events, now, cfg, sales)


async def salesperson(order: Order, customer: Customer | None) -> tuple[str, str] | None:
    """(name, mobile) of the order's salesperson, else the customer's sales owner, when that
    person is active staff; the mobile is "" when none is on file."""
    for userid in (order.salesperson, customer.sales_owner if customer else None):
        if not userid:
            continue
        staff = await Staff.get_or_none(userid=userid, active=True)
        if staff is not None:
            digits = "".join(ch for ch in (staff.mobile or "") if ch.isdigit() or ch == "+")
            return staff.name, digits
    return None


def countdown_words(promised: datetime, now: datetime) -> str:
    """The time left in words, whole minutes rounded down: 21小时15分, 1天3小时5分, 8分
    (the page's script counts on in the same words)."""
    minutes = int(max(0.0, (promised - now).total_seconds()) // 60)
    if minutes < 1:
        return "不到1分钟"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return (f"{days}天" if days else "") + (f"{hours}小时" if days or hours else "") + f"{mins}分"


def build(order: Order, customer: Customer | None, shipments: Sequence[Shipment],
          warehouses: Mapping[int, Warehouse], lines: Sequence[OrderLine],
          events: Sequence[EventView], now: datetime, cfg: TrackingPageConfig,
          sales: tuple[str, str] | None = None) -> TrackingView:
    """The page's view; `sales` is the salesperson's (name, mobile) when known."""
    status = S(order.status)
    scrub = _scrubber(customer, order)
    by_ship: dict[int | None, list[EventView]] = {}
    for e in sorted(events, key=lambda e: e.at):
        by_ship.setdefault(e.shipment_id, []).append(e)
    single = len(shipments) == 1
    ship_views = []
    for s in shipments:
        evs = by_ship.get(s.id, [])
        if single:  # events not tied to a shipment belong to the only one there is
            evs = sorted([*evs, *by_ship.get(None, [])], key=lambda e: e.at)
        ship_views.append(_shipment_view(s, warehouses.get(s.warehouse_id), evs, single,
                                         now, cfg, scrub))
    promised = order.promised_at
    active = status not in (S.delivered, S.cancelled) and promised is not None
    delivery = _delivery(order, shipments, events, cfg) if status is S.delivered else None
    return TrackingView(
        no=order.no, status=STATUS_ZH[status], status_code=status.value,
        headline=HEADLINE[status], tone=TONE.get(status, "ok"), steps=_steps(status),
        promise=_promise_text(promised, now) if active else "",
        deadline_iso=_iso(promised) if active else None,
        countdown_hint=(countdown_words(promised, now)
                        if active and promised and promised > now else ""),
        sales_name=sales[0] if sales else "", sales_phone=sales[1] if sales else "",
        delivery=delivery,
        customer=mask_name(customer.name if customer else ""),
        contact=mask_name(customer.contact if customer else ""),
        phone=mask_phone(customer.phone if customer else ""),
        address=mask_address(order),
        shipments=ship_views,
        items=[(ln.name, ln.qty) for ln in lines],
        map=map_data(order, shipments, warehouses, by_ship, cfg),
        now_iso=_iso(now) or "", updated=_label(now))


def _steps(status: S) -> list[Step]:
    if status is S.cancelled:
        return []
    at = _STEP_OF.get(status, 0)
    if status is S.delivered:
        return [Step(label, "done") for label in STEPS]
    return [Step(label, "done" if i < at else "current" if i == at else "todo")
            for i, label in enumerate(STEPS)]


def _promise_text(promised: datetime | None, now: datetime) -> str:
    if promised is None:
        return ""
    if promised <= now:
        return f"原定{_label(promised)}前送达"
    return describe(promised, now)


def _delivery(order: Order, shipments: Sequence[Shipment], events: Sequence[EventView],
              cfg: TrackingPageConfig) -> Delivery | None:
    times = [t for t in (order.delivered_at, *(s.delivered_at for s in shipments)) if t]
    times += [e.at for e in events if e.status == "delivered"]
    if not times:
        return Delivery("", None, "")
    at = max(times)  # a split order is delivered when its last parcel is
    promised = order.promised_at
    if promised is None:
        return Delivery(_label(at), None, "")
    late_hours = (at - promised).total_seconds() / 3600
    if late_hours <= 0:
        early = math.floor(-late_hours)
        verdict = "在承诺时间内送达" + (f"，提前{early}小时" if early >= 1 else "")
        return Delivery(_label(at), True, verdict)
    if late_hours <= cfg.window_hours:
        return Delivery(_label(at), True, f"在承诺时间窗内送达（±{cfg.window_hours:g}小时）")
    return Delivery(_label(at), False, f"比承诺晚{math.ceil(late_hours)}小时送达，非常抱歉")


def _shipment_view(s: Shipment, wh: Warehouse | None, events: Sequence[EventView],
                   single: bool, now: datetime, cfg: TrackingPageConfig,
                   scrub: Callable[[str], str]) -> ShipmentView:
    status = S(s.status)
    rows = []
    newest_first = list(reversed(events))
    for i, e in enumerate(newest_first):
        at = e.at.astimezone(CST)
        rows.append(TimelineRow(
            date=fmt.day(at), time=f"{at:%H:%M}", iso=_iso(at) or "",
            status=EVENT_ZH.get(e.status, e.status), status_code=e.status,
            location=scrub(e.location), description=scrub(e.description), latest=i == 0))
    promise = ""
    if status is not S.delivered and status is not S.cancelled and s.promised_at:
        promise = _promise_text(s.promised_at, now)
    return ShipmentView(
        seq=s.seq, label="包裹" if single else f"包裹{s.seq}",
        warehouse=wh.name if wh else "", carrier=carrier_name(s.carrier, cfg),
        waybill_no=s.waybill_no or "", status=STATUS_ZH[status], status_code=status.value,
        promise=promise, timeline=rows)


def carrier_name(code: str | None, cfg: TrackingPageConfig) -> str:
    return _carrier_name(code, cfg.carrier_names)


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(CST).isoformat(timespec="seconds") if t else None


def _label(t: datetime) -> str:
    return day_time(t)


# ---- masking ---------------------------------------------------------------------------

def mask_address(order: Order) -> str:
    """Province, city and district (bot/domain/fmt.py has the masking rules)."""
    return mask_area(order.province, order.city, order.district)


def _scrubber(customer: Customer | None, order: Order) -> Callable[[str], str]:
    """Replace the receiver's own data where a carrier's text repeats it."""
    pairs: list[tuple[str, str]] = []
    if customer:
        digits = re.sub(r"\D", "", customer.phone or "")
        if len(digits) >= 7:
            pairs.append((digits, mask_phone(digits)))
        if len((customer.contact or "").strip()) >= 2:
            pairs.append((customer.contact.strip(), mask_name(customer.contact)))
        if len((customer.name or "").strip()) >= 2:
            pairs.append((customer.name.strip(), mask_name(customer.name)))
    for addr in (order.address_raw, customer.address if customer else ""):
        place = geocode.parse(addr) if addr else None
        if place and len(place.detail) >= 2:
            pairs.append((place.detail, MASK))
        if addr and len(addr) >= 6:
            pairs.append((addr, mask_address(order)))
    pairs.sort(key=lambda p: -len(p[0]))  # longest first: the address before its detail

    def scrub(text: str) -> str:
        for secret, masked in pairs:
            text = text.replace(secret, masked)
        return text

    return scrub


# ---- map -------------------------------------------------------------------------------

# Reference cities drawn as labelled dots on the offline map (those inside the view).
CITIES = (
    "上海", "南京", "杭州", "合肥", "苏州", "无锡", "常州", "南通", "扬州", "镇江", "泰州",
    "徐州", "连云港", "盐城", "淮安", "宿迁", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华",
    "衢州", "台州", "丽水", "舟山", "芜湖", "蚌埠", "安庆", "马鞍山", "阜阳", "六安", "滁州",
    "黄山", "宣城", "铜陵", "福州", "厦门", "泉州", "南昌", "九江", "上饶", "景德镇",
    "济南", "青岛", "临沂", "日照", "枣庄", "北京", "天津", "广州", "深圳", "武汉", "长沙",
    "郑州", "西安", "成都", "重庆",
)
MAJOR = frozenset({"上海", "南京", "杭州", "合肥", "福州", "南昌", "济南", "北京", "天津",
                   "广州", "深圳", "武汉", "长沙", "郑州", "西安", "成都", "重庆"})
PROVINCES = {"江苏": "32", "浙江": "33", "安徽": "34", "福建": "35", "江西": "36",
             "山东": "37", "河南": "41", "湖北": "42", "湖南": "43", "广东": "44"}
MERGE_KM = 8.0  # consecutive route points closer than this are one point


@lru_cache(maxsize=1)
def reference_places() -> dict[str, list[dict[str, Any]]]:
    cities = []
    for name in CITIES:
        pt = geocode.city_point(name)
        if pt:
            cities.append({"name": name, "lat": round(pt[0], 4), "lon": round(pt[1], 4),
                           "major": name in MAJOR})
    # A province's label sits at the mean of its districts' centroids (cpca's own point for
    # a province is its capital, where the capital's city label already is).
    table = geocode._centroids()
    provinces = []
    for name, prefix in PROVINCES.items():
        pts = [v for k, v in table.items() if k.startswith(prefix) and not k.endswith("00")]
        if pts:
            provinces.append({"name": name, "lat": round(sum(p[0] for p in pts) / len(pts), 3),
                              "lon": round(sum(p[1] for p in pts) / len(pts), 3)})
    return {"cities": cities, "provinces": provinces}


@lru_cache(maxsize=4096)
def place_point(name: str) -> tuple[float, float] | None:
    """Coordinates of an event location (杭州市, 浙江省杭州市萧山区, 嘉兴转运中心...)."""
    text = (name or "").strip()
    if not text:
        return None
    place = geocode.parse(text)
    if place and place.lat is not None and place.lon is not None:
        return (place.lat, place.lon)
    return geocode.city_point(text)


def _warehouse_point(wh: Warehouse | None) -> tuple[float, float] | None:
    if wh is None:
        return None
    if wh.lat is not None and wh.lon is not None:
        return (wh.lat, wh.lon)
    return geocode.city_point(wh.city) if wh.city else None


def _dest_point(order: Order) -> tuple[float, float] | None:
    if order.lat is not None and order.lon is not None:
        return (order.lat, order.lon)
    if order.adcode and (pt := geocode.point_for(order.adcode)):
        return pt
    text = f"{order.province}{order.city}{order.district}"
    return place_point(text) if text else None


def _pt(lat: float, lon: float, name: str, kind: str) -> dict[str, Any]:
    return {"lat": round(lat, 5), "lon": round(lon, 5), "name": name, "kind": kind}


def _short(name: str) -> str:
    return geocode.short_name(name)


def map_data(order: Order, shipments: Sequence[Shipment], warehouses: Mapping[int, Warehouse],
             events: Mapping[int | None, Sequence[EventView]],
             cfg: TrackingPageConfig) -> dict[str, Any]:
    """Everything map.js draws: origins, destination, one route per shipment, references."""
    dest_pt = _dest_point(order)
    dest_name = order.city + order.district or order.province
    dest = _pt(*dest_pt, dest_name, "dest") if dest_pt else None
    origins: dict[int, dict[str, Any]] = {}
    routes = []
    single = len(shipments) == 1
    for s in shipments:
        wh = warehouses.get(s.warehouse_id)
        wpt = _warehouse_point(wh)
        if wpt is None or wh is None:
            continue
        origins.setdefault(wh.id, _pt(*wpt, wh.name, "origin"))
        evs = list(events.get(s.id, []))
        if single:
            evs += list(events.get(None, []))
        routes.append(_route(s, origins[wh.id], dest, sorted(evs, key=lambda e: e.at)))
    pts = [*origins.values(), *([dest] if dest else []),
           *(p for r in routes for p in r.get("points", []))]
    return {"amap_key": bool(cfg.amap_key), "origins": list(origins.values()), "dest": dest,
            "routes": routes, **reference_places(), "outlines": outlines_near(pts)}


GEO = Path(__file__).resolve().parent.parent / "messages" / "web" / "geo"
OUTLINE_MARGIN_DEG = 2.0  # the map shows somewhat more than the points; outlines that far


Outline = tuple[str, tuple[float, float, float, float], list[list[list[float]]]]


@lru_cache(maxsize=2)
def _outlines(file: str, key: str) -> list[Outline]:
    """Outlines vendored in messages/web/geo/ (see its README): name, bounding box
    (lon0, lat0, lon1, lat1) and rings of [lon, lat]."""
    data = json.loads((GEO / file).read_text(encoding="utf-8"))
    out = []
    for p in data[key]:
        xs = [x for ring in p["rings"] for x, _ in ring]
        ys = [y for ring in p["rings"] for _, y in ring]
        if xs:
            out.append((p["name"], (min(xs), min(ys), max(xs), max(ys)), p["rings"]))
    return out


def outlines_near(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The outlines of the provinces near `points` ({lat, lon}), and of the cities there
    (浙江, 江苏, 安徽 are packaged): what the offline map draws beneath the route, so the
    page shows real borders, not an empty grid."""
    if not points:
        return []
    lons = [float(p["lon"]) for p in points]
    lats = [float(p["lat"]) for p in points]
    m = OUTLINE_MARGIN_DEG
    x0, y0, x1, y1 = min(lons) - m, min(lats) - m, max(lons) + m, max(lats) + m
    return [{"name": name, "kind": kind, "rings": rings}
            for kind, file, key in (("province", "china-provinces.json", "provinces"),
                                    ("city", "china-cities-east.json", "cities"))
            for name, (a, b, c, d), rings in _outlines(file, key)
            if a <= x1 and c >= x0 and b <= y1 and d >= y0]


def _route(s: Shipment, origin: dict[str, Any], dest: dict[str, Any] | None,
           events: Iterable[EventView]) -> dict[str, Any]:
    points = [origin]
    status = S(s.status)

    def near(a: dict[str, Any], lat: float, lon: float) -> bool:
        return geocode.distance_km((a["lat"], a["lon"]), (lat, lon)) < MERGE_KM

    for e in events:
        if e.status in ("out_for_delivery", "delivered"):
            continue  # at the destination by definition; the route ends there anyway
        pt = place_point(e.location)
        if pt is None or near(points[-1], *pt):
            continue
        if dest and near(dest, *pt):
            continue
        points.append(_pt(*pt, _short(_city_of(e.location)), "hub"))
    reached = len(points) - 1
    at_dest = status in (S.out_for_delivery, S.delivered)
    if dest:
        points.append(dest)
        if at_dest:
            reached = len(points) - 1
    if status in (S.draft, S.confirmed, S.allocated, S.on_hold, S.cancelled):
        reached = 0
    return {"seq": s.seq, "points": points, "reached": reached,
            "moving": status in (S.shipped, S.in_transit, S.out_for_delivery, S.exception),
            "delivered": status is S.delivered, "exception": status is S.exception}


def _city_of(location: str) -> str:
    place = geocode.parse(location) if location else None
    if place is None:
        return location
    return place.city if place.city else place.province

