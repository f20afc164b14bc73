"""Orders from a spreadsheet sent in chat (a WeCom file message, the console's upload): one
order card per customer, and the rows that could not be matched, by row number."""

from __future__ import annotations

from typing import Any

from bot import sheet_orders
from bot.dispatch import CardReply, Incoming, Reply, Router, TextReply, kind
from bot.domain.roles import APPROVERS
from bot.ordering import OrderService
from handlers.chat.views import order_card_json
from integrations.wecom import IntegrationError, MediaTooLarge, WeComClient, WeComUnavailable
from messages.cards import new_task_id
from storage.chat_models import ChatCard
from storage.models import Staff

router = Router("sheets")
MAX_MB = sheet_orders.MAX_BYTES // 1024 // 1024
TEXT_BYTES = 2000  # WeCom cuts a text message at 2,048 bytes (wecom.md §1.5)


@router.on(kind("file"))
async def order_from_sheet(msg: Incoming, actor: Staff | None, service: OrderService,
                           parser: Any, media: WeComClient | None = None) -> list[Reply]:
    if actor is None:
        return [TextReply("你还不是系统里的员工，不能用表格下单，请联系管理员。")]
    got = await _file(msg, media)
    if isinstance(got, str):
        return [TextReply(got)]
    name, data = got
    team = actor.group_chat or ""
    try:
        result = await sheet_orders.read_orders(data, name, parser,
                                                (await service.catalog.fresh()).products, team)
    except sheet_orders.SheetError as e:
        return [TextReply(e.message)]
    placed = await sheet_orders.place_all(
        result, service, channel="wecom", actor=actor.userid,
        price_approved=str(getattr(actor.role, "value", actor.role)) in APPROVERS,
        key=f"sheet:{msg.msg_id}" if msg.msg_id else None)
    cards: list[Reply] = []
    refused = []
    for p in placed:
        if p.outcome is None or p.outcome.order is None:
            gates = p.outcome.gates if p.outcome else []
            why = p.error or "；".join(g.message for g in gates if not g.ok)
            refused.append(f"客户{p.sheet.customer}（{p.sheet.customer_name}）未能生成订单：{why}")
            continue
        task_id = new_task_id(p.outcome.order.no)
        await ChatCard.create(task_id=task_id, order_no=p.outcome.order.no, user_id=msg.user_id,
                              chat_id=msg.chat_id, kind="order",
                              state="open" if p.outcome.ok else "held")
        cards.append(CardReply(await order_card_json(p.outcome.order, service.catalog, task_id)))
    return [TextReply(_summary(name, result, len(cards), refused)), *cards]


def _summary(name: str, result: sheet_orders.SheetResult, n_orders: int,
             refused: list[str]) -> str:
    """The answer's text, within WeCom's 2,048 bytes (a longer text is cut off there): the
    unmatched rows that fit, then how many more."""
    lines_ok = sum(len(o.lines) for o in result.orders)
    head = (f"表格“{name}”共 {result.total_rows} 行：{lines_ok} 行已识别，"
            f"生成 {n_orders} 张订单（每个客户一张，请逐张确认）。")
    if not n_orders and not refused:
        head = f"表格“{name}”共 {result.total_rows} 行，没有可以下单的行。"
    parts = [head, *refused]
    if result.unmatched:
        parts.append(f"以下 {len(result.unmatched)} 行没有识别，请改好后单独发送：")
        for i, u in enumerate(result.unmatched):
            more = f"……另有 {len(result.unmatched) - i} 行未列出"
            if _size([*parts, u.text_zh(), more]) > TEXT_BYTES:
                parts.append(more)
                break
            parts.append(u.text_zh())
    return "\n".join(parts)


def _size(parts: list[str]) -> int:
    return len("\n".join(parts).encode("utf-8"))


async def _file(msg: Incoming, media: WeComClient | None) -> tuple[str, bytes] | str:
    """(file name, bytes), or the Chinese reply when the file cannot be had."""
    if msg.file_data is not None:
        return msg.file_name or "表格", msg.file_data
    if media is None or not msg.media_id:
        return "暂时无法接收文件，请稍后再试，或把订单写成文字发送。"
    try:
        got = await media.get_media(msg.media_id, sheet_orders.MAX_BYTES)
    except MediaTooLarge:
        return f"文件太大，表格下单的文件最大 {MAX_MB} MB，请拆成几个文件发送。"
    except WeComUnavailable:
        return "暂时无法从企业微信下载这个文件，请稍后重新发送。"
    except IntegrationError:
        return "文件下载失败（文件可能已过期），请重新发送。"
    return msg.file_name or got.filename, got.data
