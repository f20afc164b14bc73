"""Placing orders by chat: parse, ask about anything ambiguous, answer with an order card,
and handle the card's buttons. Decisions belong to bot/ (parser, OrderService)."""

from __future__ import annotations

import re
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
from bot.domain.orders import STATUS_ZH, IllegalTransition
from bot.ordering import InputError, LineInput, OrderService, PlaceOrder
from handlers.chat.edits import EDIT_HELP
from handlers.chat.views import example_order, order_card_json
from messages.cards import choice_card, new_task_id
from storage.chat_models import ChatCard
from storage.models import Customer, Order, OrderStatus, Staff

router = Router("orders")


def looks_like_order(msg: Incoming, data: Any) -> bool:
    return msg.kind == "text" and bool(msg.text.strip())


# x0, x-5, ×0, *-3: a quantity that is not a positive whole number (never read as ×1).
_BAD_QTY = re.compile(r"(?<![A-Za-z0-9])(?:[xX×*]|数量\s*[:：]?)\s*(-\s*\d+|0+)(?![\d.])")
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2,5}\d{4,})(?![A-Za-z0-9])")


@router.on(kind("text"), chat("single"), looks_like_order)
async def place_from_text(msg: Incoming, actor: Staff | None, service: OrderService,
                          parser: Any) -> list[Reply]:
    if bad := _BAD_QTY.search(msg.text):
        return [TextReply(f"数量“{bad[0].strip()}”不对：数量必须是大于0的整数，例如 x20。"
                          "请改好后重新发送。")]
    draft = await parser.parse(msg.text, team=_team(actor))
    unknown = await _unknown_codes(msg.text, service)
    if not draft["lines"]:
        if unknown:
            return [TextReply(_not_found(unknown) + "请核对编码，或写商品名称，"
                              "也可以先发“查库存 名称”查编码。")]
        return [TextReply("没看懂这条消息。下单请写客户、商品和数量，例如：\n"
                          f"{await example_order()}\n"
                          "发送“帮助”看全部用法。")]
    draft["unknown_codes"] = unknown
    draft["phrases"] = await parser.phrases(msg.text, team=_team(actor))
    if draft.get("customer") is None and (said := _first_word(msg.text)):
        draft["customer_said"] = said  # learnt if a customer is picked for these words
        await _learnt_customer(draft, said, _team(actor))
    for line in draft["lines"]:
        if unknown and line.get("sku") and line.get("confidence", 0) < 1:
            # The words next to a wrong code matched something: ask, never guess past it.
            guess = {"sku": line["sku"], "name": line["name"], "score": line["confidence"]}
            line["candidates"] = [guess, *[c for c in line.get("candidates", [])
                                           if c["sku"] != line["sku"]]]
            line["sku"] = None
    return await continue_draft(draft, msg, actor, service)


async def _unknown_codes(text: str, service: OrderService) -> list[str]:
    """Code-like words that are neither a product, a customer nor an order number."""
    cat = await service.catalog.fresh()
    codes = [m.upper() for m in _CODE.findall(text)]
    if not codes:
        return []
    customers = set(await Customer.filter(code__in=codes).values_list("code", flat=True))
    left = [c for c in dict.fromkeys(codes) if c not in cat.products and c not in customers
            and not c.startswith("LY")]
    # A maker's part number (FDB5579) is part of a product name: not a wrong code.
    return [c for c in left
            if not any(c in p.name.upper() for p in cat.products.values())]


def _not_found(codes: list[str]) -> str:
    return f"商品编码{'、'.join(codes)}不存在。"


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
        c = await Customer.filter(active=True).order_by("code").first()
        example = f"{c.code}（{c.name}）" if c else "C0001"
        said = _first_word(msg.text)
        head = f"没有找到客户“{said}”。" if said else "没有看到客户。"
        return [TextReply(head + "请写客户编码或客户全称，例如：" + example)]
    return [await _choice(msg, draft, {"field": "customer"}, "请确认客户",
                          "匹配到多个客户", options)]


async def _learnt_customer(draft: dict[str, Any], said: str, team: str) -> None:
    """The customer this team's salespeople meant by these words last time (a pick on a
    customer choice card): only where the message named no customer the parser is sure of,
    so a customer code written in the message always wins."""
    code = await learning.customer_for(team, said)
    found = await Customer.get_or_none(code=code, active=True) if code else None
    if found is not None:
        draft["customer"] = {"code": found.code, "name": found.name, "confidence": 0.95}


def _first_word(text: str) -> str:
    """The customer a message names comes first: its first word, when it is not a code."""
    word = (text.strip().split() or [""])[0]
    return "" if _CODE.search(word) or re.search(r"\d", word) or len(word) > 20 else word


async def _ask_line(draft: dict[str, Any], i: int, msg: Incoming) -> list[Reply]:
    line = draft["lines"][i]
    options = [(c["sku"], f"{c['sku']} {c['name']}") for c in line.get("candidates", [])]
    missing = draft.pop("unknown_codes", None)  # said once, with the first question
    head = _not_found(missing) if missing else ""
    if not options:
        return [TextReply(f"{head}第{i + 1}行“{line['name']}”找不到对应商品，"
                          "请写商品编码或更完整的名称")]
    card = await _choice(msg, draft, {"field": "line", "index": i},
                         f"第{i + 1}行请选择商品", line["name"], options)
    if head:
        return [TextReply(head + "下面是名称相近的商品，都不是请点“都不是”。"), card]
    return [card]


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
    # The words written for each line, by SKU (a choice picked since counts as that SKU): a
    # 修改 that replaces a line's product teaches the parser (handlers/chat/edits.py).
    phrases = [{"sku": ln["sku"], "phrase": ph.get("phrase", "")}
               for ln, ph in zip(draft["lines"], draft.get("phrases") or [], strict=False)]
    await ChatCard.create(task_id=task_id, order_no=out.order.no, user_id=msg.user_id,
                          chat_id=msg.chat_id, kind="order",
                          state="open" if out.ok else "held", payload={"phrases": phrases})
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
    if msg.response_code:  # WeCom's code for one later update of this card (修改 in words)
        await ChatCard.filter(id=card.id).update(response_code=msg.response_code)
    if action == "done" or card.state not in ("open", "held"):
        return []  # a finished card: a second click changes nothing
    order = await Order.get_or_none(no=arg)
    if order is not None and order.status not in (OrderStatus.draft, OrderStatus.on_hold):
        # Moved on elsewhere (a manager's 放行 confirmed it): show that, act on nothing.
        await ChatCard.filter(id=card.id).update(state="confirmed")
        by = f"已由{order.credit_released_by}放行，" if order.credit_released_by else ""
        note = f"{by}订单{STATUS_ZH[order.status]}；如需取消请联系经理"
        return [UpdateCard(card.task_id, await order_card_json(order, service.catalog,
                                                               card.task_id, note))]
    if action == "edit":
        return [TextReply(EDIT_HELP)]
    if action == "ask":
        return await _ask_release(card, msg, actor, service)
    if action == "confirm" and (problems := await _open_problems(arg)):
        # A card with failed gates offers no 确认下单; an old card's button holds nothing.
        return [TextReply(f"订单{arg}未通过：{problems}。请点“修改”改好，"
                          "信用额度不足可点“申请放行”。")]
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


async def _open_problems(no: str) -> str:
    order = await Order.get_or_none(no=no)
    return "；".join(g["message"] for g in (order.gates if order else None) or [] if not g["ok"])


async def _ask_release(card: ChatCard, msg: Incoming, actor: Staff | None,
                       service: OrderService) -> list[Reply]:
    who = actor.userid if actor else msg.user_id
    try:
        out = await service.request_release(card.order_no, who)
    except InputError as e:
        return [TextReply(e.message)]
    except IllegalTransition as e:
        return [TextReply(f"无法申请放行：{e}")]
    if out.replayed:
        return [TextReply(f"订单{card.order_no}已经申请过放行，请等经理处理。")]
    await ChatCard.filter(id=card.id).update(state="held")
    order = await Order.get(no=card.order_no)
    note = "已申请放行，已通知经理"
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
    if arg.endswith(":none"):  # the 都不是 button's key is `pick:choose:<task>:none`
        arg, action = arg.removesuffix(":none"), "none"
    card = await ChatCard.get_or_none(task_id=arg, kind="choice")
    if card is None or card.state != "open":
        return []
    if not await ChatCard.filter(id=card.id, state="open").update(state="busy"):
        return []
    if action == "none":
        await ChatCard.filter(id=card.id).update(state="cancelled")
        asking = card.payload.get("asking", {})
        what = "客户编码或全称" if asking.get("field") == "customer" else "商品编码或更完整的名称"
        return [TextReply(f"好的，这些都不是。请写{what}后重新发送整条订单；"
                          "不知道编码可以先发“查库存 名称”查询。")]
    chosen = msg.selected.get("pick", "")
    draft, asking = card.payload["draft"], card.payload["asking"]
    phrase = (draft["lines"][asking["index"]]["name"] if asking["field"] == "line"
              and asking["index"] < len(draft["lines"]) else "")
    if not _apply_choice(draft, asking, chosen):
        await ChatCard.filter(id=card.id).update(state="open")
        return [TextReply("请先在卡片上选择一项，再点“就是它”")]
    await ChatCard.filter(id=card.id).update(state="confirmed")
    by = actor.userid if actor else msg.user_id
    if phrase:  # the team's word for this product, used with high confidence next time
        await learning.learn(_team(actor), phrase, chosen, by)
    elif asking["field"] == "customer" and draft.get("customer_said"):
        await learning.learn(_team(actor), draft["customer_said"], chosen, by, kind="customer")
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
