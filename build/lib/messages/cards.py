"""WeCom template_card JSON for orders: the draft card, its finished states, choice cards.

Field limits follow WeCom's template_card reference (shared/reference/wecom.md §3.3):
≤ 6 horizontal items with keynames ≤ 5 characters, ≤ 6 buttons, task_id [0-9A-Za-z_-@].
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SOURCE = {"desc": "履约助手", "desc_color": 0}
STATE_TITLE = {
    "open": "订单待确认", "held": "订单已挂起", "confirmed": "订单已确认",
    "cancelled": "订单已取消",
}
MAX_LINES_SHOWN = 3  # horizontal_content_list holds 6 items: lines + 送货 + 合计 + 额度


@dataclass(frozen=True)
class LineView:
    sku: str
    name: str  # the full catalogue name: the card wraps it, never cuts it
    qty: int
    available: int
    unit_price: str = ""  # "120.00"

    @property
    def level(self) -> str:
        """充足/紧张/不足: tight when fewer than the order's quantity again would be left."""
        if self.available < self.qty:
            return "不足"
        if self.available < self.qty * 2 or self.available - self.qty < 10:
            return "紧张"
        return "充足"


@dataclass(frozen=True)
class OrderCardView:
    no: str
    customer: str
    lines: Sequence[LineView]
    total: str
    credit_left: str
    promise: str  # "预计明天15:00前送达，还剩27小时" or ""
    problems: Sequence[str] = ()  # failed gates in plain words
    state: str = "open"
    task_id: str = field(default_factory=lambda: "")
    note: str = ""  # e.g. "已由李娜放行" / "张伟 已确认"
    address: str = ""
    shipments: Sequence[str] = ()  # "杭州仓发·顺丰速运（第1、2行）"
    invoice: str = ""  # "专票（税号…1234）"
    credit_hold: bool = False  # the credit gate failed: a manager may release it
    release_asked: bool = False  # 申请放行 was sent already


def new_task_id(no: str) -> str:
    """Unique per card (WeCom refuses a reused task_id)."""
    return f"{no}-{uuid.uuid4().hex[:8]}"


def order_card(v: OrderCardView) -> dict[str, Any]:
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "source": SOURCE,
        "main_title": {"title": f"{_title(v)} {v.no}"[:36],
                       "desc": v.customer[:44]},
        "sub_title_text": _subtitle(v)[:160],
        "horizontal_content_list": _items(v),
        "task_id": v.task_id,
        "button_list": _buttons(v),
    }
    if v.problems:
        card["quote_area"] = {"type": 0, "title": "未通过的校验",
                              "quote_text": "\n".join(v.problems)[:300]}
    return card


def _title(v: OrderCardView) -> str:
    if v.state == "open" and v.problems:
        return "订单未通过校验"
    return STATE_TITLE.get(v.state, "订单")


def _subtitle(v: OrderCardView) -> str:
    parts = [v.promise] if v.promise else []
    if v.shipments:
        parts.append("发货：" + "，".join(v.shipments))
    if v.invoice:
        parts.append(f"发票：{v.invoice}")
    hidden = len(v.lines) - MAX_LINES_SHOWN
    if hidden > 0:
        parts.append(f"另有{hidden}行商品未显示")
    if v.note:
        parts.append(v.note)
    return "；".join(parts) or "请核对后确认"


def _items(v: OrderCardView) -> list[dict[str, Any]]:
    items = [{"keyname": f"第{i}行", "value": _line_text(ln)}
             for i, ln in enumerate(v.lines[:MAX_LINES_SHOWN], start=1)]
    items.append({"keyname": "送货地址", "value": v.address or "未填写（请补充收货地址）"})
    items.append({"keyname": "合计", "value": f"¥{v.total}"})
    items.append({"keyname": "剩余额度", "value": f"¥{v.credit_left}"})
    return items


def _line_text(ln: LineView) -> str:
    price = f" 单价¥{ln.unit_price}" if ln.unit_price else ""
    return f"{ln.sku} {ln.name} ×{ln.qty}{price}｜{ln.level}({ln.available})"


def _buttons(v: OrderCardView) -> list[dict[str, Any]]:
    if v.state in ("open", "held"):
        edit = {"type": 0, "text": "修改", "style": 2, "key": f"ord:edit:{v.no}"}
        cancel = {"type": 0, "text": "取消", "style": 3, "key": f"ord:cancel:{v.no}"}
        if not v.problems:
            return [{"type": 0, "text": "确认下单", "style": 1, "key": f"ord:confirm:{v.no}"},
                    edit, cancel]
        # A card that fails a gate cannot be confirmed as it is: a credit hold goes to the
        # managers (申请放行, once); anything else is fixed with 修改.
        if v.credit_hold and not v.release_asked:
            return [{"type": 0, "text": "申请放行", "style": 1, "key": f"ord:ask:{v.no}"},
                    edit, cancel]
        return [edit, cancel]
    # A finished card keeps one inert button: pressing it changes nothing.
    return [{"type": 0, "text": STATE_TITLE.get(v.state, "已处理")[-3:], "style": 2,
             "key": f"ord:done:{v.no}"}]


def choice_card(task_id: str, title: str, question: str,
                options: Sequence[tuple[str, str]], key: str) -> dict[str, Any]:
    """Ask the user to pick one of up to 10 candidates (a product or a customer)."""
    return {
        "card_type": "button_interaction",
        "source": SOURCE,
        "main_title": {"title": title[:36], "desc": question[:44]},
        "task_id": task_id,
        "button_selection": {
            "question_key": "pick", "title": "请选择",
            "option_list": [{"id": oid[:128], "text": text[:40]} for oid, text in options[:10]],
        },
        "button_list": [{"type": 0, "text": "就是它", "style": 1, "key": key},
                        {"type": 0, "text": "都不是", "style": 3, "key": key + ":none"}],
    }
