"""Commands for everyone: 查库存, 查单, 查物流, 帮助."""

from __future__ import annotations

from typing import Any

from bot import chatreads
from bot.dispatch import Incoming, Reply, Router, TextReply, command
from bot.domain.fmt import money
from bot.domain.orders import STATUS_ZH
from bot.domain.roles import is_manager
from bot.ordering import OrderService
from bot.stockview import by_warehouse
from handlers.chat.views import ChatLinks, example_order, progress_text
from messages.facts import fmt_time, status_zh
from storage.models import Order, OrderStatus, Staff

router = Router("queries")

HELP = """履约助手用法：
• 下单：直接发送客户、商品和数量，如“{example}”，也可粘贴报价单
• 查库存 商品编码或名称
• 查客户 客户编码或名称 —— 额度、未完成订单、在途包裹、最近订单、常购商品库存、开票信息
• 查单 订单号
• 查物流 订单号
• 帮助"""
MANAGER_HELP = """
经理（在群里@我）：
• 加急 订单号 —— 提高优先级，按最快送达重新分仓并通知仓库
• 放行 订单号 原因 —— 放行信用额度被挂起的订单
• 看板 —— 今日订单、挂起、已发货、超时"""


@router.on(command("帮助", "help", "菜单"))
async def help_(actor: Staff | None) -> list[Reply]:
    extra = MANAGER_HELP if actor is not None and is_manager(actor.role) else ""
    return [TextReply(HELP.format(example=await example_order()) + extra)]


@router.on(command("查库存", "库存"))
async def stock(msg: Incoming, args: str, service: OrderService, parser: Any) -> list[Reply]:
    if not args:
        return [TextReply("请在“查库存”后面写商品编码或名称，例如：查库存 BRK00012")]
    await chatreads.asked("stock", msg.user_id, args)
    cat = await service.catalog.fresh()
    sku = args.strip().upper()
    if sku not in cat.products:
        found = await parser.search_products(args, limit=5)
        if not found:
            return [TextReply(f"没有找到“{args}”对应的商品")]
        if len(found) > 1 and found[0]["score"] - found[1]["score"] < 0.05:
            return [TextReply("匹配到多个商品，请用编码再查一次：\n" + "\n".join(
                f"{c['sku']} {c['name']}" for c in found))]
        sku = found[0]["sku"]
    p = cat.products[sku]
    rows = await by_warehouse(sku, cat)
    lines = [f"{p.sku} {p.name}"] + [
        f"{r.name}：可用{r.servable}（在库{r.on_hand}，锁定{r.reserved}"
        + (f"，安全库存{r.floor}" if r.floor else "") + "）"
        + ("【秒杀仓】" if r.virtual else "") for r in rows]
    if not rows:
        lines.append("各仓均无库存")
    return [TextReply("\n".join(lines))]


async def _order_or_reply(args: str) -> Order | TextReply:
    no = args.strip().upper()
    if not no:
        return TextReply("请在命令后面写订单号，例如：查单 LY261125000123")
    order = await Order.get_or_none(no=no)
    return order or TextReply(f"订单{no}不存在，请核对订单号")


@router.on(command("查单", "订单"))
async def order_status(msg: Incoming, args: str) -> list[Reply]:
    await chatreads.asked("order", msg.user_id, args)
    found = await _order_or_reply(args)
    if isinstance(found, TextReply):
        return [found]
    lines = await chatreads.order_lines(found)
    text = [f"订单{found.no}：{STATUS_ZH[found.status]}，合计{money(found.total)}"]
    text += [f"• {ln.sku} {ln.name} ×{ln.qty}" for ln in lines]
    if promise := progress_text(found):
        text.append(promise)
    bad = [g["message"] for g in found.gates or [] if not g["ok"]]
    if bad:
        text.append("未通过：" + "；".join(bad))
    return [TextReply("\n".join(text))]


@router.on(command("查物流", "物流"))
async def logistics(msg: Incoming, args: str, service: OrderService,
                    links: ChatLinks | None) -> list[Reply]:
    # Every ask counts (the dashboard's "logistics questions per day"), found or not.
    await chatreads.asked("logistics", msg.user_id, args)
    found = await _order_or_reply(args)
    if isinstance(found, TextReply):
        return [found]
    text = [f"订单{found.no}：{STATUS_ZH[found.status]}"]
    for p in await chatreads.parcels(found, await service.catalog.fresh()):
        where = f"{p.warehouse}发出" + (f"，{p.carrier}" if p.carrier else "")
        bill = f"运单号{p.waybill_no}" if p.waybill_no else "尚未出库"
        text.append(f"包裹{p.seq}：{where}，{bill}，{STATUS_ZH[p.status]}")
        if (last := p.last_event) is not None:
            place = f" {last.location}" if last.location else ""
            text.append(f"  最新：{fmt_time(last.occurred_at)}{place} "
                        f"{last.description or status_zh(last.status)}")
    if promise := progress_text(found):
        text.append(promise)
    if links is not None and found.status not in (OrderStatus.draft, OrderStatus.on_hold,
                                                   OrderStatus.cancelled):
        text.append(f"客户查件链接（可直接转发给客户）：{links.tracking(found.no)}")
    return [TextReply("\n".join(text))]
