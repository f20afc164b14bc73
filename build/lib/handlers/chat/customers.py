"""查客户 <name|code>: the order master view of one customer in chat (bot/customerview.py)."""

from __future__ import annotations

from decimal import Decimal

from bot import chatreads
from bot import customerview as cv
from bot.dispatch import Incoming, Reply, Router, TextReply, command
from bot.domain.orders import STATUS_ZH
from bot.ordering import OrderService
from handlers.chat.views import promise_text
from messages.facts import fmt_time, status_zh
from storage.models import OrderStatus, Staff

router = Router("customers")


@router.on(command("查客户", "客户"))
async def customer(msg: Incoming, args: str, actor: Staff | None, service: OrderService
                   ) -> list[Reply]:
    if actor is None:
        return [TextReply("你的企业微信账号不在员工名单中，不能查看客户资料，请联系管理员。")]
    if not args:
        return [TextReply("请在“查客户”后面写客户编码或名称，例如：查客户 C0001")]
    await chatreads.asked("customer", msg.user_id, args)
    found = await cv.find(args)
    if not found:
        return [TextReply(f"没有找到客户“{args}”，请写客户编码或名称中的几个字。")]
    if len(found) > 1:
        return [TextReply("匹配到多个客户，请用编码再查一次：\n" + "\n".join(
            f"查客户 {c.code}（{c.name}）" for c in found))]
    cat = await service.catalog.fresh()
    return [TextReply(render(await cv.load(found[0], cat), service))]


def render(v: cv.CustomerView, service: OrderService) -> str:
    c, cr = v.customer, v.credit
    who = "，".join(x for x in (c.contact, c.phone) if x)
    head = f"{c.code} {c.name}" + (f"（{who}）" if who else "")
    out = [head + ("" if c.active else "【已停用】")]
    if c.address:
        out.append(f"收货地址：{c.address}")
    overdue = (f"逾期¥{_m(cr.overdue)}（{cr.overdue_orders}单，签收超{cv.PAYMENT_DAYS}天未回款）"
               if cr.overdue_orders else "无逾期")
    out.append(f"信用：额度¥{_m(cr.limit)}，已用¥{_m(cr.used)}，可用¥{_m(cr.left)}；{overdue}")
    out.append(f"未完成订单（{len(v.open_orders)}）：" + ("无" if not v.open_orders else ""))
    out += [f"• {o.no} {STATUS_ZH[o.status]} ¥{_m(o.total)}"
            + (f" {promise_text(o.promised_at)}" if o.promised_at else "")
            for o in v.open_orders[:10]]
    out.append(f"在途包裹（{len(v.in_transit)}）：" + ("无" if not v.in_transit else ""))
    carriers = service.settings.carriers
    for p in v.in_transit[:10]:
        name = carriers[p.carrier].name if p.carrier in carriers else p.carrier
        line = f"• {p.order_no} 包裹{p.seq} {name} {p.waybill_no} {STATUS_ZH[p.status]}"
        if p.latest is not None:
            ev = p.latest
            line += (f"｜{fmt_time(ev.occurred_at)} {ev.location} "
                     f"{ev.description or status_zh(ev.status)}").rstrip()
        out.append(line)
    out.append(f"最近{len(v.recent)}单：" + ("无" if not v.recent else ""))
    out += [f"• {fmt_time(o.created_at)} {o.no} {STATUS_ZH[o.status]} ¥{_m(o.total)}"
            + (f" 签收{fmt_time(o.delivered_at)}" if o.status == OrderStatus.delivered
               and o.delivered_at else "") for o in v.recent]
    out.append("常购商品（附近仓可接单数）：" + ("无" if not v.top_items else ""))
    out += [f"• {t.sku} {t.name} 共{t.qty}件/{t.orders}单｜"
            + ("，".join(f"{s.name}{s.servable}" for s in t.stock) or "附近仓无库存")
            for t in v.top_items]
    out.append(_invoice(v))
    return "\n".join(out)


def _invoice(v: cv.CustomerView) -> str:
    c = v.customer
    parts = [f"开票：{c.invoice_type}"]
    parts += [f"{k}{x}" for k, x in (("税号", c.tax_id), ("开户行", c.bank), ("账号", c.account))
              if x]
    if v.invoice_problems:
        parts.append("（" + "；".join(v.invoice_problems) + "）")
    return " ".join(parts)


def _m(d: Decimal) -> str:
    return f"{d:,.2f}"
