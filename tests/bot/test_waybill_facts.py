"""What an e-waybill says about the parcel and its sender (issue 12): the weight from the
product master (import column 重量, else [shipping] default_weight_kg per unit) and the sender
from the warehouse (import columns 联系人, 电话), through the production shipping path to a
carrier's fake API."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from bot import config
from bot.catalog import Catalog
from bot.imports import import_file
from bot.ordering import OrderService
from storage.models import Product, Warehouse
from tests.bot.test_shipping import allocated, sf, sf_client, shippable, shipping
from tests.bot.test_shipping import http as http  # the fixture, by name

_ = (sf, shippable)  # fixtures used by name below


def created(fake: Any) -> list[dict[str, Any]]:
    """The create-order messages SF received (what the e-waybill says)."""
    return [json.loads(r.form()["msgData"]) for r in fake.received
            if r.form().get("serviceCode") == "EXP_RECE_CREATE_ORDER"]


def write_csv(path: Any, rows: list[list[str]]) -> Any:
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


async def test_weights_and_senders_come_from_the_imports(shippable, sf, http, settings,
                                                          tmp_path):
    products = write_csv(tmp_path / "p.csv", [
        ["商品编码", "商品名称", "品类", "品牌", "单位", "单价", "重量"],
        ["FLT00001", "马勒 空调滤清器 大众帕萨特/迈腾 LAK200", "FLT", "马勒", "个", "44", "1.2"],
        ["OIL00001", "美孚1号 全合成机油 5W-30 4L", "OIL", "美孚", "桶", "300", ""]])
    report = await import_file("products", products)
    assert report.written and not report.rejected
    assert (await Product.get(sku="FLT00001")).weight_kg == Decimal("1.2")
    assert (await Product.get(sku="OIL00001")).weight_kg is None
    hz = await Warehouse.get(code="HZ01")
    warehouses = write_csv(tmp_path / "w.csv", [
        ["仓编码", "仓库名称", "类型", "城市", "地址", "截单时间", "联系人", "电话"],
        ["HZ01", hz.name, "physical", hz.city, hz.address, hz.cutoff, "陈发货", "13900001111"]])
    report = await import_file("warehouses", warehouses)
    assert report.written and not report.rejected, report.rejected

    heavy = replace(settings, default_weight_kg=2.0)
    service = OrderService(heavy, Catalog(heavy))
    order = await allocated(service, "sf", lines=(("FLT00001", 3),))
    result = await shipping(service, {"sf": sf_client(sf, http)}).ship(order.no, "warehouse")
    assert result.shipped
    [sent] = created(sf)
    assert sent["totalWeight"] == pytest.approx(3.6)  # 3 × 1.2 kg from the product master
    sender = next(c for c in sent["contactInfoList"] if c["contactType"] == 1)
    assert (sender["contact"], sender["mobile"]) == ("陈发货", "13900001111")

    order = await allocated(service, "sf", lines=(("OIL00001", 2),))
    assert (await shipping(service, {"sf": sf_client(sf, http)}).ship(order.no, "w")).shipped
    sent = next(m for m in created(sf) if m["orderId"].startswith(order.no))
    assert sent["totalWeight"] == pytest.approx(4.0)  # no 重量: 2 × the configured 2.0 kg


async def test_a_bad_weight_is_refused_with_its_row(world, tmp_path):
    products = write_csv(tmp_path / "p.csv", [
        ["商品编码", "商品名称", "品类", "品牌", "单位", "单价", "重量"],
        ["FLT00001", "马勒 空调滤清器", "FLT", "马勒", "个", "44", "800g"],
        ["OIL00001", "美孚1号 机油", "OIL", "美孚", "桶", "300", "重"]])
    report = await import_file("products", products)
    assert not report.written
    [error] = report.rejected
    assert error.row == 3 and "重量" in error.reason


def test_the_default_weight_is_configurable_and_checked():
    assert config.load(None, {}).default_weight_kg == 0.5
    with pytest.raises(config.ConfigError, match=r"shipping\.default_weight_kg"):
        config._weight({"default_weight_kg": 0})


async def test_the_parser_sees_a_re_imported_customer_alias_without_a_restart(world, settings,
                                                                             tmp_path):
    from bot.parsing import ParserService
    from storage.models import Customer

    # check_every=0: every parse asks whether the catalogue moved (a server checks every 2 s)
    parser = ParserService(Catalog(settings, check_every=0))
    assert (await parser.parse("老周汽修 FLT00001 x2"))["customer"] is None
    c = await Customer.get(code="C0001")
    path = write_csv(tmp_path / "c.csv", [
        ["客户编码", "客户名称", "别名", "信用额度", "联系人", "电话", "收货地址", "开票类型",
         "税号", "开户行", "银行账号"],
        [c.code, c.name, "老周汽修", str(c.credit_limit), c.contact, c.phone, c.address,
         "普票", "", "", ""]])
    report = await import_file("customers", path)
    assert report.written and not report.rejected, report.rejected
    assert await Customer.all().count() == len(world["customers"])  # same count, new alias
    found = (await parser.parse("老周汽修 FLT00001 x2"))["customer"]
    assert found is not None and found["code"] == "C0001"
