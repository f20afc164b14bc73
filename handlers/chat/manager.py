"""Manager commands in group chats: 加急, 放行, 看板; 别名 (learnt aliases) in any chat.
Others are told why they are refused."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import learning
from bot.dispatch import Incoming, Reply, Router, TextReply, chat, command, role
from bot.domain.eta import CST
from bot.domain.orders import IllegalTransition
from bot.ordering import Forbidden, InputError, NotFound, OrderService
from handlers.chat.views import ChatLinks, promise_text
from storage.chat_models import ChatQuestion
from storage.models import Order, OrderStatus, Staff

router = Router("manager")
MANAGER_COMMANDS = ("加急", "放行", "看板", "别名")


@router.on(role("manager", "admin"), command("别名"))
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
    listed = [f"#{r.id} {r.label} → {r.target}（{r.team or '全部'}，{r.learnt_by}）"
              for r in rows[:MAX_ALIASES_LISTED]]
    more = f"\n……共{len(rows)}条，可用 python bot.py aliases list 查看全部" \
        if len(rows) > MAX_ALIASES_LISTED else ""
    return [TextReply("学到的别名：\n" + "\n".join(listed) + more + "\n删除：别名 删除 编号")]


MAX_ALIASES_LISTED = 30


@router.on(chat("group"), role("manager", "admin"), command("加急"))
async def expedite(msg: Incoming, args: str, actor: Staff, service: OrderService
                   ) -> list[Reply]:
    no, _, reason = args.partition(" ")
    if not no:
        return [TextReply("用法：加急 订单号 [原因]")]
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


@router.on(chat("group"), role("manager", "admin"), command("放行"))
async def release(msg: Incoming, args: str, actor: Staff, service: OrderService
                  ) -> list[Reply]:
    no, _, reason = args.partition(" ")
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


@router.on(chat("group"), role("manager", "admin"), command("看板"))
async def board(msg: Incoming, links: ChatLinks | None) -> list[Reply]:
    now = datetime.now(UTC)
    day_start = datetime.combine(now.astimezone(CST).date(), datetime.min.time(), CST)
    today = Order.filter(created_at__gte=day_start).exclude(status=OrderStatus.draft)
    done = (OrderStatus.delivered, OrderStatus.cancelled)
    late = await Order.filter(promised_at__lt=now, confirmed_at__isnull=False).exclude(
        status__in=done).count()
    questions = await ChatQuestion.filter(kind="logistics", at__gte=day_start).count()
    lines = [
        f"今日看板（{day_start:%m月%d日}）",
        f"下单：{await today.count()}",
        f"挂起待处理：{await Order.filter(status=OrderStatus.on_hold).count()}",
        f"今日发货：{await Order.filter(shipped_at__gte=day_start).count()}",
        f"已超承诺时间未签收：{late}",
        f"今日查物流提问：{questions}",
    ]
    if links is not None:
        lines.append(f"详细看板（7天内有效）：{links.dashboard()}")
    return [TextReply("\n".join(lines))]


def _is_manager_command(msg: Incoming, data: object) -> bool:
    return msg.kind == "text" and msg.text.strip().lstrip("/").startswith(MANAGER_COMMANDS)


@router.on(_is_manager_command)
async def refused(msg: Incoming, actor: Staff | None) -> list[Reply]:
    if actor is None or actor.role not in ("manager", "admin"):
        return [TextReply("加急、放行、看板、别名只有经理可以使用。"
                          + ("" if actor else "你的企业微信账号不在员工名单中，请联系管理员。"))]
    return [TextReply("加急、放行、看板请在群聊中@我使用。")]


