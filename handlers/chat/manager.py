"""Manager commands in group chats: 加急, 放行, 看板; 别名 (learnt aliases) in any chat.
Others are told why they are refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot import chatreads, learning
from bot.dispatch import Incoming, Reply, Router, TextReply, chat, command, role
from bot.domain import fmt
from bot.domain.orders import IllegalTransition
from bot.domain.roles import APPROVERS, is_manager
from bot.ordering import Forbidden, InputError, NotFound, OrderService
from handlers.chat.views import ChatLinks, promise_text
from storage.models import Staff

router = Router("manager")
MANAGER_COMMANDS = ("加急", "放行", "看板", "别名")


@router.on(role(*APPROVERS), command("别名"))
async def aliases(msg: Incoming, args: str, actor: Staff) -> list[Reply]:
    """别名: the phrases teams taught the parser; 别名 删除 ID forgets one."""
    what, _, rest = args.strip().partition(" ")
    if what in ("删除", "删", "delete"):
        if not rest.strip().lstrip("#").isdigit():
            return [TextReply("用法：别名 删除 编号（编号见“别名”列表）")]
        alias_id = int(rest.strip().lstrip("#"))
        if await learning.delete(alias_id):
            return [TextReply(f"已删除别名 #{alias_id}，下次将按商品库重新识别")]
        return [TextReply(f"别名 #{alias_id} 不存在")]
    if what:
        return [TextReply("用法：别名（列出学到的叫法）；别名 删除 编号")]
    rows = await learning.listing()
    if not rows:
        return [TextReply("还没有学到的别名。业务员在选择卡片上选定商品后，叫法会被记住。")]
    listed = [f"#{r.id} {'客户' if r.kind == 'customer' else '商品'} {r.label} → {r.target}"
              f"（{r.team or '全部'}，{r.learnt_by}）"
              for r in rows[:MAX_ALIASES_LISTED]]
    more = f"\n……共{len(rows)}条，可用 python bot.py aliases list 查看全部" \
        if len(rows) > MAX_ALIASES_LISTED else ""
    return [TextReply("学到的别名：\n" + "\n".join(listed) + more + "\n删除：别名 删除 编号")]


MAX_ALIASES_LISTED = 30


_ORDER_NO = re.compile(r"^\s*([A-Za-z]{2}\d{6,})\s*")
_REASON_LABEL = re.compile(r"^(?:[,，。:：;；、\-—]|原因|理由|因为)+\s*")


def split_order_args(args: str) -> tuple[str, str]:
    """`LY…  原因：客户急用` / `LY…，客户急用` / `LY…客户急用` → (order no, reason)."""
    m = _ORDER_NO.match(args.replace("\u3000", " "))
    if not m:
        no, _, reason = args.partition(" ")
        return no.strip(), reason.strip()
    return m[1].upper(), _REASON_LABEL.sub("", args[m.end():].strip()).strip()


@router.on(chat("group"), role(*APPROVERS), command("加急"))
async def expedite(msg: Incoming, args: str, actor: Staff, service: OrderService
                   ) -> list[Reply]:
    no, reason = split_order_args(args)
    if not no:
        return [TextReply("用法：加急 订单号 原因，例如：加急 LY261125000123 客户停工待料")]
    try:
        out = await service.expedite(no.upper(), actor.userid, reason.strip())
    except NotFound:
        return [TextReply(f"订单{no}不存在")]
    except IllegalTransition as e:
        return [TextReply(f"无法加急：{e}")]
    order = out.order
    assert order is not None
    parts = [f"已加急订单{order.no}（{actor.name}）", promise_text(order.promised_at),
             "已通知仓库群优先出库" if service.notify is not None else ""]
    return [TextReply("。".join(p for p in parts if p) + "。")]


@router.on(chat("group"), role(*APPROVERS), command("放行"))
async def release(msg: Incoming, args: str, actor: Staff, service: OrderService
                  ) -> list[Reply]:
    no, reason = split_order_args(args)
    if not no or not reason.strip():
        return [TextReply("用法：放行 订单号 原因（原因会记入订单日志）")]
    try:
        out = await service.release_credit(no.upper(), actor.userid, reason.strip())
    except NotFound:
        return [TextReply(f"订单{no}不存在")]
    except (IllegalTransition, Forbidden, InputError) as e:
        return [TextReply(f"无法放行：{e}")]
    order = out.order
    assert order is not None
    if not out.ok:
        bad = "；".join(g.message for g in out.gates if not g.ok)
        return [TextReply(f"已放行信用额度，但订单{order.no}仍未通过：{bad}")]
    return [TextReply(f"已放行订单{order.no}（{actor.name}：{reason.strip()}），已确认并锁定库存。"
                      f"{promise_text(order.promised_at)}")]


@router.on(chat("group"), role(*APPROVERS), command("看板"))
async def board(msg: Incoming, links: ChatLinks | None) -> list[Reply]:
    b = await chatreads.board(datetime.now(UTC))
    lines = [
        f"今日看板（{fmt.day(b.day_start)}）",
        f"下单：{b.placed}",
        f"挂起待处理：{b.on_hold}",
        f"今日发货：{b.shipped}",
        f"已超承诺时间未签收：{b.late}",
        f"今日查物流提问：{b.logistics_questions}",
    ]
    if links is not None:
        lines.append(f"详细看板（7天内有效）：{links.dashboard()}")
    return [TextReply("\n".join(lines))]


def _is_manager_command(msg: Incoming, data: object) -> bool:
    return msg.kind == "text" and msg.text.strip().lstrip("/").startswith(MANAGER_COMMANDS)


@router.on(_is_manager_command)
async def refused(msg: Incoming, actor: Staff | None) -> list[Reply]:
    if actor is None or not is_manager(actor.role):
        return [TextReply("加急、放行、看板、别名只有经理可以使用。"
                          + ("" if actor else "你的企业微信账号不在员工名单中，请联系管理员。"))]
    return [TextReply("加急、放行、看板请在群聊中@我使用。")]


