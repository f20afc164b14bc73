"""POST /api/orders/import: a spreadsheet as multipart/form-data, one draft per customer
(the rules of chat, bot/sheet_orders.py), the unmatched rows named; on both engines."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot import sheet_orders
from bot.app import build
from bot.config import Settings
from storage.models import Order, OrderLine
from tests.conftest import bearer, issue_key
from tests.handlers.test_sheet_chat import BATCH, xlsx

PROBLEM = "application/problem+json"


@pytest.fixture
async def app_client(world: dict[str, Any], settings: Settings, aiohttp_client: Any
                     ) -> TestClient:
    return await aiohttp_client(build(settings, manage_db=False))


async def upload(client: TestClient, role: str, name: str, data: bytes,
                 field: str = "file", **extra: str) -> tuple[int, str, Any]:
    key = await issue_key(f"k-{role}", role)
    form = aiohttp.FormData()
    form.add_field(field, data, filename=name,
                   content_type="application/vnd.openxmlformats-officedocument"
                                ".spreadsheetml.sheet")
    for k, v in extra.items():
        form.add_field(k, v)
    async with client.post("/api/orders/import", data=form, headers=bearer(key)) as resp:
        return resp.status, resp.content_type, await resp.json(content_type=None)


async def test_a_sheet_places_one_draft_per_customer_and_names_unmatched_rows(app_client):
    status, ctype, body = await upload(app_client, "sales", "batch.xlsx", xlsx(BATCH))
    assert (status, ctype) == (201, "application/json"), body
    assert body["rows"] == 7
    assert sorted(o["customer"]["code"] for o in body["orders"]) == ["C0001", "C0002"]
    c1 = next(o for o in body["orders"] if o["customer"]["code"] == "C0001")
    assert c1["status"] == "draft" and c1["no"].startswith("LY")
    assert sorted((ln["sku"], ln["qty"]) for ln in c1["lines"]) == [("FLT00001", 10),
                                                                     ("OIL00001", 3)]
    assert [(u["row"], u["field"], u["code"]) for u in body["unmatched"]] == [
        (5, "sku", "unmatched"), (6, "qty", "bad_qty"), (7, "customer", "unknown_customer"),
        (8, "name", "unmatched")]
    assert body["unmatched"][0]["message"] == "第5行：商品编码“XYZ99999”不存在"
    assert await Order.all().count() == 2
    # the same JSON as GET /api/orders/{no}
    key = await issue_key("reader", "sales")
    async with app_client.get(f"/api/orders/{c1['no']}", headers=bearer(key)) as resp:
        assert (await resp.json())["lines"] == c1["lines"]


async def test_an_idempotency_key_makes_a_retried_upload_place_nothing_twice(app_client):
    data = xlsx(BATCH[:4])
    first = await upload(app_client, "integration", "a.xlsx", data, idempotency_key="up-1")
    again = await upload(app_client, "integration", "a.xlsx", data, idempotency_key="up-1")
    assert first[0] == 201 and again[0] == 201
    assert [o["no"] for o in first[2]["orders"]] == [o["no"] for o in again[2]["orders"]]
    assert await Order.all().count() == 2


async def test_no_row_matched_is_422_naming_every_row(app_client):
    rows = [("客户", "商品编码", "数量"), ("C0001", "NOPE0001", 1), ("C0009", "OIL00001", 2)]
    status, ctype, body = await upload(app_client, "manager", "x.xlsx", xlsx(rows))
    assert (status, ctype) == (422, PROBLEM)
    assert [(e["field"], e["row"]) for e in body["errors"]] == [
        ("rows[2].sku", 2), ("rows[3].customer", 3)]
    assert await Order.all().count() == 0 and await OrderLine.all().count() == 0


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("a.pdf", b"%PDF-1.7", 422, "not_spreadsheet"),
    ("a.csv", "客户,数量\nC0001,1\n".encode(), 422, "missing_columns"),
    ("a.csv", b"x" * (sheet_orders.MAX_BYTES + 1), 413, "too_large"),
])
async def test_files_that_are_not_order_sheets_are_refused(app_client, name, data, status,
                                                           code):
    got, ctype, body = await upload(app_client, "sales", name, data)
    assert (got, ctype, body["errors"][0]["field"], body["errors"][0]["code"]) == (
        status, PROBLEM, "file", code)
    assert await Order.all().count() == 0


async def test_roles_body_type_and_a_missing_file_field(app_client):
    status, _, body = await upload(app_client, "warehouse", "a.xlsx", xlsx(BATCH))
    assert status == 403
    status, _, body = await upload(app_client, "sales", "a.xlsx", xlsx(BATCH), field="sheet")
    assert status == 422 and body["errors"][0]["code"] == "required"
    key = await issue_key("j", "sales")
    async with app_client.post("/api/orders/import", json={"file": "x"},
                               headers=bearer(key)) as resp:
        assert resp.status == 415
    # and the JSON routes still refuse a form
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="a.csv")
    async with app_client.post("/api/orders", data=form, headers=bearer(key)) as resp:
        assert resp.status == 415


async def test_a_one_customer_sheet_takes_the_customer_from_a_form_field(app_client):
    rows = [("商品编码", "数量"), ("OIL00001", 2), ("FLT00001", 1)]
    status, _, body = await upload(app_client, "sales", "quote.xlsx", xlsx(rows),
                                   customer="C0002")
    assert status == 201 and [o["customer"]["code"] for o in body["orders"]] == ["C0002"]
    status, _, body = await upload(app_client, "sales", "quote.xlsx", xlsx(rows),
                                   customer="C0404")
    assert status == 422 and body["errors"][0]["code"] == "unknown_customer"


async def test_a_price_below_the_floor_refuses_that_customers_draft_only(app_client):
    rows = [("客户", "商品编码", "数量", "单价"), ("C0001", "OIL00001", 2, 10),
            ("C0002", "FLT00001", 1, "")]
    status, _, body = await upload(app_client, "sales", "q.xlsx", xlsx(rows))
    assert status == 201 and [o["customer"]["code"] for o in body["orders"]] == ["C0002"]
    [refused] = body["refused"]
    assert (refused["customer"], refused["rows"]) == ("C0001", [2])
    assert "低于" in refused["message"] or "折扣" in refused["message"], refused
    # a manager's key may approve it
    status, _, body = await upload(app_client, "manager", "q.xlsx", xlsx(rows[:2]))
    assert status == 201 and body["orders"][0]["lines"][0]["unit_price"] == 10.0


async def test_a_sheet_reads_the_header_words_of_a_pasted_table_and_its_brand_column(
        app_client):
    # 客户代码 / 料号 / 品牌 / 配件名称 / 车型 / 件数: another ERP's export, not our template
    rows = [("客户代码", "料号", "品牌", "配件名称", "车型", "件数"),
            ("C0001", "", "博世", "前刹车片", "朗逸", 4),
            ("C0001", "", "曼牌", "空滤", "卡罗拉", 2),
            ("C0001", "", "米其林", "前刹车片", "朗逸", 1)]
    status, _, body = await upload(app_client, "sales", "erp.xlsx", xlsx(rows))
    assert status == 201, body
    [order] = body["orders"]
    assert sorted((ln["sku"], ln["qty"]) for ln in order["lines"]) == [("BRK00001", 4),
                                                                       ("FLT00001", 2)]
    # the brand column counts: there is no 米其林 brake pad, so the row is asked, not guessed
    assert [(u["row"], u["field"]) for u in body["unmatched"]] == [(4, "name")]
