"""Event → notification plan: which template, to whom, on which channel, when, with what.

`plan(event, cfg, now)` is called inside the transaction that made the state change, and
its result goes straight to `storage.outbox.enqueue` in that transaction (DESIGN.md §4
flow 2). It decides, per event:

| event | template | recipient |
|---|---|---|
| OrderConfirmed | order_confirmed.wechat_oa | the customer (openid) |
| OrderConfirmed, customer without openid | customer_unbound.wecom_app | the salesperson |
| OrderCancelled, once told 已确认 | order_cancelled.wechat_oa | the customer |
| OrderCancelled | order_cancelled.wecom_app | the salesperson (not who cancelled) |
| OrderShipped | shipped.wechat_oa | the customer |
| ShipmentStatusChanged → out_for_delivery | out_for_delivery.wechat_oa | the customer |
| ShipmentStatusChanged → delivered | delivered.wechat_oa (critical) | the customer |
| ShipmentStatusChanged → exception/returned | shipment_exception.wecom_app | the salesperson |
| GateFailed | gate_failed.wecom_app | the salesperson |
| ReleaseRequested | release_requested.wecom_app | every manager |
| ShipmentHeld | shipment_held.wecom_app | the salesperson |
| ShipmentStuck | shipment_stuck.wecom_app | the salesperson |
| DelayRisk | delay_risk.wecom_app | the salesperson |
| UrgentOrder | urgent_order.wecom_group | the warehouse group (robot webhook) |
| DailyReport | daily_report.wecom_app | every manager |

Customer pushes wait out quiet hours (default 22:00–08:00 China time), except 签收 which
is critical. A customer without an openid, or a deployment without WeChat credentials, gets
the push on the console channel instead, so nothing disappears silently. The salesperson
is the order's, else the customer's owner, else the managers.

dedup_key = ``{event_id}:{recipient}:{channel}``: planning the same event twice stores one row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot import events as ev
from bot.config import ConfigError
from bot.domain import vocab
from messages import facts
from messages.facts import OrderFacts, ShipmentFacts
from storage import notify_sql
from storage.outbox import Notification

log = logging.getLogger(__name__)
CUSTOMER_STATUSES = {"out_for_delivery": "out_for_delivery", "delivered": "delivered"}
SALES_STATUSES = frozenset({"exception", "returned"})
_KIND_STATUS = {"order_confirmed": "confirmed", "order_cancelled": "cancelled"}
CHANNELS = ("wechat_oa", "wecom_app", "wecom_group", "console")

__all__ = ["Notification", "NotifyConfig", "QuietHours", "dead_letter_hook", "plan",
           "plan_dead_letter"]


@dataclass(frozen=True)
class QuietHours:
    """A daily window in China time; start == end means no quiet hours."""

    start: time = time(22, 0)
    end: time = time(8, 0)

    def until(self, now: datetime) -> datetime | None:
        """The end of the quiet window `now` is in (UTC), or None outside it."""
        if self.start == self.end:
            return None
        local = now.astimezone(facts.CST)
        t = local.time()
        inside = (self.start <= t < self.end) if self.start < self.end \
            else (t >= self.start or t < self.end)
        if not inside:
            return None
        end = datetime.combine(local.date(), self.end, facts.CST)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


@dataclass(frozen=True)
class NotifyConfig:
    """Who gets what where. `link(order_no)` builds the tracking URL (bot.trackview)."""

    link: Callable[[str], str]
    customer_channel: str = "console"
    staff_channel: str = "console"
    group_channel: str = "console"
    quiet: QuietHours = QuietHours()
    managers: tuple[str, ...] = ()  # empty: the active staff with role manager
    warehouse_group: str = "warehouse"
    dashboard_url: str = "http://127.0.0.1:8080/dashboard"
    dashboard: Callable[[], str] | None = None  # a signed link (handlers.dashboard), per report
    carrier_names: Mapping[str, str] = field(default_factory=dict)
    window_hours: float = 2.0
    keep_sent_days: float = 30.0  # sent rows older than this are purged (dead ones stay)

    @classmethod
    def from_settings(cls, settings: Any, link: Callable[[str], str],
                      table: Mapping[str, Any] | None = None,
                      dashboard: Callable[[], str] | None = None) -> NotifyConfig:
        """Channels follow the credentials present; `table` is config.toml's [notify]."""
        table = table or {}
        env = getattr(settings, "env", {})
        app = all(k in env for k in ("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID"))
        managers = table.get("managers", [])
        if not isinstance(managers, list) or not all(isinstance(m, str) for m in managers):
            raise ConfigError("notify.managers: expected a list of WeCom user ids")
        group = table.get("warehouse_group", "warehouse")
        if not isinstance(group, str) or not group:
            raise ConfigError("notify.warehouse_group: expected a group name")
        keep = table.get("keep_sent_days", 30)
        if isinstance(keep, bool) or not isinstance(keep, int | float) or keep <= 0:
            raise ConfigError(f"notify.keep_sent_days: expected a positive number of days, "
                              f"got {keep!r}")
        start, end = settings.quiet_hours
        return cls(
            link=link,
            customer_channel="wechat_oa" if {"WECHAT_APP_ID", "WECHAT_SECRET"} <= set(env)
            else "console",
            staff_channel="wecom_app" if app else "console",
            group_channel="wecom_group" if "WECOM_WEBHOOK_KEY" in env else "console",
            quiet=QuietHours(start, end), managers=tuple(managers), warehouse_group=group,
            dashboard_url=f"{settings.public_url.rstrip('/')}/dashboard", dashboard=dashboard,
            carrier_names={code: c.name for code, c in settings.carriers.items()},
            window_hours=settings.promise.delivery_window_hours, keep_sent_days=float(keep))


def dedup_key(event_id: str, recipient: str, channel: str) -> str:
    return f"{event_id}:{recipient}:{channel}"


# ---- plan ------------------------------------------------------------------------------

async def plan(event: Any, cfg: NotifyConfig, now: datetime | None = None) -> list[Notification]:
    """The notifications `event` causes (possibly none)."""
    now = now or datetime.now(UTC)
    if isinstance(event, ev.DailyReport):
        return await _daily_report(event, cfg)
    order = await facts.load_order(event.order_no)
    if order is None:
        log.warning("notify: order %s of %s not found", event.order_no, type(event).__name__)
        return []
    if isinstance(event, ev.OrderConfirmed):
        push = _customer("order_confirmed", event, order, None, cfg, now)
        if cfg.customer_channel == "wechat_oa" and not order.openid:
            # The shop cannot get pushes: once per order, the salesperson gets the link to
            # send by hand (every push is still recorded on the console channel).
            return [push, *await _to_sales("customer_unbound", event, order, cfg,
                                           _unbound_context(order, cfg))]
        return [push]
    if isinstance(event, ev.OrderCancelled):
        return await _cancelled(event, order, cfg, now)
    if isinstance(event, ev.OrderShipped):
        ship = order.shipment(seq=event.shipment_seq)
        return [_customer("shipped", event, order, ship, cfg, now, waybill=event.waybill_no,
                          carrier=event.carrier)]
    if isinstance(event, ev.GateFailed):
        return await _to_sales("gate_failed", event, order, cfg, _gate_context(event, order))
    if isinstance(event, ev.ReleaseRequested):
        context = await _release_context(event, order)
        return [_staff("release_requested", event.event_id, cfg.staff_channel, u, context,
                       order.no) for u in [*cfg.managers] or await facts.managers()]
    if isinstance(event, ev.ShipmentHeld):
        return await _to_sales("shipment_held", event, order, cfg,
                               _held_context(event, order, cfg))
    if isinstance(event, ev.ShipmentStuck):
        return await _to_sales("shipment_stuck", event, order, cfg,
                               _stuck_context(event, order, cfg))
    if isinstance(event, ev.DelayRisk):
        return await _to_sales("delay_risk", event, order, cfg, _delay_context(event, order, cfg))
    if isinstance(event, ev.UrgentOrder):
        return [_to_group("urgent_order", event, order, cfg, await _urgent_context(event, order))]
    if hasattr(event, "shipment_id") and hasattr(event, "new"):
        return await _status_changed(event, order, cfg, now)
    raise TypeError(f"no notification plan for {type(event).__name__}")


async def _status_changed(event: Any, order: OrderFacts, cfg: NotifyConfig, now: datetime
                          ) -> list[Notification]:
    new = str(getattr(event.new, "value", event.new))
    ship = order.shipment(id=event.shipment_id)
    if new in CUSTOMER_STATUSES:
        return [_customer(CUSTOMER_STATUSES[new], event, order, ship, cfg, now,
                          waybill=event.waybill, carrier=event.carrier, at=event.at)]
    if new in SALES_STATUSES:
        context = _exception_context(event, order, cfg)
        return await _to_sales("shipment_exception", event, order, cfg, context)
    return []


async def _cancelled(event: ev.OrderCancelled, order: OrderFacts, cfg: NotifyConfig,
                     now: datetime) -> list[Notification]:
    """The customer hears of it only if they were told 已确认 (or are about to be); the
    salesperson always, unless it was they who cancelled."""
    push = _customer("order_cancelled", event, order, None, cfg, now)
    # One variable set for both templates (render.VARIABLES is per event).
    context = {**push.context, "取消人": await facts.staff_name(event.by),
               "原因": event.reason or "未说明", "原状态": facts.status_zh(event.was)}
    out = []
    if await notify_sql.told(order.no, "order_confirmed"):
        out.append(replace(push, context=context))
    users = [u for u in await _sales_recipients(order, cfg) if u != event.by]
    out += [_staff("order_cancelled", ev.event_id(event), cfg.staff_channel, u, context,
                   order.no) for u in users]
    return out


def _customer(kind: str, event: Any, order: OrderFacts, ship: ShipmentFacts | None,
              cfg: NotifyConfig, now: datetime, *, waybill: str = "", carrier: str = "",
              at: datetime | None = None) -> Notification:
    channel, recipient = _customer_address(order, cfg)
    critical = kind == "delivered"
    context = customer_context(kind, order, ship, cfg, waybill=waybill, carrier=carrier,
                               at=at or getattr(event, "at", None) or now)
    return Notification(
        dedup_key=dedup_key(ev.event_id(event), recipient, channel), event=kind,
        channel=channel, recipient=recipient, template=f"{kind}.wechat_oa", context=context,
        not_before=None if critical else cfg.quiet.until(now), quiet=not critical,
        order_no=order.no)


def _customer_address(order: OrderFacts, cfg: NotifyConfig) -> tuple[str, str]:
    if cfg.customer_channel == "wechat_oa" and order.openid:
        return "wechat_oa", order.openid
    return "console", f"客户:{order.customer_code}"


def customer_context(kind: str, order: OrderFacts, ship: ShipmentFacts | None,
                     cfg: NotifyConfig, *, waybill: str = "", carrier: str = "",
                     at: datetime | None = None) -> dict[str, Any]:
    """The variables of a customer push (render.CUSTOMER_VARS), address masked."""
    promised = (ship.promised_at if ship else None) or order.promised_at
    eta = facts.fmt_time(promised)
    return {
        "客户姓名": order.contact or order.customer_name, "客户名称": order.customer_name,
        "单号": order.no,
        "快递公司": facts.carrier_name(carrier or (ship.carrier if ship else ""),
                                   cfg.carrier_names),
        "运单号": waybill or (ship.waybill if ship else "") or facts.UNKNOWN,
        "预计送达时间": eta, "时间": eta, "地址": facts.mask_address(order.address),
        "跟踪链接": cfg.link(order.no), "包裹": facts.parcel(order, ship),
        "状态": facts.status_zh(_KIND_STATUS.get(kind, kind)),
        "事件时间": facts.fmt_time(at), "发货仓": ship.warehouse if ship else "",
    }


async def _sales_recipients(order: OrderFacts, cfg: NotifyConfig) -> list[str]:
    if order.sales:
        return [order.sales]
    return [*cfg.managers] or await facts.managers()


async def _to_sales(kind: str, event: Any, order: OrderFacts, cfg: NotifyConfig,
                    context: Mapping[str, Any]) -> list[Notification]:
    users = await _sales_recipients(order, cfg)
    if not users:  # nobody to tell: keep it visible on the console
        return [_staff(kind, ev.event_id(event), "console", "未指定销售", context, order.no)]
    return [_staff(kind, ev.event_id(event), cfg.staff_channel, u, context, order.no)
            for u in users]


def _staff(kind: str, event_id: str, channel: str, user: str, context: Mapping[str, Any],
           order_no: str | None) -> Notification:
    return Notification(dedup_key=dedup_key(event_id, user, channel), event=kind,
                        channel=channel, recipient=user, template=f"{kind}.wecom_app",
                        context=dict(context), order_no=order_no)


def _to_group(kind: str, event: Any, order: OrderFacts, cfg: NotifyConfig,
              context: Mapping[str, Any]) -> Notification:
    group, channel = cfg.warehouse_group, cfg.group_channel
    return Notification(dedup_key=dedup_key(ev.event_id(event), group, channel), event=kind,
                        channel=channel, recipient=group, template=f"{kind}.wecom_group",
                        context=dict(context), order_no=order.no)


# ---- staff contexts ----------------------------------------------------------------------

def _gate_context(event: ev.GateFailed, order: OrderFacts) -> dict[str, Any]:
    problems = [message for _, message in event.gates]
    # 放行 lifts only a credit hold: other problems are fixed by changing the order.
    return {"单号": order.no, "客户名称": order.customer_name, "问题": problems,
            "问题数": len(problems),
            "可放行": all(code == "credit" for code, _ in event.gates)}


async def _release_context(event: ev.ReleaseRequested, order: OrderFacts) -> dict[str, Any]:
    return {"单号": order.no, "客户名称": order.customer_name,
            "申请人": await facts.staff_name(event.by), "金额": event.amount,
            "校验": [("通过" if ok else "未通过") + f"：{message}"
                     for _, ok, message in event.gates]}


def _unbound_context(order: OrderFacts, cfg: NotifyConfig) -> dict[str, Any]:
    return {"单号": order.no, "客户名称": order.customer_name,
            "客户姓名": order.contact or order.customer_name, "电话": order.phone,
            "跟踪链接": cfg.link(order.no)}


def _held_context(event: ev.ShipmentHeld, order: OrderFacts, cfg: NotifyConfig
                  ) -> dict[str, Any]:
    return {"单号": order.no, "客户名称": order.customer_name,
            "快递公司": facts.carrier_name(event.carrier, cfg.carrier_names),
            "包裹": facts.parcel(order, order.shipment(seq=event.shipment_seq)),
            "原因": event.reason, "次数": event.attempts,
            "重试时间": facts.fmt_time(event.retry_at) if event.retry_at else ""}


def _stuck_context(event: ev.ShipmentStuck, order: OrderFacts, cfg: NotifyConfig
                   ) -> dict[str, Any]:
    return {"单号": order.no, "客户名称": order.customer_name,
            "快递公司": facts.carrier_name(event.carrier, cfg.carrier_names),
            "运单号": event.waybill or facts.UNKNOWN, "状态": facts.status_zh(event.status),
            "最后更新": facts.fmt_time(event.since), "小时": f"{event.hours:g}",
            "跟踪链接": cfg.link(order.no)}


def _delay_context(event: ev.DelayRisk, order: OrderFacts, cfg: NotifyConfig
                   ) -> dict[str, Any]:
    ship = order.shipments[-1] if order.shipments else None
    return {"单号": order.no, "客户名称": order.customer_name,
            "客户姓名": order.contact or order.customer_name, "电话": order.phone,
            "地址": order.address, "承诺时间": facts.fmt_time(event.promised_at),
            "状态": vocab.ORDER_STATUS_ZH["in_transit"] if ship and ship.waybill else "未发货",
            "快递公司": facts.carrier_name(ship.carrier if ship else "", cfg.carrier_names),
            "运单号": (ship.waybill if ship else "") or facts.UNKNOWN,
            "跟踪链接": cfg.link(order.no)}


def _exception_context(event: Any, order: OrderFacts, cfg: NotifyConfig) -> dict[str, Any]:
    return {"单号": order.no, "客户名称": order.customer_name,
            "快递公司": facts.carrier_name(event.carrier, cfg.carrier_names),
            "运单号": event.waybill, "状态": facts.status_zh(event.new),
            "事件时间": facts.fmt_time(event.at), "地址": order.address,
            "跟踪链接": cfg.link(order.no)}


async def _urgent_context(event: ev.UrgentOrder, order: OrderFacts) -> dict[str, Any]:
    eta = facts.fmt_time(order.promised_at)
    warehouses = dict.fromkeys(s.warehouse for s in order.shipments if s.warehouse)
    return {"单号": order.no, "客户名称": order.customer_name,
            "加急人": await facts.staff_name(event.by), "原因": event.reason or "未说明",
            "发货仓": "、".join(warehouses) or facts.UNKNOWN, "地址": order.address,
            "预计送达时间": eta, "时间": eta}


async def _daily_report(event: ev.DailyReport, cfg: NotifyConfig) -> list[Notification]:
    context = {**await facts.daily_figures(event.day, cfg.window_hours),
               "看板链接": cfg.dashboard() if cfg.dashboard else cfg.dashboard_url}
    users = [*cfg.managers] or await facts.managers()
    return [_staff("daily_report", event.event_id, cfg.staff_channel, u, context, None)
            for u in users]


# ---- dead letters ----------------------------------------------------------------------

CHANNEL_ZH = vocab.CHANNEL_ZH
# The customer pushes whose failure the salesperson hears about (named as in NOTICE_ZH).
CUSTOMER_EVENTS = frozenset({"order_confirmed", "order_cancelled", "shipped",
                             "out_for_delivery", "delivered"})


async def plan_dead_letter(dedup: str, event: str, channel: str, order_no: str | None,
                           reason: str, cfg: NotifyConfig) -> list[Notification]:
    """A dead customer push tells the salesperson (never for staff messages: no loops)."""
    if event not in CUSTOMER_EVENTS or order_no is None:
        return []
    order = await facts.load_order(order_no)
    if order is None:
        return []
    context = {"单号": order.no, "客户名称": order.customer_name, "原通知": vocab.NOTICE_ZH[event],
               "渠道": CHANNEL_ZH.get(channel, channel), "原因": reason}
    users = await _sales_recipients(order, cfg)
    return [_staff("push_failed", f"dead:{dedup}", cfg.staff_channel, u, context, order.no)
            for u in users]


def dead_letter_hook(cfg: NotifyConfig) -> Callable[[Any, str], Awaitable[list[Notification]]]:
    """`OutboxDispatcher(on_dead=...)`: a dead customer push alerts the salesperson."""
    async def hook(row: Any, reason: str) -> list[Notification]:
        return await plan_dead_letter(row.dedup_key, row.event, row.channel, row.order_no,
                                      reason, cfg)
    return hook
