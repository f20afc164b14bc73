"""Master-data import from CSV/XLSX: products, customers, warehouses, stock, staff, and
delivery history (deliveries: learning promises only; never orders, stock or notifications).

Flow: read the sheet → map the header (file-level errors raise ImportFileError) →
validate every row in pure Python → inside one transaction resolve database lookups
(existing keys, SKUs, warehouses, reserved stock) → write with bulk_create/bulk_update,
unless a row was rejected and the import is not partial (all-or-nothing per file).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tqdm import tqdm

from bot.domain import couriers
from bot.domain.invoice import invoice_problems, normalise_tax_id
from bot.domain.vocab import CST, ROLE_ZH
from integrations import excel, geocode
from storage import meta
from storage.batches import Batched
from storage.models import Customer, InvoiceType, Product, Role, Staff, Stock, Warehouse
from storage.transit_models import DeliveryRecord

KINDS = ("products", "customers", "warehouses", "stock", "staff", "deliveries")
KIND_LABELS = {"products": "商品", "customers": "客户", "warehouses": "仓库",
               "stock": "库存", "staff": "员工", "deliveries": "签收记录"}
BATCH_SIZE = 1000
MAX_SQL_PARAMS = 30000  # below SQLite's 32766 and PostgreSQL's 32767 bind parameters
SUMMARY_LIMIT = 100


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message (Chinese) says why."""


@dataclass(frozen=True)
class RowError:
    row: int
    field: str | None
    reason: str

    def text_zh(self) -> str:
        return f"第{self.row}行：{self.reason}"


@dataclass(frozen=True)
class ImportReport:
    kind: str
    total: int
    accepted: int
    created: int
    updated: int
    rejected: list[RowError]
    written: bool
    unchanged: int = 0  # existing records the file matched but did not change

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.rejected})

    def summary_zh(self, limit: int = SUMMARY_LIMIT) -> str:
        """A report for people: counts, what was written, then each rejected row."""
        label = KIND_LABELS.get(self.kind, self.kind)
        lines = [f"{label}导入：共 {self.total} 行，通过 {self.accepted} 行，"
                 f"拒绝 {self.rejected_rows} 行。", self._outcome_zh()]
        lines += [e.text_zh() for e in self.rejected[:limit]]
        if len(self.rejected) > limit:
            lines.append(f"……另有 {len(self.rejected) - limit} 条问题未列出")
        return "\n".join(lines)

    def _outcome_zh(self) -> str:
        if self.written:
            return (f"已写入：新增 {self.created} 行，更新 {self.updated} 行，"
                    f"无变化 {self.unchanged} 行。")
        if self.rejected:
            return "有行被拒绝，整份文件未写入。请修正后重新导入，或加 --partial 只导入通过的行。"
        return "没有可导入的行，未写入任何数据。"


# --- columns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    label: str  # Chinese name, used in messages and accepted as a header
    aliases: tuple[str, ...] = ()
    required: bool = True  # the column must be present in the file

    def names(self) -> tuple[str, ...]:
        return (self.field, self.label, *self.aliases)


# What other systems (ERP exports: 金蝶, 用友 …) call a product code.
SKU_ALIASES = ("编码", "货号", "物料编码", "产品编码", "商品编号", "存货编码", "料号")

COLUMNS: dict[str, tuple[Column, ...]] = {
    "products": (
        Column("sku", "商品编码", SKU_ALIASES),
        Column("name", "商品名称",
               ("名称", "物料名称", "产品名称", "存货名称", "品名", "配件名称")),
        Column("category", "品类", ("类别", "分类", "商品分类", "物料分类", "存货分类",
                                    "产品类别")),
        Column("brand", "品牌"),
        Column("unit", "单位", ("计量单位", "主计量单位")),
        Column("price", "单价", ("价格", "销售单价", "销售价", "批发价", "含税单价")),
        Column("models", "适用车型", ("车型", "适用车系"), required=False),
        Column("spec", "规格型号", ("规格", "型号"), required=False),
        Column("weight_kg", "重量", ("重量kg", "重量(kg)", "单件重量", "weight"), required=False),
    ),
    "customers": (
        Column("code", "客户编码", ("客户代码", "客户编号")),
        Column("name", "客户名称", ("客户全称",)), Column("aliases", "别名", ("客户简称", "简称")),
        Column("credit_limit", "信用额度"), Column("contact", "联系人"),
        Column("phone", "电话", ("联系电话",)),
        Column("address", "收货地址", ("地址", "送货地址")),
        Column("invoice_type", "开票类型", ("发票类型",)),
        Column("tax_id", "税号", ("纳税人识别号", "统一社会信用代码")),
        Column("bank", "开户行", ("开户银行",)),
        Column("account", "银行账号", ("账号", "银行帐号")),
        Column("openid", "微信openid", ("openid",), required=False),
        Column("wecom_userid", "企业微信账号", required=False),
    ),
    "warehouses": (
        Column("code", "仓编码", ("仓库编码",)), Column("name", "仓库名称"),
        Column("kind", "类型", ("仓库类型",)), Column("city", "城市"),
        Column("address", "地址"), Column("lat", "纬度", required=False),
        Column("lon", "经度", required=False), Column("cutoff", "截单时间"),
        Column("contact", "联系人", ("发货人",), required=False),
        Column("phone", "电话", ("联系电话", "手机"), required=False),
    ),
    "stock": (
        Column("warehouse", "仓编码", ("仓库编码",)), Column("sku", "商品编码", SKU_ALIASES),
        Column("on_hand", "在库数量", ("可用库存", "库存", "库存数量", "现存量", "结存数量")),
        Column("safety_stock", "安全库存", required=False),
    ),
    "staff": (
        Column("userid", "企业微信账号", ("账号",)), Column("name", "姓名"),
        Column("role", "角色"), Column("mobile", "手机", ("手机号",), required=False),
        Column("group_chat", "群聊ID", required=False),
    ),
    "deliveries": (
        Column("waybill_no", "运单号", ("快递单号",)), Column("carrier", "承运商", ("快递公司",)),
        Column("warehouse", "发货仓", ("仓编码", "仓库编码")),
        Column("address", "收货地址", ("地址",)), Column("confirmed_at", "下单时间"),
        Column("shipped_at", "发货时间"), Column("delivered_at", "签收时间"),
    ),
}


def _header_key(name: str) -> str:
    """Compare headers loosely: trimmed, lower case, no spaces, no '*' or (unit) suffix."""
    text = re.sub(r"\s+", "", name).lower().rstrip("*")
    text = re.sub(r"[(（][^)）]*[)）]$", "", text)
    return text.replace("-", "_")


def map_header(kind: str, header: list[str], *, has_default_warehouse: bool = False
               ) -> dict[str, str]:
    """{file header: field}; raises ImportFileError naming unknown, repeated or missing columns."""
    columns = COLUMNS[kind]
    lookup = {_header_key(n): c.field for c in columns for n in c.names()}
    mapping: dict[str, str] = {}
    unknown = []
    for name in filter(None, header):
        target = lookup.get(_header_key(name))
        if target is None:
            unknown.append(name)
        elif target in mapping.values():
            first = next(h for h, f in mapping.items() if f == target)
            raise ImportFileError(f"列“{first}”和“{name}”重复")
        else:
            mapping[name] = target
    if unknown:
        raise ImportFileError(f"无法识别的列：{'、'.join(unknown)}。{_accepted_columns(kind)}")
    _check_required(kind, set(mapping.values()), has_default_warehouse)
    return mapping


def _check_required(kind: str, present: set[str], has_default_warehouse: bool) -> None:
    missing = [c for c in COLUMNS[kind] if c.required and c.field not in present]
    if has_default_warehouse:
        missing = [c for c in missing if c.field != "warehouse"]
    if not missing:
        return
    names = "、".join(f"{c.label}（{c.field}）" for c in missing)
    hint = "，或用 --warehouse 指定仓库" if any(c.field == "warehouse" for c in missing) else ""
    raise ImportFileError(f"缺少必需的列：{names}{hint}")


def _accepted_columns(kind: str) -> str:
    names = "、".join(f"{c.field}（{c.label}）" for c in COLUMNS[kind])
    return f"{KIND_LABELS[kind]}导入可用的列：{names}"


# --- one row -----------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
_CUTOFF = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")
_ALIAS_SPLIT = re.compile(r"[;；,，]")
_CENT = Decimal("0.01")
_MAX_MONEY = Decimal(10) ** 12
_MAX_INT = 2**31 - 1
ROLES = {**{r.value: r for r in Role}, **{ROLE_ZH[r.value]: r for r in Role}}
WAREHOUSE_KINDS = {"physical": "physical", "实体": "physical", "实体仓": "physical",
                   "virtual": "virtual", "虚拟": "virtual", "虚拟仓": "virtual"}


@dataclass
class ParsedRow:
    """A data row after validation: model values, its key in the file, and its problems."""

    row: int
    values: dict[str, Any] = field(default_factory=dict)
    key: Any = None
    errors: list[RowError] = field(default_factory=list)
    target_id: int | None = None  # id of the existing database row it updates
    unchanged: bool = False  # that row already holds these values

    @property
    def ok(self) -> bool:
        return not self.errors


class RowReader:
    """Typed access to one row's cells; every bad value is recorded as a RowError."""

    def __init__(self, number: int, cells: dict[str, str], kind: str,
                 limits: dict[str, int], default_warehouse: str | None = None) -> None:
        self.parsed = ParsedRow(number)
        self.cells = cells
        self.labels = {c.field: c.label for c in COLUMNS[kind]}
        self.limits = limits
        self.default_warehouse = default_warehouse  # stock: --warehouse CODE

    def has(self, name: str) -> bool:
        return name in self.cells

    def error(self, name: str | None, reason: str) -> None:
        self.parsed.errors.append(RowError(self.parsed.row, name, reason))

    def text(self, name: str, *, required: bool = False) -> str:
        value = self.cells.get(name, "")
        if required and not value:
            self.error(name, f"缺少{self.labels[name]}")
        elif len(value) > self.limits.get(name, len(value)):
            self.error(name, f"{self.labels[name]}超过{self.limits[name]}个字符")
        return value

    def money(self, name: str, *, required: bool = False) -> Decimal:
        text = self.text(name, required=required)
        if not text:
            return Decimal(0)
        value = parse_number(text)
        label = self.labels[name]
        if value is None:
            self.error(name, f"{label}“{text}”不是有效的金额")
            return Decimal(0)
        cents = value.quantize(_CENT, rounding=ROUND_HALF_UP)
        if value < 0 or abs(value - cents) > Decimal("0.000001") or value >= _MAX_MONEY:
            self.error(name, _money_problem(label, text, value))
        return cents

    def integer(self, name: str, *, required: bool = False) -> int:
        text = self.text(name, required=required)
        if not text:
            return 0
        value = parse_number(text)
        label = self.labels[name]
        if value is None or value != value.to_integral_value():
            self.error(name, f"{label}“{text}”不是整数")
        elif value < 0:
            self.error(name, f"{label}不能为负数（{text}）")
        elif value > _MAX_INT:
            self.error(name, f"{label}“{text}”过大")
        else:
            return int(value)
        return 0

    def coordinate(self, name: str, bound: int) -> float | None:
        text = self.text(name)
        if not text:
            return None
        value = parse_number(text)
        if value is None or abs(value) > bound:
            label = self.labels[name]
            self.error(name, f"{label} {name}“{text}”无效，应在 -{bound} 到 {bound} 之间")
            return None
        return float(value)

    def phone(self, name: str) -> str:
        text = self.text(name)
        if not text:
            return ""
        value = normalise_phone(text)
        if value is None:
            self.error(name, f"{self.labels[name]}“{text}”格式不对，"
                             "应为11位手机号或区号-座机号（如 0571-88886666）")
            return text
        return value


def _money_problem(label: str, text: str, value: Decimal) -> str:
    if value < 0:
        return f"{label}不能为负数（{text}）"
    if value >= _MAX_MONEY:
        return f"{label}“{text}”过大"
    return f"{label}“{text}”最多两位小数"


def parse_number(text: str) -> Decimal | None:
    """'1,200', '¥50,000.00', '5万' → Decimal; None when it is not a plain number."""
    cleaned = re.sub(r"[,，¥￥元\s]", "", text)
    scale = 1
    if cleaned.endswith("万"):
        cleaned, scale = cleaned[:-1], 10000
    if not _NUMBER.match(cleaned):
        return None
    return Decimal(cleaned) * scale


def normalise_phone(text: str) -> str | None:
    """A mobile as 11 digits or a landline as written; None when neither."""
    compact = re.sub(r"[\s()（）]", "", text)
    mobile = re.sub(r"^\+?86-?", "", compact).replace("-", "")
    if _MOBILE.match(mobile):
        return mobile
    return compact if _LANDLINE.match(compact) else None


# --- per-kind row rules ------------------------------------------------------------------


def parse_product(r: RowReader) -> None:
    v = r.parsed.values
    v["sku"] = r.parsed.key = r.text("sku", required=True) or None
    v["name"] = r.text("name", required=True)
    if r.has("spec") and (spec := r.text("spec")) and spec.upper() not in v["name"].upper():
        v["name"] = f"{v['name']} {spec}"  # 规格型号 in its own column: part of the name
    v["category"] = r.text("category", required=True)
    v["brand"] = r.text("brand")
    v["unit"] = r.text("unit") or "件"
    v["price"] = r.money("price", required=True)
    if r.has("models"):
        v["models"] = r.text("models")
    if r.has("weight_kg"):
        v["weight_kg"] = _weight(r)


def _weight(r: RowReader) -> Decimal | None:
    """重量 in kg per unit: `1.2`, `1.2kg`, `800g`; empty keeps the default."""
    text = r.text("weight_kg").strip().lower().replace("公斤", "kg").replace("千克", "kg")
    if not text:
        return None
    grams = text.endswith("g") and not text.endswith("kg")
    value = parse_number(text.removesuffix("kg").removesuffix("g").strip())
    if value is not None and grams:
        value = value / 1000
    if value is None or not Decimal(0) < value <= Decimal(1000):
        r.error("weight_kg", f"重量“{text}”无效，应为每件的千克数（如 1.2 或 800g），不超过1000")
        return None
    return value.quantize(Decimal("0.001"))


def parse_customer(r: RowReader) -> None:
    v = r.parsed.values
    v["code"] = r.parsed.key = r.text("code", required=True) or None
    v["name"] = r.text("name", required=True)
    v["aliases"] = split_aliases(r.text("aliases"))
    v["credit_limit"] = r.money("credit_limit")
    v["contact"] = r.text("contact")
    v["phone"] = r.phone("phone")
    v["address"] = r.text("address")
    if v["address"] and geocode.parse(v["address"]) is None:
        r.error("address", "收货地址无法识别到省市区")
    _parse_invoice(r)
    for name in ("openid", "wecom_userid"):
        if r.has(name):
            v[name] = r.text(name) or None


def _parse_invoice(r: RowReader) -> None:
    v = r.parsed.values
    v["invoice_type"] = r.text("invoice_type") or InvoiceType.normal.value
    v["tax_id"] = normalise_tax_id(r.text("tax_id"))
    v["bank"] = r.text("bank")
    v["account"] = re.sub(r"[\s-]", "", r.text("account"))
    raw_tax_id, raw_account = r.cells.get("tax_id", ""), r.cells.get("account", "")
    for problem in invoice_problems(v["invoice_type"], raw_tax_id, v["bank"], raw_account):
        r.error(_invoice_field(problem), problem)


_INVOICE_WORDS = (("开票类型", "invoice_type"), ("税号", "tax_id"), ("统一社会信用代码", "tax_id"),
                  ("开户行", "bank"), ("账号", "account"))


def _invoice_field(problem: str) -> str:
    return next((name for word, name in _INVOICE_WORDS if word in problem), "invoice_type")


def split_aliases(text: str) -> list[str]:
    """'老王;王记，王氏' → ['老王', '王记', '王氏'] (order kept, duplicates dropped)."""
    parts = (p.strip() for p in _ALIAS_SPLIT.split(text))
    return list(dict.fromkeys(p for p in parts if p))


def parse_warehouse(r: RowReader) -> None:
    v = r.parsed.values
    v["code"] = r.parsed.key = r.text("code", required=True) or None
    v["name"] = r.text("name", required=True)
    v["kind"] = _warehouse_kind(r)
    v["city"] = r.text("city", required=True)
    v["address"] = r.text("address")
    v["cutoff"] = _cutoff(r)
    if r.has("contact"):
        v["contact"] = r.text("contact")
    if r.has("phone"):
        v["phone"] = r.phone("phone")
    _place_warehouse(r)


def _warehouse_kind(r: RowReader) -> str:
    text = r.text("kind")
    kind = WAREHOUSE_KINDS.get(text.lower() or "physical")
    if kind is None:
        r.error("kind", f"仓库类型“{text}”无效，应为 physical/virtual（实体/虚拟）")
    return kind or "physical"


def _cutoff(r: RowReader) -> str:
    text = r.text("cutoff").replace("：", ":")
    if not text:
        return "16:00"
    match = _CUTOFF.match(text)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return f"{int(match[1]):02d}:{match[2]}"
    r.error("cutoff", f"截单时间“{text}”无效，应为 HH:MM（如 16:30）")
    return "16:00"


def _place_warehouse(r: RowReader) -> None:
    v = r.parsed.values
    lat, lon = r.coordinate("lat", 90), r.coordinate("lon", 180)
    if bool(r.cells.get("lat")) != bool(r.cells.get("lon")):
        r.error("lat", "纬度 lat 和经度 lon 需同时填写，或都留空按城市定位")
    city = v["city"]
    place = (geocode.parse(city) or geocode.parse(city + "市")) if city else None
    if city and place is None:
        r.error("city", f"城市“{city}”无法识别")
    v["province"] = place.province_short if place else ""
    if lat is None and lon is None and place is not None:
        lat, lon = geocode.city_point(city) or (place.lat, place.lon)
    v["lat"], v["lon"] = lat, lon


def parse_stock(r: RowReader) -> None:
    default_warehouse = r.default_warehouse
    warehouse = r.text("warehouse")
    if default_warehouse and warehouse and warehouse != default_warehouse:
        r.error("warehouse", f"仓编码 {warehouse} 与 --warehouse {default_warehouse} 不一致")
    warehouse = warehouse or default_warehouse or ""
    if not warehouse:
        r.error("warehouse", "缺少仓编码")
    sku = r.text("sku", required=True)
    r.parsed.key = (warehouse, sku) if warehouse and sku else None
    r.parsed.values["on_hand"] = r.integer("on_hand", required=True)
    if r.has("safety_stock"):
        r.parsed.values["safety_stock"] = r.integer("safety_stock")


def parse_staff(r: RowReader) -> None:
    v = r.parsed.values
    v["userid"] = r.parsed.key = r.text("userid", required=True) or None
    v["name"] = r.text("name", required=True)
    text = r.text("role", required=True)
    v["role"] = ROLES.get(text.lower(), Role.sales)
    if text and text.lower() not in ROLES:
        r.error("role", f"角色“{text}”无效，应为 销售/经理/仓库/财务/管理员"
                        "（sales/manager/warehouse/finance/admin）")
    if r.has("mobile"):
        v["mobile"] = r.phone("mobile")
    if r.has("group_chat"):
        v["group_chat"] = r.text("group_chat") or None


_LOCAL_TIME = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2})?$")
_FUTURE_SLACK = timedelta(hours=1)
_places: dict[str, tuple[str, str] | None] = {}


def parse_delivery(r: RowReader) -> None:
    v = r.parsed.values
    v["waybill_no"] = r.parsed.key = r.text("waybill_no", required=True) or None
    text = r.text("carrier", required=True)
    carrier = couriers.by_name(text) if text else None
    if text and carrier is None:
        r.error("carrier", f"承运商“{text}”无法识别，应为快递编码（sf/zto/jd/yto…）"
                           "或名称（顺丰速运/中通快递/京东物流/圆通…）")
    v["carrier"] = carrier or text.lower()
    v["warehouse"] = r.text("warehouse", required=True)
    address = r.text("address", required=True)
    v["address"] = address
    place = _place(address) if address else None
    if address and place is None:
        r.error("address", f"收货地址“{address[:40]}”无法定位到城市")
    v["province"], v["city"] = place or ("", "")
    times = [_moment(r, name) for name in ("confirmed_at", "shipped_at", "delivered_at")]
    v["confirmed_at"], v["shipped_at"], v["delivered_at"] = times
    confirmed, shipped, delivered = times
    if confirmed and shipped and shipped < confirmed:
        r.error("shipped_at", "发货时间早于下单时间")
    if shipped and delivered and delivered <= shipped:
        r.error("delivered_at", "签收时间不晚于发货时间")
    if delivered and delivered > datetime.now(UTC) + _FUTURE_SLACK:
        r.error("delivered_at", "签收时间在将来")


def _place(address: str) -> tuple[str, str] | None:
    """(province, city) short names; cached, a history file repeats its addresses."""
    if address not in _places:
        _places[address] = _short(geocode.parse(address))
    return _places[address]


def _short(place: geocode.Place | None) -> tuple[str, str] | None:
    return (place.province_short, geocode.short_name(place.city)) if (
        place and place.city) else None


def place_addresses(addresses: Iterable[str]) -> None:
    """Place a file's addresses in one go before its rows are read (one cpca call instead
    of one per address: 200,000 rows in seconds, not minutes)."""
    new = [a for a in dict.fromkeys(addresses) if a and a not in _places]
    found = geocode.parse_many(new)
    for address in new:
        _places[address] = _short(found.get(address.strip()))


def _moment(r: RowReader, name: str) -> datetime | None:
    """ISO 8601 with an offset, or 'YYYY-MM-DD HH:MM[:SS]' read as China time."""
    text = r.text(name, required=True)
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        at = None
    if at is None or (at.tzinfo is None and not _LOCAL_TIME.match(text.replace("/", "-"))):
        label = next(c.label for c in COLUMNS["deliveries"] if c.field == name)
        r.error(name, f"{label}“{text}”无效，应为 YYYY-MM-DD HH:MM 或带时区的 ISO 8601")
        return None
    return (at if at.tzinfo else at.replace(tzinfo=CST)).astimezone(UTC)


# --- specs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    kind: str
    model: type[Model]
    key_field: str  # unique column in the table ('' for stock, keyed by warehouse × product)
    parse: Callable[[RowReader], None]

    def limits(self) -> dict[str, int]:
        """Maximum lengths of the text columns, so PostgreSQL never truncates or fails."""
        fields_map = self.model._meta.fields_map
        return {name: f.max_length for name, f in fields_map.items()
                if isinstance(getattr(f, "max_length", None), int)}


SPECS = {
    "products": Spec("products", Product, "sku", parse_product),
    "customers": Spec("customers", Customer, "code", parse_customer),
    "warehouses": Spec("warehouses", Warehouse, "code", parse_warehouse),
    "stock": Spec("stock", Stock, "", parse_stock),
    "staff": Spec("staff", Staff, "userid", parse_staff),
    "deliveries": Spec("deliveries", DeliveryRecord, "waybill_no", parse_delivery),
}
_KEY_LABELS = {"products": "商品编码", "customers": "客户编码", "warehouses": "仓编码",
               "staff": "企业微信账号", "deliveries": "运单号"}


# --- the import --------------------------------------------------------------------------


async def import_file(kind: str, path: str | Path, *, warehouse: str | None = None,
                      partial: bool = False, progress: bool = False) -> ImportReport:
    """Import one file of master data; see the module docstring for the rules."""
    spec = _spec(kind, warehouse)
    table = _read(path)
    mapping = map_header(kind, table.header, has_default_warehouse=bool(warehouse))
    rows = parse_rows(spec, table, mapping, warehouse, progress)
    mark_duplicates(kind, rows)
    # Short transactions on SQLite, so a running server's writes never wait long
    # (storage/batches.py); bad rows are all found before anything is written.
    async with Batched() as batch:
        if kind == "stock":
            await resolve_stock(rows, batch.conn, warehouse)
        else:
            await resolve_keys(spec, rows, batch.conn)
        if kind == "deliveries":
            await check_warehouses(rows, batch.conn)
        good = [r for r in rows if r.ok]
        written = bool(good) and (partial or len(good) == len(rows))
        counts = await write_rows(spec, good, batch.conn, batch) if written else (0, 0, 0)
        if written and kind in ("products", "warehouses", "customers"):  # the parser too
            await meta.bump(meta.CATALOG, batch.conn)
    errors = [e for r in rows for e in r.errors]
    created, updated, unchanged = counts
    return ImportReport(kind, len(rows), len(good), created, updated, errors, written,
                        unchanged)


def _spec(kind: str, warehouse: str | None) -> Spec:
    if kind not in SPECS:
        raise ImportFileError(f"未知的导入类型“{kind}”，应为 {'/'.join(KINDS)}")
    if warehouse and kind != "stock":
        raise ImportFileError("--warehouse 只用于库存（stock）导入")
    return SPECS[kind]


def _read(path: str | Path) -> excel.Table:
    try:
        return excel.read_table(path)
    except excel.SpreadsheetError as exc:
        raise ImportFileError(str(exc)) from exc


def parse_rows(spec: Spec, table: excel.Table, mapping: dict[str, str],
               warehouse: str | None, progress: bool) -> list[ParsedRow]:
    limits = spec.limits()
    if spec.kind == "deliveries":
        column = next((h for h, f in mapping.items() if f == "address"), None)
        if column is not None:
            place_addresses(raw.get(column, "") for _, raw in table.rows)
    out = []
    bar = tqdm(table.rows, desc=f"校验{KIND_LABELS[spec.kind]}", unit="行", file=sys.stderr,
               disable=not progress, leave=False)
    for number, raw in bar:
        cells = {mapping[h]: v for h, v in raw.items() if h in mapping}
        reader = RowReader(number, cells, spec.kind, limits, warehouse)
        spec.parse(reader)
        out.append(reader.parsed)
    return out


def mark_duplicates(kind: str, rows: Iterable[ParsedRow]) -> None:
    """A key seen on an earlier row rejects the later row."""
    first: dict[Any, int] = {}
    for r in rows:
        if r.key is None:
            continue
        if r.key in first:
            reason = _duplicate_reason(kind, r.key, first[r.key])
            r.errors.append(RowError(r.row, _key_field(kind), reason))
        else:
            first[r.key] = r.row


def _key_field(kind: str) -> str:
    return "sku" if kind == "stock" else SPECS[kind].key_field


def _duplicate_reason(kind: str, key: Any, first_row: int) -> str:
    if kind == "stock":
        return f"仓编码 {key[0]} 的商品编码 {key[1]} 与第{first_row}行重复"
    return f"{_KEY_LABELS[kind]} {key} 与第{first_row}行重复"


async def resolve_keys(spec: Spec, rows: list[ParsedRow], conn: BaseDBAsyncClient) -> None:
    """Point each row at the existing record with the same key (one query)."""
    fields = data_fields(spec, rows[0].values) if rows else []
    found = await spec.model.all().using_db(conn).values(spec.key_field, "id", *fields)
    existing = {item[spec.key_field]: item for item in found}
    for r in rows:
        match_existing(r, existing.get(r.key), fields)


async def check_warehouses(rows: list[ParsedRow], conn: BaseDBAsyncClient) -> None:
    """A delivery's origin must be a known warehouse (its promises are learnt per warehouse)."""
    codes = set(await Warehouse.all().using_db(conn).values_list("code", flat=True))
    for r in rows:
        code = r.values.get("warehouse")
        if code and code not in codes:
            r.errors.append(RowError(r.row, "warehouse", f"发货仓 {code} 不存在"))


def match_existing(r: ParsedRow, current: dict[str, Any] | None, fields: list[str]) -> None:
    """Target the current record; a row equal to it on every field needs no write."""
    if current is not None:
        r.target_id = current["id"]
        r.unchanged = all(current[name] == r.values[name] for name in fields)


async def resolve_stock(rows: list[ParsedRow], conn: BaseDBAsyncClient,
                        default_warehouse: str | None) -> None:
    """Resolve warehouse and SKU codes; reject on_hand below what orders have reserved."""
    warehouses = dict(await Warehouse.all().using_db(conn).values_list("code", "id"))
    if default_warehouse and default_warehouse not in warehouses:
        raise ImportFileError(f"仓编码 {default_warehouse} 不存在（--warehouse）")
    products = dict(await Product.all().using_db(conn).values_list("sku", "id"))
    wanted = {warehouses[k[0]] for k in _keys(rows) if k[0] in warehouses}
    current = await _current_stock(conn, wanted)
    for r in rows:
        if r.key is not None:
            _resolve_stock_row(r, warehouses.get(r.key[0]), products.get(r.key[1]), current)


def _keys(rows: Iterable[ParsedRow]) -> Iterable[Any]:
    return (r.key for r in rows if r.key is not None)


StockRows = dict[tuple[int, int], dict[str, Any]]


async def _current_stock(conn: BaseDBAsyncClient, warehouse_ids: set[int]) -> StockRows:
    """{(warehouse_id, product_id): row}, locked on PostgreSQL until the import commits."""
    query = Stock.filter(warehouse_id__in=list(warehouse_ids)).using_db(conn)
    if conn.capabilities.dialect == "postgres":
        query = query.select_for_update()
    rows = await query.values("id", "warehouse_id", "product_id", "reserved", "on_hand",
                              "safety_stock")
    return {(row["warehouse_id"], row["product_id"]): row for row in rows}


def _resolve_stock_row(r: ParsedRow, warehouse_id: int | None, product_id: int | None,
                       current: StockRows) -> None:
    code, sku = r.key
    if warehouse_id is None:
        r.errors.append(RowError(r.row, "warehouse", f"仓编码 {code} 不存在"))
    if product_id is None:
        r.errors.append(RowError(r.row, "sku", f"商品编码 {sku} 不存在"))
    if warehouse_id is None or product_id is None:
        return
    r.values.update(warehouse_id=warehouse_id, product_id=product_id)
    row = current.get((warehouse_id, product_id))
    match_existing(r, row, data_fields(SPECS["stock"], r.values))
    reserved = row["reserved"] if row else 0
    on_hand = r.values["on_hand"]
    if r.ok and on_hand < reserved:
        r.errors.append(RowError(r.row, "on_hand",
                                 f"在库数量低于已锁定数量（在库 {on_hand}，已锁定 {reserved}）"))


async def write_rows(spec: Spec, rows: list[ParsedRow], conn: BaseDBAsyncClient,
                     batch: Batched | None = None) -> tuple[int, int, int]:
    """bulk_create new rows, bulk_update changed ones; (created, updated, unchanged).
    With `batch`, a chunk at a time, letting it cut the transaction in between."""
    model = spec.model
    new = [model(**r.values) for r in rows if r.target_id is None]
    old = [_existing(model, r) for r in rows if r.target_id is not None and not r.unchanged]
    for i in range(0, len(new), BATCH_SIZE):
        await model.bulk_create(new[i:i + BATCH_SIZE], batch_size=BATCH_SIZE,
                                using_db=batch.conn if batch else conn)
        if batch:
            await batch.step()
    if old:
        fields = update_fields(spec, rows[0].values)
        size = _update_batch(len(fields))
        for i in range(0, len(old), size):
            await model.bulk_update(old[i:i + size], fields, batch_size=size,
                                    using_db=batch.conn if batch else conn)
            if batch:
                await batch.step()
    return len(new), len(old), len(rows) - len(new) - len(old)


def _existing(model: type[Model], r: ParsedRow) -> Model:
    obj = model(**r.values)
    obj.pk = r.target_id
    return obj


def data_fields(spec: Spec, values: dict[str, Any]) -> list[str]:
    """The fields the file supplies, without the key (stock.reserved is never among them)."""
    skip = {spec.key_field, "warehouse_id", "product_id", "reserved"}
    return [name for name in values if name not in skip]


def update_fields(spec: Spec, values: dict[str, Any]) -> list[str]:
    """What bulk_update writes: the data fields, plus updated_at where the model has it."""
    fields = data_fields(spec, values)
    if "updated_at" in spec.model._meta.fields_map:
        fields.append("updated_at")
    return fields


def _update_batch(field_count: int) -> int:
    """bulk_update binds 2 parameters per field per row plus the id list."""
    return max(1, min(BATCH_SIZE, MAX_SQL_PARAMS // (2 * field_count + 1)))
