"""Placing orders by chat: parse, ask about anything ambiguous, answer with an order card,
and handle the card's buttons. Decisions belong to bot/ (parser, OrderService)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot import learning
from bot.dispatch import (
    CardReply,
    Incoming,
    Reply,
    Router,
    TextReply,
    UpdateCard,
    card_action,
    chat,
    kind,
)
from bot.domain.orders import IllegalTransition
from bot.ordering import InputError, LineInput, OrderService, PlaceOrder
from handlers.chat.views import order_card_json
from messages.cards import choice_card, new_task_id
from storage.chat_models import ChatCard
from storage.models import Order, Staff

router = Router("orders")


def looks_like_order(msg: Incoming, data: Any) -> bool:
    return msg.kind == "text" and bool(msg.text.strip())


@router.on(kind("text"), chat("single"), looks_like_order)
async def place_from_text(msg: Incoming, actor: Staff | None, service: OrderService,
                          parser: Any) -> list[Reply]:
    draft = await parser.parse(msg.text, team=_team(actor))
    if not draft["lines"]:
        return [TextReply("没看懂这条消息。下单请写客户、商品和数量，例如：\n"
                          "恒通汽修 BRK00012 前刹车片 x20 送杭州市西湖区文三路100号\n"
                          "发送“帮助”看全部用法。")]
    return await continue_draft(draft, msg, actor, service)


async def continue_draft(draft: dict[str, Any], msg: Incoming, actor: Staff | None,
                         service: OrderService) -> list[Reply]:
    """Ask the next open question (a choice card), or place the order when none is left."""
    if draft.get("customer") is None:
        return await _ask_customer(draft, msg)
    for i, line in enumerate(draft["lines"]):
        if line.get("sku") is None:
            return await _ask_line(draft, i, msg)
    return await _place(draft, msg, actor, service)


async def _ask_customer(draft: dict[str, Any], msg: Incoming) -> list[Reply]:
    options = [(c["code"], f"{c['code']} {c['name']}") for c in draft["customer_candidates"]]
    if not options:
        return [TextReply("请写明客户（客户编码、名称或简称），例如：C0012 或 恒通汽修")]
    return [await _choice(msg, draft, {"field": "customer"}, "请确认客户",
                          "匹配到多个客户", options)]


async def _ask_line(draft: dict[str, Any], i: int, msg: Incoming) -> list[Reply]:
    line = draft["lines"][i]
    options = [(c["sku"], f"{c['sku']} {c['name']}") for c in line.get("candidates", [])]
    if not options:
        return [TextReply(f"第{i + 1}行“{line['name']}”找不到对应商品，"
                          "请写商品编码或更完整的名称")]
    return [await _choice(msg, draft, {"field": "line", "index": i}, f"第{i + 1}行请选择商品",
                          line["name"], options)]


async def _choice(msg: Incoming, draft: dict[str, Any], asking: dict[str, Any], title: str,
                  question: str, options: list[tuple[str, str]]) -> CardReply:
    task_id = new_task_id("ASK")
    await ChatCard.create(task_id=task_id, order_no="", user_id=msg.user_id,
                          chat_id=msg.chat_id, kind="choice",
                          payload={"draft": draft, "asking": asking, "msg_id": msg.msg_id})
    return CardReply(choice_card(task_id, title, question, options, f"pick:choose:{task_id}"))


async def _place(draft: dict[str, Any], msg: Incoming, actor: Staff | None,
                 service: OrderService) -> list[Reply]:
    inv = draft.get("invoice") or {}
    cmd = PlaceOrder(
        customer=draft["customer"]["code"],
        lines=[LineInput(ln["sku"], int(ln["qty"]),
                         None if ln.get("unit_price") is None else _money(ln["unit_price"]))
               for ln in draft["lines"]],
        address=(draft.get("address") or {}).get("raw") or None,
        invoice={k: inv.get(k) or "" for k in ("type", "tax_id", "bank", "account")}
        if inv.get("type") else None,
        channel="wecom", idempotency_key=f"chat:{msg.msg_id}" if msg.msg_id else None,
        salesperson=actor.userid if actor else msg.user_id, keep_failed=True,
        actor=actor.userid if actor else msg.user_id)
    try:
        out = await service.place(cmd)
    except InputError as e:
        return [TextReply(f"下单失败：{e.message}")]
    if out.order is None:
        return [TextReply("未能生成订单：" + "；".join(g.message for g in out.gates if not g.ok))]
    task_id = new_task_id(out.order.no)
    await ChatCard.create(task_id=task_id, order_no=out.order.no, user_id=msg.user_id,
                          chat_id=msg.chat_id, kind="order",
                          state="open" if out.ok else "held")
    return [CardReply(await order_card_json(out.order, service.catalog, task_id))]


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


# ---- card buttons ---------------------------------------------------------------------

@router.on(card_action("ord"))
async def order_button(msg: Incoming, action: str, arg: str, actor: Staff | None,
                       service: OrderService) -> list[Reply]:
    card = await ChatCard.get_or_none(task_id=msg.task_id)
    if card is None or card.order_no != arg:
        return [TextReply("这张卡片已失效，请重新下单")]
    if action in ("done", "edit") or card.state not in ("open", "held"):
        if action == "edit" and card.state in ("open", "held"):
            return [TextReply(f"请直接发送修改后的订单内容；原订单{arg}可点“取消”作废")]
        return []  # a finished card: a second click changes nothing
    # Claim the card so a double click cannot act twice.
    if not await ChatCard.filter(id=card.id, state=card.state).update(state="busy"):
        return []
    who = actor.userid if actor else msg.user_id
    try:
        if action == "confirm":
            result = await service.confirm(arg, who)
            state, note = ("confirmed", f"{_name(actor, msg)} 已确认") if result.ok else (
                "held", "未能确认，已挂起：" + "；".join(g.message for g in result.gates
                                                if not g.ok))
        elif action == "cancel":
            await service.cancel(arg, who, "销售在卡片上取消")
            state, note = "cancelled", f"{_name(actor, msg)} 已取消"
        else:
            await ChatCard.filter(id=card.id).update(state=card.state)
            return []
    except IllegalTransition as e:
        state, note = "confirmed", str(e)
    await ChatCard.filter(id=card.id).update(state=state)
    order = await Order.get(no=arg)
    return [UpdateCard(card.task_id, await order_card_json(order, service.catalog,
                                                           card.task_id, note))]


def _name(actor: Staff | None, msg: Incoming) -> str:
    return actor.name if actor else msg.user_id


def _team(actor: Staff | None) -> str:
    """Whose learnt phrases apply: the salesperson's group chat ("" is everyone)."""
    return (actor.group_chat or "") if actor else ""


@router.on(card_action("pick"))
async def pick_button(msg: Incoming, action: str, arg: str, actor: Staff | None,
                      service: OrderService) -> list[Reply]:
    card = await ChatCard.get_or_none(task_id=arg, kind="choice")
    if card is None or card.state != "open":
        return []
    if not await ChatCard.filter(id=card.id, state="open").update(state="busy"):
        return []
    if action == "none":
        await ChatCard.filter(id=card.id).update(state="cancelled")
        return [TextReply("好的，请补充更准确的商品或客户信息后重新发送")]
    chosen = msg.selected.get("pick", "")
    draft, asking = card.payload["draft"], card.payload["asking"]
    phrase = (draft["lines"][asking["index"]]["name"] if asking["field"] == "line"
              and asking["index"] < len(draft["lines"]) else "")
    if not _apply_choice(draft, asking, chosen):
        await ChatCard.filter(id=card.id).update(state="open")
        return [TextReply("请先在卡片上选择一项，再点“就是它”")]
    await ChatCard.filter(id=card.id).update(state="confirmed")
    if phrase:  # the team's word for this product, used with high confidence next time
        await learning.learn(_team(actor), phrase, chosen, actor.userid if actor else msg.user_id)
    replay = Incoming(kind="text", user_id=msg.user_id, chat_type=msg.chat_type,
                      chat_id=msg.chat_id, msg_id=card.payload.get("msg_id", ""),
                      transport=msg.transport)
    return await continue_draft(draft, replay, actor, service)


def _apply_choice(draft: dict[str, Any], asking: dict[str, Any], chosen: str) -> bool:
    if asking["field"] == "customer":
        match = [c for c in draft["customer_candidates"] if c["code"] == chosen]
        if match:
            draft["customer"] = {"code": chosen, "name": match[0]["name"], "confidence": 1.0}
        return bool(match)
    line = draft["lines"][asking["index"]]
    match = [c for c in line.get("candidates", []) if c["sku"] == chosen]
    if match:
        line["sku"], line["name"], line["confidence"] = chosen, match[0]["name"], 1.0
    return bool(match)
