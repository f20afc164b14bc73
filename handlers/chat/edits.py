"""修改 on an order card, in words: `第2行改成x20`, `删掉第1行`, `地址改成…`, `发票改成专票`.

An edit applies to the sender's latest open order card. The changed order is placed again
(the same gates, stock and promise as any order) and the old draft is cancelled, so no
stale draft is left behind; the same card is updated in place to show the new order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot import learning
from bot.dispatch import Incoming, Reply, Router, TextReply, UpdateCard, chat, kind
from bot.domain.orders import STATUS_ZH, IllegalTransition
from bot.ordering import InputError, LineInput, OrderService, PlaceOrder
from handlers.chat.views import order_card_json
from storage.chat_models import ChatCard
from storage.models import Customer, Order, OrderLine, OrderStatus, Staff

router = Router("edits")

_N = r"(\d+|[一二两三四五六七八九十])"
_UNIT = r"(?:件|个|套|条|桶|只|盒)?"
_QTY = re.compile(rf"^第{_N}行(?:的?数量)?改(?:成|为)\s*[x×X*]?\s*(-?\d+)\s*{_UNIT}$")
# 第2行改成OIL00002 / 第2行换成美孚机油: another product for the line (its quantity stays).
_SKU = re.compile(rf"^第{_N}行(?:的?商品)?(?:改成|改为|换成|换为)\s*[:：]?\s*(\S.*)$")
_QTY_WORDS = re.compile(r"[\d一二两三四五六七八九十百千万零〇xX×*.\s]+" + _UNIT)  # not a product
_DROP = re.compile(rf"^(?:删掉|删除|去掉|不要)第{_N}行$")
_ADDR = re.compile(r"^(?:收货|送货)?地址改(?:成|为)\s*[:：]?\s*(.+)$", re.S)
# 发票改成专票, and the short forms salespeople type: 改成普票, 改专票, 换成专票, 改为不开票
_INVOICE = re.compile(r"^(?:发票(?:类型)?)?(?:改成|改为|换成|换为|改开|改)\s*"
                      r"(专票|普票|增值税专用发票|增值税普通发票|无需开票|无需|不开票?|不要发票)$")
_CN = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
       "九": 9, "十": 10}
EDIT_HELP = ("请直接发送要改的内容，我会更新这张卡片，例如：\n"
             "第2行改成x20\n第1行换成OIL00002（或商品名称）\n删掉第1行\n地址改成上海市嘉定区莘松路135号\n发票改成专票")


@dataclass(frozen=True)
class Edit:
    kind: str  # qty | drop | sku | address | invoice
    line: int = 0  # 1-based
    qty: int = 0
    text: str = ""


def parse_edit(text: str) -> Edit | None:
    t = re.sub(r"\s+", " ", text.replace("\u3000", " ")).strip().rstrip("。.")
    t = re.sub(r"^(?:修改|改)\s*[:：]?\s*", "", t) if t.startswith(("修改", "改 ")) else t
    if m := _QTY.match(t):
        return Edit("qty", _num(m[1]), int(m[2]))
    if m := _DROP.match(t):
        return Edit("drop", _num(m[1]))
    if (m := _SKU.match(t)) and not _QTY_WORDS.fullmatch(m[2]):
        return Edit("sku", _num(m[1]), text=m[2].strip())
    if m := _ADDR.match(t):
        return Edit("address", text=m[1].strip())
    if m := _INVOICE.match(t):
        kind = m[1].replace("增值税专用发票", "专票").replace("增值税普通发票", "普票")
        return Edit("invoice", text="无需" if kind.startswith(("不", "无需")) else kind)
    return None


def _num(s: str) -> int:
    return int(s) if s.isdigit() else _CN[s]


def looks_like_edit(msg: Incoming, data: Any) -> bool | dict[str, Any]:
    edit = parse_edit(msg.text) if msg.kind == "text" else None
    return {"edit": edit} if edit else False


@router.on(kind("text"), chat("single"), looks_like_edit)
async def apply_edit(msg: Incoming, edit: Edit, actor: Staff | None, service: OrderService,
                     parser: Any) -> list[Reply]:
    card = await ChatCard.filter(user_id=msg.user_id, kind="order",
                                 state__in=("open", "held")).order_by("-id").first()
    if card is None:
        return [TextReply("没有可以修改的订单卡片（已确认或已取消的订单不能再改）。")]
    order = await Order.get_or_none(no=card.order_no)
    if order is None:
        return [TextReply("这张卡片已失效，请重新下单")]
    if order.status not in (OrderStatus.draft, OrderStatus.on_hold):
        # e.g. a manager released and confirmed it meanwhile: an edit must not replace it
        await ChatCard.filter(id=card.id).update(state="confirmed")
        return [TextReply(f"订单{order.no}已{STATUS_ZH[order.status]}，不能再修改；"
                          "需要改动请联系经理。")]
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    problem = _check(edit, len(lines))
    if problem:
        return [TextReply(problem)]
    if edit.kind == "sku":
        found, why = await _product(edit.text, parser, service, _team(actor))
        if found is None:
            return [TextReply(why)]
        if found == lines[edit.line - 1].sku:
            return [TextReply(f"第{edit.line}行已经是{found}，没有改动。")]
        edit = Edit("sku", edit.line, text=found)
    if not await ChatCard.filter(id=card.id, state=card.state).update(state="busy"):
        return []
    try:
        return await _replace(card, order, lines, edit, msg, actor, service)
    finally:
        await ChatCard.filter(id=card.id, state="busy").update(state=card.state)


def _check(edit: Edit, count: int) -> str | None:
    if edit.kind in ("qty", "drop") and not 1 <= edit.line <= count:
        return f"订单只有{count}行，没有第{edit.line}行。"
    if edit.kind == "qty" and edit.qty <= 0:
        return f"数量“{edit.qty}”不对：数量必须是大于0的整数，例如：第{edit.line}行改成x20"
    if edit.kind == "drop" and count == 1:
        return "订单只剩这一行，不能删掉；不要这张订单请点卡片上的“取消”。"
    return None


async def _replace(card: ChatCard, order: Order, lines: list[OrderLine], edit: Edit,
                   msg: Incoming, actor: Staff | None, service: OrderService) -> list[Reply]:
    customer = await Customer.get(id=order.customer_id)
    new_lines = [LineInput(ln.sku, ln.qty, ln.unit_price) for ln in lines]
    address, invoice = order.address_raw, {"type": order.invoice_type, "tax_id": order.tax_id,
                                           "bank": order.bank, "account": order.account}
    if edit.kind == "qty":
        old = new_lines[edit.line - 1]
        new_lines[edit.line - 1] = LineInput(old.sku, edit.qty, old.price)
        said = f"第{edit.line}行数量改为{edit.qty}"
    elif edit.kind == "sku":
        old = new_lines[edit.line - 1]
        new_lines[edit.line - 1] = LineInput(edit.text, old.qty, None)  # the new list price
        said = f"第{edit.line}行改为{edit.text}（原{old.sku}）"
    elif edit.kind == "drop":
        del new_lines[edit.line - 1]
        said = f"已删掉第{edit.line}行（{lines[edit.line - 1].sku}）"
    elif edit.kind == "address":
        address, said = edit.text, f"地址改为{edit.text}"
    else:
        invoice = {"type": edit.text, "tax_id": "", "bank": "", "account": ""}
        said = f"发票改为{edit.text}"
    who = actor.userid if actor else msg.user_id
    try:
        out = await service.place(PlaceOrder(
            customer=customer.code, lines=new_lines, address=address, invoice=invoice,
            channel=order.channel, campaign=order.campaign, salesperson=order.salesperson,
            keep_failed=True, actor=who, price_approved=True))
    except InputError as e:
        return [TextReply(f"修改失败：{e.message}")]
    if out.order is None:
        return [TextReply("修改失败：" + "；".join(g.message for g in out.gates if not g.ok))]
    try:
        await service.cancel(order.no, who, f"修改订单，由{out.order.no}替代")
    except IllegalTransition:
        await service.cancel(out.order.no, who, "原订单已不能修改")
        return [TextReply(f"订单{order.no}已经不能修改了。")]
    state = "open" if out.ok else "held"
    payload = dict(card.payload or {})
    if edit.kind == "sku":
        payload["phrases"] = await _learn(payload.get("phrases") or [], lines[edit.line - 1].sku,
                                          edit.text, actor, msg)
    await ChatCard.filter(id=card.id).update(order_no=out.order.no, state=state,
                                             payload=payload)
    card.state = state  # the `finally` above must not put the old state back
    note = f"已修改：{said}（原单{order.no}已作废）"
    return [UpdateCard(card.task_id, await order_card_json(out.order, service.catalog,
                                                           card.task_id, note))]


def _team(actor: Staff | None) -> str:
    return (actor.group_chat or "") if actor else ""


async def _product(words: str, parser: Any, service: OrderService, team: str
                   ) -> tuple[str | None, str]:
    """(the SKU `words` name: a code, or a name the parser is sure of, "") or (None, why)."""
    cat = await service.catalog.fresh()
    if words.upper() in cat.products:
        return words.upper(), ""
    draft = await parser.parse(f"{words} x1", team=team)
    skus = {ln.get("sku") for ln in draft["lines"]}
    if len(skus) == 1 and None not in skus:
        return str(skus.pop()), ""
    near = [c for ln in draft["lines"] for c in ln.get("candidates", [])][:3]
    if near:
        listed = "、".join(f"{c['sku']} {c['name']}" for c in near)
        return None, (f"“{words}”不确定是哪个商品（可能是：{listed}），请写商品编码，"
                      f"例如：第1行换成{near[0]['sku']}")
    return None, f"找不到商品“{words}”，请写商品编码（不知道编码可以先发“查库存 名称”）。"


async def _learn(phrases: list[dict[str, Any]], old_sku: str, new_sku: str,
                 actor: Staff | None, msg: Incoming) -> list[dict[str, Any]]:
    """The words first written for the replaced line now mean the new SKU for the team
    (bot/learning.py, as a pick on a choice card does); the card remembers the change."""
    out = [dict(p) for p in phrases]
    for p in out:
        if p.get("sku") == old_sku:
            if p.get("phrase"):
                await learning.learn(_team(actor), str(p["phrase"]), new_sku,
                                     actor.userid if actor else msg.user_id)
            p["sku"] = new_sku
            break
    return out
