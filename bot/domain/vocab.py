"""Every word people read about an order or a parcel, defined once.

Cards, chat replies, push templates, the finance export, the tracking page, the console and
the command line all take their words from here, so a parcel out for delivery is 派送中 on
every screen. Keys are the enum values (storage.models.OrderStatus, integrations CommonStatus
and the notification event names are StrEnums or plain strings, so an enum member looks up
the same entry as its value). Also here: China time (`CST`), the one timezone users see.

Standard library only: every layer may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from zoneinfo import ZoneInfo

# China time: every date and time a user reads, and the scheduler's calendar.
TZ_NAME = "Asia/Shanghai"
CST = ZoneInfo(TZ_NAME)

# ---- order statuses (storage.models.OrderStatus values) ---------------------------------

ORDER_STATUS_ZH: Mapping[str, str] = MappingProxyType({
    "draft": "待确认", "confirmed": "已确认", "allocated": "已分仓", "shipped": "已出库",
    "in_transit": "运输中", "out_for_delivery": "派送中", "delivered": "已签收",
    "on_hold": "已挂起", "cancelled": "已取消", "exception": "物流异常",
})

# ---- carrier tracking statuses (integrations.carriers.base.CommonStatus values) ---------

TRACKING_STATUS_ZH: Mapping[str, str] = MappingProxyType({
    "info_received": "已下单", "collected": "已揽收", "in_transit": "运输中",
    "out_for_delivery": "派送中", "delivered": "已签收", "exception": "物流异常",
    "returned": "已退回",
})

# Both kinds by value: where a word is shared (运输中, 派送中, 已签收, 物流异常) it is the same.
STATUS_ZH: Mapping[str, str] = MappingProxyType({**TRACKING_STATUS_ZH, **ORDER_STATUS_ZH})


def status_zh(status: object) -> str:
    """The word for an order or tracking status (an enum member or its value); unknown
    values are shown as they are."""
    value = str(getattr(status, "value", status))
    return STATUS_ZH.get(value, value)


# The progress bar of the customer tracking page.
TRACK_STEPS: tuple[str, ...] = (
    "已下单", ORDER_STATUS_ZH["shipped"], ORDER_STATUS_ZH["in_transit"],
    ORDER_STATUS_ZH["out_for_delivery"], ORDER_STATUS_ZH["delivered"],
)

# ---- notifications (outbox event names, channels, delivery states) ----------------------

NOTICE_ZH: Mapping[str, str] = MappingProxyType({
    "order_confirmed": "订单确认", "order_cancelled": "订单取消",
    "shipped": ORDER_STATUS_ZH["shipped"],
    "out_for_delivery": ORDER_STATUS_ZH["out_for_delivery"],
    "delivered": ORDER_STATUS_ZH["delivered"],
    "delay_risk": "时效预警", "shipment_exception": "物流异常",
    "gate_failed": "校验未通过", "release_requested": "申请放行", "shipment_held": "暂未发货",
    "urgent_order": "加急订单",
    "daily_report": "履约日报", "push_failed": "推送失败提醒", "shipment_stuck": "物流停滞",
    "chat_reply": "聊天回复", "chat_card": "聊天卡片", "customer_unbound": "客户未绑定公众号",
})

CHANNEL_ZH: Mapping[str, str] = MappingProxyType({
    "wechat_oa": "公众号", "wecom_app": "企业微信", "wecom_group": "群机器人", "console": "控制台",
})

OUTBOX_STATUS_ZH: Mapping[str, str] = MappingProxyType({
    "pending": "待发送", "sending": "发送中", "sent": "已发送", "dead": "失败",
})

# ---- staff roles (storage.models.Role values; bot.domain.roles says who may do what) -----

ROLE_ZH: Mapping[str, str] = MappingProxyType({
    "sales": "销售", "manager": "经理", "warehouse": "仓库", "finance": "财务", "admin": "管理员",
})

# ---- carriers ---------------------------------------------------------------------------

CARRIER_ZH: Mapping[str, str] = MappingProxyType({
    "kuaidi100": "快递100", "sf": "顺丰", "zto": "中通", "jd": "京东物流", "sandbox": "沙箱快递",
    "yto": "圆通", "sto": "申通", "yd": "韵达", "jtexpress": "极兔", "ems": "EMS",
    "youzheng": "中国邮政", "debang": "德邦",
})


def carrier_name(code: str | None, configured: Mapping[str, str] | None = None) -> str:
    """A carrier's display name: the configured name ([carriers.X] name), else ours, else the
    code itself; "" for no carrier."""
    if not code:
        return ""
    if configured and configured.get(code):
        return configured[code]
    return CARRIER_ZH.get(code, code)
