"""Tortoise models: master data, stock, orders, shipments and the append-only order log."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from bot.domain.status import OrderStatus as OrderStatus


class Role(StrEnum):
    sales = "sales"
    manager = "manager"
    warehouse = "warehouse"
    finance = "finance"
    admin = "admin"


class WarehouseKind(StrEnum):
    physical = "physical"
    virtual = "virtual"


class InvoiceType(StrEnum):
    normal = "普票"
    special = "专票"
    none = "无需"


class Customer(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(32, unique=True)
    name = fields.CharField(128)
    aliases: Any = fields.JSONField(default=list)
    credit_limit = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    # Open exposure: totals of confirmed orders not yet paid. Moved only by conditional
    # updates in storage/orders.py so two racing confirmations cannot both pass the limit.
    exposure = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    contact = fields.CharField(64, default="")
    phone = fields.CharField(32, default="")
    address = fields.CharField(256, default="")
    invoice_type = fields.CharField(8, default=InvoiceType.normal.value)
    tax_id = fields.CharField(32, default="")
    bank = fields.CharField(128, default="")
    account = fields.CharField(64, default="")
    openid = fields.CharField(64, null=True)
    wecom_userid = fields.CharField(64, null=True)
    sales_owner = fields.CharField(64, null=True)
    active = fields.BooleanField(default=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customers"


class Staff(Model):
    id = fields.IntField(primary_key=True)
    userid = fields.CharField(64, unique=True)
    name = fields.CharField(64)
    role = fields.CharEnumField(Role, max_length=16)
    mobile = fields.CharField(32, default="")
    group_chat = fields.CharField(64, null=True)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "staff"


class Product(Model):
    id = fields.IntField(primary_key=True)
    sku = fields.CharField(32, unique=True)
    name = fields.CharField(128)
    category = fields.CharField(16, db_index=True)
    brand = fields.CharField(64, default="")
    unit = fields.CharField(8, default="件")
    price = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    models = fields.CharField(256, default="")
    active = fields.BooleanField(default=True)
    # kg per unit (import column 重量); empty: [shipping] default_weight_kg
    weight_kg = fields.DecimalField(max_digits=10, decimal_places=3, null=True)

    class Meta:
        table = "products"


class Warehouse(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(32, unique=True)
    name = fields.CharField(64)
    kind = fields.CharEnumField(WarehouseKind, max_length=8, default=WarehouseKind.physical)
    city = fields.CharField(32, default="")
    province = fields.CharField(32, default="")
    address = fields.CharField(256, default="")
    lat = fields.FloatField(null=True)
    lon = fields.FloatField(null=True)
    cutoff = fields.CharField(5, default="16:00")
    active = fields.BooleanField(default=True)
    contact = fields.CharField(32, default="")  # the sender on e-waybills (import 联系人)
    phone = fields.CharField(32, default="")  # the sender's phone (import 电话)

    class Meta:
        table = "warehouses"


class Stock(Model):
    """One row per warehouse × product; available = on_hand - reserved."""

    id = fields.IntField(primary_key=True)
    warehouse: fields.ForeignKeyRelation[Warehouse] = fields.ForeignKeyField(
        "models.Warehouse", related_name="stock")
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name="stock")
    on_hand = fields.IntField(default=0)
    reserved = fields.IntField(default=0)
    safety_stock = fields.IntField(default=0)
    warehouse_id: int
    product_id: int

    class Meta:
        table = "stock"
        # product first: the per-order lookup is by product, the reservation by both.
        unique_together = (("product", "warehouse"),)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Carrier(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(16, unique=True)
    name = fields.CharField(32)
    enabled = fields.BooleanField(default=True)
    sandbox = fields.BooleanField(default=True)

    class Meta:
        table = "carriers"


class CarrierCoverage(Model):
    """A place a carrier serves (province, city or named region) or excludes."""

    id = fields.IntField(primary_key=True)
    carrier: fields.ForeignKeyRelation[Carrier] = fields.ForeignKeyField(
        "models.Carrier", related_name="coverage")
    place = fields.CharField(32)
    excluded = fields.BooleanField(default=False)

    class Meta:
        table = "carrier_coverage"
        unique_together = (("carrier", "place"),)


class Order(Model):
    id = fields.IntField(primary_key=True)
    no = fields.CharField(24, unique=True)
    idempotency_key = fields.CharField(128, unique=True, null=True)
    # SHA-256 of the request the key first came with (bot/domain/idempotency.py): the same key
    # with another request is refused (409), like the payment APIs do.
    idempotency_fingerprint = fields.CharField(64, null=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="orders", db_index=True)
    customer_id: int
    status = fields.CharEnumField(OrderStatus, max_length=20, default=OrderStatus.draft,
                                  db_index=True)
    channel = fields.CharField(16, default="api")
    campaign = fields.CharField(32, null=True)
    salesperson = fields.CharField(64, null=True)
    priority = fields.IntField(default=0)
    preferred_warehouse = fields.CharField(32, null=True)
    address_raw = fields.CharField(256, default="")
    province = fields.CharField(32, default="")
    city = fields.CharField(32, default="")
    district = fields.CharField(32, default="")
    adcode = fields.CharField(12, default="")
    lat = fields.FloatField(null=True)
    lon = fields.FloatField(null=True)
    invoice_type = fields.CharField(8, default=InvoiceType.normal.value)
    tax_id = fields.CharField(32, default="")
    bank = fields.CharField(128, default="")
    account = fields.CharField(64, default="")
    total = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    gates: Any = fields.JSONField(default=list)
    credit_released_by = fields.CharField(64, null=True)
    promised_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    confirmed_at = fields.DatetimeField(null=True)
    shipped_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    paid_at = fields.DatetimeField(null=True)

    class Meta:
        table = "orders"


class OrderLine(Model):
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="lines", db_index=True)
    order_id: int
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name="order_lines")
    product_id: int
    sku = fields.CharField(32)
    name = fields.CharField(128)
    category = fields.CharField(16, default="")
    qty = fields.IntField()
    unit_price = fields.DecimalField(max_digits=14, decimal_places=2)
    amount = fields.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        table = "order_lines"


class Shipment(Model):
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="shipments", db_index=True)
    order_id: int
    seq = fields.IntField()
    warehouse: fields.ForeignKeyRelation[Warehouse] = fields.ForeignKeyField(
        "models.Warehouse", related_name="shipments")
    warehouse_id: int
    carrier = fields.CharField(16, null=True)
    waybill_no = fields.CharField(40, null=True, unique=True)
    status = fields.CharEnumField(OrderStatus, max_length=20, default=OrderStatus.allocated)
    reserved = fields.BooleanField(default=False)
    promised_at = fields.DatetimeField(null=True)
    shipped_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    lines: Any = fields.JSONField(default=list)  # [{"sku", "product_id", "qty"}]

    class Meta:
        table = "shipments"
        unique_together = (("order", "seq"),)


class OrderLog(Model):
    """Append-only: rows are inserted, never updated or deleted."""

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="log", db_index=True)
    order_id: int
    at = fields.DatetimeField(auto_now_add=True)
    actor = fields.CharField(64)
    action = fields.CharField(32)
    from_status = fields.CharField(20, null=True)
    to_status = fields.CharField(20, null=True)
    detail: Any = fields.JSONField(default=dict)

    class Meta:
        table = "order_log"

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._saved_in_db:
            await super().save(*args, **kwargs)
            return
        raise PermissionError("order_log is append-only")

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("order_log is append-only")


class Counter(Model):
    """Named counters; `catalog` is bumped whenever products or warehouses change, so every
    process's catalogue snapshot knows to reload (storage/meta.py)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(32, unique=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "counters"


class Secret(Model):
    """Keys the application made for itself when none was configured (e.g. the tracking-link
    key without LVYUE_SECRET), so they survive a restart and are shared by every process."""

    name = fields.CharField(32, primary_key=True)
    value = fields.CharField(128)

    class Meta:
        table = "app_secrets"
