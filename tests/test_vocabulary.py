"""One vocabulary: every order status and every carrier event reads the same word on every
surface people see (chat replies, customer push context and template, finance export,
tracking page, outbox console), and no module keeps its own copy of the words or of China
time. Runs on SQLite and PostgreSQL (the `db` fixture under `world`)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.catalog import Catalog
from bot.dispatch import Incoming, TextReply
from bot.domain import fmt, vocab
from bot.domain.roles import APPROVERS, is_manager
from bot.export import order_row
from bot.ordering import OrderService
from bot.parsing import ParserService
from bot.trackview import STEPS, TrackingPageConfig
from bot.trackview import load as load_page
from handlers.chat.setup import build_dispatcher
from integrations.carriers.base import CARRIER_NAMES, CommonStatus
from messages import facts
from messages.notify import NotifyConfig, customer_context, plan_dead_letter
from messages.outbox_admin import row_json, snapshot
from messages.render import load as load_templates
from storage.models import Order, OrderLine, OrderStatus, Shipment, Staff
from storage.outbox_models import OutboxNotification, OutboxStatus
from storage.tracking_models import TrackingEventRow

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
# Customer pushes that name a status, and the status they name.
PUSHES = {"shipped": OrderStatus.shipped, "out_for_delivery": OrderStatus.out_for_delivery,
          "delivered": OrderStatus.delivered}


def ask(user: str, body: str) -> Incoming:
    return Incoming(kind="text", user_id=user, text=body, chat_type="single", chat_id=None,
                    msg_id="", transport="test")


async def reply_text(dispatcher: Any, body: str) -> str:
    [reply] = await dispatcher.feed(ask("zhangwei", body))
    assert isinstance(reply, TextReply), reply
    return reply.text


async def make_order(world: dict[str, Any], no: str, status: OrderStatus,
                     events: tuple[CommonStatus, ...] = ()) -> Order:
    shop = world["customers"]["C0001"]
    product = next(iter(world["products"].values()))
    warehouse = next(iter(world["warehouses"].values()))
    order = await Order.create(no=no, customer=shop, status=status, total=Decimal("1234.5"),
                               address_raw=shop.address, province="浙江省", city="杭州市",
                               district="西湖区", invoice_type="专票")
    await OrderLine.create(order=order, product=product, sku=product.sku, name=product.name,
                           qty=1, unit_price=Decimal("1234.5"), amount=Decimal("1234.5"))
    ship = await Shipment.create(order=order, seq=1, warehouse=warehouse, carrier="sf",
                                 waybill_no=f"SF{no}", status=status)
    for i, ev in enumerate(events):
        await TrackingEventRow.create(shipment=ship, carrier="sf", waybill=f"SF{no}",
                                      status=ev, occurred_at=NOW - timedelta(hours=1, minutes=-i),
                                      description="", dedupe_key=f"{no}-{i}")
    return order


@pytest.fixture
def dispatcher(world: dict[str, Any], settings: Any) -> Any:
    catalog = Catalog(settings)
    return build_dispatcher(OrderService(settings, catalog), ParserService(catalog))


async def test_every_order_status_reads_the_same_word_everywhere(world: Any, settings: Any,
                                                                 dispatcher: Any) -> None:
    names = {code: c.name for code, c in settings.carriers.items()}
    carrier = vocab.carrier_name("sf", names)
    cfg = TrackingPageConfig(secret="s" * 32, carrier_names=names, clock=lambda: NOW)
    seen: dict[str, str] = {}
    for i, status in enumerate(OrderStatus):
        word = vocab.ORDER_STATUS_ZH[status]
        no = f"LYV{i:03d}"
        await make_order(world, no, status)
        # chat: 查单 and 查物流 (order and parcel)
        assert (await reply_text(dispatcher, f"查单 {no}")).startswith(f"订单{no}：{word}，")
        logistics = await reply_text(dispatcher, f"查物流 {no}")
        assert logistics.startswith(f"订单{no}：{word}") and f"，{word}" in logistics
        assert f"发出，{carrier}，运单号SF{no}" in logistics  # the carrier's name alike
        # finance export
        row = order_row(await Order.get(no=no).prefetch_related("customer", "lines"))
        assert row[9] == word
        # tracking page data: the order and its parcel
        view = await load_page(no, cfg, NOW)
        assert view is not None and view.status == word and view.shipments[0].status == word
        assert view.shipments[0].carrier == carrier
        # push context (the 状态 of a staff or customer message)
        assert facts.status_zh(status) == word
        seen[status.value] = word
    assert len(set(seen.values())) == len(seen)  # no two statuses share a word


async def test_every_carrier_event_reads_the_same_word_everywhere(world: Any,
                                                                  dispatcher: Any) -> None:
    cfg = TrackingPageConfig(secret="s" * 32, clock=lambda: NOW)
    for i, ev in enumerate(CommonStatus):
        word = vocab.TRACKING_STATUS_ZH[ev]
        no = f"LYE{i:03d}"
        await make_order(world, no, OrderStatus.in_transit, (ev,))
        # chat 查物流: the latest event, with no carrier text, is named by its status
        assert (await reply_text(dispatcher, f"查物流 {no}")).split("\n")[2].endswith(f" {word}")
        # tracking page timeline
        view = await load_page(no, cfg, NOW)
        assert view is not None and view.shipments[0].timeline[0].status == word
        assert facts.status_zh(ev) == word
        # an event that is also an order status is the same word for both
        if ev.value in vocab.ORDER_STATUS_ZH:
            assert vocab.ORDER_STATUS_ZH[ev.value] == word


async def test_customer_pushes_console_and_dead_letters_name_the_status_alike(
        world: Any) -> None:
    await make_order(world, "LYP001", OrderStatus.shipped)
    await Staff.filter(userid="zhangwei").update(active=True)
    order = await facts.load_order("LYP001")
    assert order is not None
    cfg = NotifyConfig(link=lambda no: f"https://t.example/{no}")
    templates = load_templates()
    for kind, status in PUSHES.items():
        word = vocab.ORDER_STATUS_ZH[status]
        context = customer_context(kind, order, order.shipments[0], cfg, at=NOW)
        assert context["状态"] == word
        # the 公众号 template's status field says the same word
        assert templates.render(f"{kind}.wechat_oa", context).parts["phrase5"] == word
        # the outbox console
        row = OutboxNotification(id=1, dedup_key="k", event=kind, channel="wechat_oa",
                                 recipient="o1", template=f"{kind}.wechat_oa",
                                 status=OutboxStatus.dead, attempts=3, context={})
        assert row_json(row)["event_zh"] == word
        # the salesperson's alert about a push that failed
        [alert] = await plan_dead_letter(f"d-{kind}", kind, "wechat_oa", "LYP001", "x", cfg)
        assert alert.context["原通知"] == word
    # the console's status chips take the server's words
    assert (await snapshot(limit=0))["status_zh"] == dict(vocab.OUTBOX_STATUS_ZH)
    for kind in ("order_confirmed", "order_cancelled"):
        context = customer_context(kind, order, None, cfg)
        assert context["状态"] == vocab.ORDER_STATUS_ZH[kind.removeprefix("order_")]


def test_tracking_steps_and_carrier_names_come_from_the_vocabulary() -> None:
    assert STEPS == vocab.TRACK_STEPS
    assert STEPS[1:] == tuple(vocab.ORDER_STATUS_ZH[s] for s in (
        "shipped", "in_transit", "out_for_delivery", "delivered"))
    assert CARRIER_NAMES is vocab.CARRIER_ZH
    assert facts.carrier_name("sandbox", {}) == "沙箱快递" == vocab.carrier_name("sandbox")
    assert facts.carrier_name("sf", {"sf": "顺丰速运"}) == "顺丰速运"
    assert facts.carrier_name("", {}) == fmt.UNKNOWN and vocab.carrier_name("") == ""
    assert vocab.carrier_name("yto") == "圆通" and vocab.carrier_name("xyz") == "xyz"
    assert all(is_manager(r) for r in APPROVERS) and not is_manager("sales")


def test_formatting() -> None:
    assert fmt.day_time(datetime(2026, 11, 26, 7, 0, tzinfo=UTC)) == "11月26日 15:00"
    assert fmt.fmt_time(None) == "待定"
    assert fmt.day(datetime(2026, 12, 3, 17, 0, tzinfo=UTC)) == "12月4日"  # China's date
    assert fmt.money(Decimal("1234.5")) == "¥1,234.50" and fmt.amount(50000) == "50,000.00"
    assert fmt.mask_phone("138 0000 0001") == "138****0001"
    assert fmt.mask_phone("12345") == "****"
    assert fmt.mask_address("上海市", "上海市", "浦东新区") == "上海市浦东新区****"
    assert fmt.mask_address("", None, "") == "****"


# ---- one source: import rules and no copies ---------------------------------------------

SOURCES = [p for d in ("bot", "handlers", "messages", "integrations", "storage")
           for p in sorted((ROOT / d).rglob("*.py"))] + [ROOT / "bot.py"]
VOCAB = ROOT / "bot" / "domain" / "vocab.py"
FMT = ROOT / "bot" / "domain" / "fmt.py"
STATUS_WORDS = frozenset({"派送中", "派件中", "已派件", "已签收", "签收成功", "运输中", "已揽收"})


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_vocab_and_fmt_import_only_the_standard_library_and_each_other() -> None:
    import sys

    for path in (VOCAB, FMT):
        for node in ast.walk(_tree(path)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or (
                    path == FMT and name == "bot.domain.vocab"), f"{path.name} imports {name}"


def _offenders(skip: Path, found: Any) -> list[str]:
    """`path:line` of every node outside `skip` for which found(node) gives a line."""
    out = []
    for path in SOURCES:
        if path == skip:
            continue
        out += [f"{path.relative_to(ROOT)}:{line}" for node in ast.walk(_tree(path))
                if (line := found(node))]
    return out


def _status_dict(node: ast.AST) -> int | None:
    if isinstance(node, ast.Dict):
        words = {v.value for v in node.values if isinstance(v, ast.Constant)}
        return node.lineno if words & STATUS_WORDS else None
    return None


def _china_time(node: ast.AST) -> int | None:
    if isinstance(node, ast.Call):  # ZoneInfo(...), or anything given "Asia/Shanghai"
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        zone = any(isinstance(a, ast.Constant) and a.value == vocab.TZ_NAME for a in node.args)
        return node.lineno if name == "ZoneInfo" or zone else None
    if isinstance(node, ast.keyword) and node.arg == "timezone":  # the scheduler's
        return node.value.lineno if isinstance(node.value, ast.Constant) else None
    return None


def _manager_roles(node: ast.AST) -> int | None:
    elts = (node.elts if isinstance(node, ast.Tuple | ast.Set | ast.List)
            else node.args if isinstance(node, ast.Call) else [])
    values = {e.value for e in elts if isinstance(e, ast.Constant)}
    return getattr(node, "lineno", 0) if values == {"manager", "admin"} else None


def test_no_module_keeps_its_own_status_words() -> None:
    """A dict literal whose values include a status word lives only in bot/domain/vocab.py."""
    assert _offenders(VOCAB, _status_dict) == []


def test_no_module_builds_china_time_itself() -> None:
    assert _offenders(VOCAB, _china_time) == []


def test_no_module_lists_the_manager_roles_itself() -> None:
    """("manager", "admin") is bot.domain.roles.APPROVERS: no tuple, set or role(...) call
    spells it again."""
    assert _offenders(ROOT / "bot" / "domain" / "roles.py", _manager_roles) == []
