"""Master-data import: CSV/XLSX, English/Chinese headers, row errors, all-or-nothing, updates."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from bot.imports import ImportFileError, ImportReport, import_file, map_header
from integrations import excel
from storage.models import Customer, Product, Role, Staff, Stock, Warehouse

DATA = Path(__file__).parent / "data"
PRODUCT_HEADER = ["sku", "name", "category", "brand", "unit", "price"]
TAX_ID = "91330106MA27Y5XK19"  # valid unified social credit code


def write_csv(path: Path, rows: Sequence[Sequence[Any]], encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(list(row))
    workbook.save(path)
    return path


def product(sku: str, price: Any = "10.00", name: str = "刹车片") -> list[Any]:
    return [sku, name, "刹车", "博世", "套", price]


def errors_by_row(report: ImportReport) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for e in report.rejected:
        out.setdefault(e.row, []).append(e.reason)
    return out


async def seed_master_data() -> None:
    await import_file("products", DATA / "products_en.csv")
    await import_file("warehouses", DATA / "warehouses.csv")


# --- products ----------------------------------------------------------------------------


async def test_products_csv_english_headers(db):
    report = await import_file("products", DATA / "products_en.csv")
    assert (report.total, report.accepted, report.created, report.updated) == (4, 4, 4, 0)
    assert report.written
    assert report.rejected == []
    oil = await Product.get(sku="OIL00012")
    assert oil.price == Decimal("1299.00")
    assert oil.unit == "桶"
    assert oil.models == ""
    brake = await Product.get(sku="BRK00001")
    assert brake.models == "大众朗逸;大众速腾"
    assert brake.category == "刹车"


async def test_products_csv_chinese_headers_with_bom(db):
    report = await import_file("products", DATA / "products_zh.csv")
    assert report.created == 2
    assert report.written
    assert (await Product.get(sku="BRK00002")).price == Decimal("128.50")


async def test_products_xlsx_with_numbers_and_blank_row(db, tmp_path):
    path = write_xlsx(tmp_path / "p.xlsx", [
        [" SKU ", "商品名称", "Category", "品牌", "单位", "单价"],
        ["BRK00001", "刹车片", "刹车", "博世", "套", 168.5],
        [None, None, None, None, None, None],
        ["OIL00012", "机油", "机油", "美孚", "桶", 299],
        ["FLT00001", "", "滤清器", "曼牌", "个", 35],
    ])
    report = await import_file("products", path)
    assert report.total == 3
    assert report.accepted == 2
    assert [(e.row, e.field, e.reason) for e in report.rejected] == [(5, "name", "缺少商品名称")]
    assert not report.written
    assert await Product.all().count() == 0
    report = await import_file("products", path, partial=True)
    assert report.written
    assert report.created == 2
    assert (await Product.get(sku="BRK00001")).price == Decimal("168.50")
    assert (await Product.get(sku="OIL00012")).price == Decimal("299.00")


async def test_product_rejections_carry_row_numbers(db, tmp_path):
    path = write_csv(tmp_path / "p.csv", [
        PRODUCT_HEADER,
        product("BRK00001"),                 # row 2 ok
        product("BRK00002", price="-5"),     # row 3 negative price
        product("BRK00003", price="abc"),    # row 4 not a number
        product("BRK00001"),                 # row 5 duplicate of row 2
        product("", name=""),                # row 6 missing sku and name
        product("BRK00004", price="1.234"),  # row 7 three decimals
        product("X" * 40),                   # row 8 sku too long
    ])
    report = await import_file("products", path)
    errors = errors_by_row(report)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]
    assert errors[3] == ["单价不能为负数（-5）"]
    assert errors[4] == ["单价“abc”不是有效的金额"]
    assert errors[5] == ["商品编码 BRK00001 与第2行重复"]
    assert errors[6] == ["缺少商品编码", "缺少商品名称"]
    assert errors[7] == ["单价“1.234”最多两位小数"]
    assert errors[8] == ["商品编码超过32个字符"]
    assert report.accepted == 1
    assert not report.written
    assert (report.created, report.updated) == (0, 0)
    assert await Product.all().count() == 0


async def test_partial_writes_good_rows_only(db, tmp_path):
    path = write_csv(tmp_path / "p.csv", [
        PRODUCT_HEADER, product("BRK00001"), product("BRK00002", price="-1"), product("BRK00003"),
    ])
    report = await import_file("products", path, partial=True)
    assert report.written
    assert report.created == 2
    assert report.accepted == 2
    assert [e.row for e in report.rejected] == [3]
    assert sorted(await Product.all().values_list("sku", flat=True)) == ["BRK00001", "BRK00003"]


async def test_reimport_updates_instead_of_duplicating(db, tmp_path):
    await import_file("products", DATA / "products_en.csv")
    path = write_csv(tmp_path / "p.csv", [
        PRODUCT_HEADER, product("BRK00001", price="199.00", name="前刹车片（新款）"),
        product("NEW00001", price="5"),
    ])
    report = await import_file("products", path)
    assert (report.created, report.updated) == (1, 1)
    assert await Product.all().count() == 5
    brake = await Product.get(sku="BRK00001")
    assert brake.price == Decimal("199.00")
    assert brake.name == "前刹车片（新款）"
    assert brake.models == "大众朗逸;大众速腾"  # no models column this time: left alone


@pytest.mark.parametrize(("kind", "name", "count"), [
    ("products", "products_en.csv", 4), ("customers", "customers_zh.csv", 3),
    ("warehouses", "warehouses.csv", 3), ("staff", "staff_zh.csv", 3),
])
async def test_same_file_twice_changes_nothing(db, kind, name, count):
    await import_file(kind, DATA / name)
    report = await import_file(kind, DATA / name)
    assert (report.created, report.updated, report.unchanged) == (0, 0, count)
    assert report.written
    assert f"无变化 {count} 行" in report.summary_zh()


async def test_stock_same_file_twice_changes_nothing(db):
    await seed_master_data()
    await import_file("stock", DATA / "stock_zh.csv")
    report = await import_file("stock", DATA / "stock_zh.csv")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)


async def test_gbk_csv(db, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", [
        ["商品编码", "商品名称", "品类", "品牌", "单位", "单价"],
        ["BRK00001", "前刹车片", "刹车", "博世", "套", "168"],
    ], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    report = await import_file("products", path)
    assert report.created == 1
    assert (await Product.get(sku="BRK00001")).name == "前刹车片"


async def test_file_level_errors(db, tmp_path):
    no_price = write_csv(tmp_path / "p.csv", [PRODUCT_HEADER[:-1], product("B1")[:-1]])
    with pytest.raises(ImportFileError, match="缺少必需的列：单价"):
        await import_file("products", no_price)
    extra = write_csv(tmp_path / "e.csv", [[*PRODUCT_HEADER, "备注"], [*product("B1"), "x"]])
    with pytest.raises(ImportFileError, match="无法识别的列：备注"):
        await import_file("products", extra)
    twice = write_csv(tmp_path / "t.csv", [[*PRODUCT_HEADER, "商品编码"]])
    with pytest.raises(ImportFileError, match="重复"):
        await import_file("products", twice)
    with pytest.raises(ImportFileError, match="未知的导入类型"):
        await import_file("orders", no_price)
    with pytest.raises(ImportFileError, match="不支持"):
        await import_file("products", tmp_path / "p.json")
    with pytest.raises(ImportFileError, match="不存在"):
        await import_file("products", tmp_path / "missing.csv")
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ImportFileError, match="不是有效的 XLSX"):
        await import_file("products", tmp_path / "bad.xlsx")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ImportFileError, match="表头"):
        await import_file("products", tmp_path / "empty.csv")
    with pytest.raises(ImportFileError, match="--warehouse"):
        await import_file("products", DATA / "products_en.csv", warehouse="HZ01")


async def test_header_only_file_writes_nothing(db, tmp_path):
    report = await import_file("products", write_csv(tmp_path / "p.csv", [PRODUCT_HEADER]))
    assert (report.total, report.written) == (0, False)
    assert "没有可导入的行" in report.summary_zh()


async def test_summary_zh_lists_rows(db, tmp_path):
    path = write_csv(tmp_path / "p.csv", [
        PRODUCT_HEADER, product("BRK00001"), product("BRK00002", price="-1"),
    ])
    text = (await import_file("products", path)).summary_zh()
    assert "共 2 行，通过 1 行，拒绝 1 行" in text
    assert "第3行：单价不能为负数（-1）" in text
    assert "未写入" in text
    assert "--partial" in text


async def test_progress_bar_goes_to_stderr(db, capsys):
    report = await import_file("products", DATA / "products_en.csv", progress=True)
    assert report.created == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "行" in captured.err


# --- customers ---------------------------------------------------------------------------


async def test_customers_chinese_headers(db):
    report = await import_file("customers", DATA / "customers_zh.csv")
    assert (report.created, report.written) == (3, True), report.summary_zh()
    c1 = await Customer.get(code="C001")
    assert c1.aliases == ["西湖汽修", "老王汽修", "西湖修理厂"]
    assert c1.credit_limit == Decimal("50000.00")
    assert (c1.invoice_type, c1.tax_id, c1.account) == ("专票", TAX_ID, "6222021234567890123")
    c2 = await Customer.get(code="C002")
    assert c2.phone == "0574-86881234"
    assert c2.aliases == ["北仑车行"]
    assert (await Customer.get(code="C003")).aliases == []


CUSTOMER_HEADER = ["code", "name", "aliases", "credit_limit", "contact", "phone", "address",
                   "invoice_type", "tax_id", "bank", "account"]
ADDRESS = "浙江省杭州市西湖区文三路100号"


def customer(code: str, **overrides: str) -> list[str]:
    values = {"code": code, "name": f"客户{code}", "aliases": "", "credit_limit": "1000",
              "contact": "王", "phone": "13800001111", "address": ADDRESS,
              "invoice_type": "普票", "tax_id": "", "bank": "", "account": ""}
    values.update(overrides)
    return [values[h] for h in CUSTOMER_HEADER]


async def test_customer_rejections(db, tmp_path):
    path = write_csv(tmp_path / "c.csv", [
        CUSTOMER_HEADER,
        customer("C1"),                                                  # row 2 ok
        customer("C2", invoice_type="增票"),                              # row 3
        customer("C3", invoice_type="专票", tax_id=TAX_ID),               # row 4 no bank/account
        customer("C4", invoice_type="专票", tax_id="91330106MA27Y5XK1X",  # row 5 check digit
                 bank="工行", account="6222021234567890"),
        customer("C5", address="火星基地1号"),                            # row 6
        customer("C6", phone="12345"),                                   # row 7
        customer("C7", credit_limit="-100"),                             # row 8
        customer("C1"),                                                  # row 9 duplicate
        customer("C9", credit_limit="5万", phone="0571-88886666"),       # row 10 ok
    ])
    report = await import_file("customers", path)
    fields = {(e.row, e.field) for e in report.rejected}
    assert fields == {(3, "invoice_type"), (4, "bank"), (4, "account"), (5, "tax_id"),
                      (6, "address"), (7, "phone"), (8, "credit_limit"), (9, "code")}
    errors = errors_by_row(report)
    assert errors[3] == ["开票类型“增票”无效，应为普票、专票或无需"]
    assert errors[4] == ["专票缺少开户行", "专票缺少银行账号"]
    assert "校验位不符" in errors[5][0]
    assert errors[6] == ["收货地址无法识别到省市区"]
    assert errors[7][0].startswith("电话“12345”格式不对")
    assert errors[8] == ["信用额度不能为负数（-100）"]
    assert errors[9] == ["客户编码 C1 与第2行重复"]
    assert report.accepted == 2
    assert not report.written
    assert await Customer.all().count() == 0
    report = await import_file("customers", path, partial=True)
    assert report.created == 2
    assert (await Customer.get(code="C9")).credit_limit == Decimal("50000.00")


async def test_customer_reimport_updates(db, tmp_path):
    await import_file("customers", DATA / "customers_zh.csv")
    path = write_csv(tmp_path / "c.csv", [
        CUSTOMER_HEADER, customer("C002", aliases="北仑;北仑车行", credit_limit="30000"),
    ])
    report = await import_file("customers", path)
    assert (report.created, report.updated) == (0, 1)
    assert await Customer.all().count() == 3
    c2 = await Customer.get(code="C002")
    assert c2.aliases == ["北仑", "北仑车行"]
    assert c2.credit_limit == Decimal("30000.00")


# --- warehouses --------------------------------------------------------------------------


async def test_warehouses_geocoded_from_city(db):
    report = await import_file("warehouses", DATA / "warehouses.csv")
    assert report.created == 3, report.summary_zh()
    hz = await Warehouse.get(code="HZ01")
    assert (hz.lat, hz.lon, hz.cutoff, hz.province) == (30.29, 120.01, "16:30", "浙江")
    nb = await Warehouse.get(code="NB01")
    assert nb.kind == "physical"
    assert nb.province == "浙江"
    assert nb.lat == pytest.approx(29.86, abs=0.1)
    assert nb.lon == pytest.approx(121.62, abs=0.1)
    sup = await Warehouse.get(code="SUP01")
    assert (sup.kind, sup.province, sup.cutoff) == ("virtual", "上海", "16:00")


async def test_warehouse_xlsx_time_cell_and_rejections(db, tmp_path):
    path = write_xlsx(tmp_path / "w.xlsx", [
        ["仓编码", "仓库名称", "类型", "城市", "地址", "纬度", "经度", "截单时间"],
        ["HZ01", "杭州仓", "实体", "杭州", "", None, None, time(16, 30)],   # row 2 ok
        ["X1", "坏类型", "冷库", "杭州", "", None, None, "16:00"],          # row 3
        ["X2", "坏截单", "实体", "杭州", "", None, None, "25:00"],          # row 4
        ["X3", "经纬颠倒", "实体", "杭州", "", 120.1, 30.2, "16:00"],       # row 5
        ["X4", "火星仓", "实体", "火星", "", None, None, "16:00"],          # row 6
        ["X5", "只有纬度", "实体", "杭州", "", 30.2, None, "16:00"],        # row 7
    ])
    report = await import_file("warehouses", path)
    assert {(e.row, e.field) for e in report.rejected} == {
        (3, "kind"), (4, "cutoff"), (5, "lat"), (6, "city"), (7, "lat")}
    errors = errors_by_row(report)
    assert errors[3] == ["仓库类型“冷库”无效，应为 physical/virtual（实体/虚拟）"]
    assert errors[4] == ["截单时间“25:00”无效，应为 HH:MM（如 16:30）"]
    assert "超出" in errors[5][0] or "无效" in errors[5][0]
    assert errors[6] == ["城市“火星”无法识别"]
    report = await import_file("warehouses", path, partial=True)
    assert report.created == 1
    assert (await Warehouse.get(code="HZ01")).cutoff == "16:30"


# --- stock -------------------------------------------------------------------------------


async def test_stock_with_warehouse_column(db):
    await seed_master_data()
    report = await import_file("stock", DATA / "stock_zh.csv")
    assert report.created == 3
    assert report.written
    row = await Stock.get(warehouse__code="HZ01", product__sku="BRK00001")
    assert (row.on_hand, row.reserved, row.safety_stock) == (120, 0, 10)


async def test_stock_with_warehouse_option(db, tmp_path):
    await seed_master_data()
    path = write_csv(tmp_path / "s.csv", [["商品编码", "可用库存"], ["BRK00001", "7"],
                                          ["OIL00012", "1,200"]])
    report = await import_file("stock", path, warehouse="NB01")
    assert report.created == 2
    oil = await Stock.get(warehouse__code="NB01", product__sku="OIL00012")
    assert oil.on_hand == 1200
    with pytest.raises(ImportFileError, match="仓编码 NOPE 不存在"):
        await import_file("stock", path, warehouse="NOPE")
    with pytest.raises(ImportFileError, match="--warehouse"):
        await import_file("stock", path)


async def test_stock_rejections(db, tmp_path):
    await seed_master_data()
    path = write_csv(tmp_path / "s.csv", [
        ["warehouse", "sku", "on_hand"],
        ["HZ01", "BRK00001", "10"],     # row 2 ok
        ["HZ01", "BRK99999", "10"],     # row 3 unknown sku
        ["XX99", "BRK00001", "10"],     # row 4 unknown warehouse
        ["HZ01", "BRK00002", "-3"],     # row 5 negative
        ["HZ01", "OIL00012", "2.5"],    # row 6 not an integer
        ["HZ01", "BRK00001", "11"],     # row 7 duplicate of row 2
        ["NB01", "FLT00100", ""],       # row 8 missing quantity
    ])
    report = await import_file("stock", path)
    errors = errors_by_row(report)
    assert errors == {
        3: ["商品编码 BRK99999 不存在"],
        4: ["仓编码 XX99 不存在"],
        5: ["在库数量不能为负数（-3）"],
        6: ["在库数量“2.5”不是整数"],
        7: ["仓编码 HZ01 的商品编码 BRK00001 与第2行重复"],
        8: ["缺少在库数量"],
    }
    assert [e.field for e in report.rejected] == [
        "sku", "warehouse", "on_hand", "on_hand", "sku", "on_hand"]
    assert not report.written
    assert await Stock.all().count() == 0


async def test_stock_reimport_keeps_reserved(db, tmp_path):
    await seed_master_data()
    await import_file("stock", DATA / "stock_zh.csv")
    hz = await Warehouse.get(code="HZ01")
    await Stock.filter(warehouse_id=hz.id).update(reserved=30)
    path = write_csv(tmp_path / "s.csv", [["仓编码", "商品编码", "在库数量"],
                                          ["HZ01", "BRK00001", "50"],    # ok: 50 ≥ 30
                                          ["HZ01", "BRK00002", "20"]])   # below reserved 30
    report = await import_file("stock", path)
    assert [(e.row, e.field) for e in report.rejected] == [(3, "on_hand")]
    assert report.rejected[0].reason.startswith("在库数量低于已锁定数量")
    assert not report.written
    report = await import_file("stock", path, partial=True)
    assert (report.created, report.updated) == (0, 1)
    assert await Stock.all().count() == 3
    row = await Stock.get(warehouse__code="HZ01", product__sku="BRK00001")
    assert (row.on_hand, row.reserved, row.safety_stock) == (50, 30, 10)  # no safety column
    other = await Stock.get(warehouse__code="HZ01", product__sku="BRK00002")
    assert (other.on_hand, other.reserved) == (40, 30)


async def test_stock_file_warehouse_must_match_option(db, tmp_path):
    await seed_master_data()
    path = write_csv(tmp_path / "s.csv", [["仓编码", "商品编码", "在库数量"],
                                          ["HZ01", "BRK00001", "5"], ["", "BRK00002", "6"]])
    report = await import_file("stock", path, warehouse="NB01")
    assert [(e.row, e.field) for e in report.rejected] == [(2, "warehouse")]
    assert report.accepted == 1


# --- staff -------------------------------------------------------------------------------


async def test_staff_chinese_roles_and_update(db, tmp_path):
    report = await import_file("staff", DATA / "staff_zh.csv")
    assert report.created == 3
    assert (await Staff.get(userid="lisi")).role == Role.manager
    wangwu = await Staff.get(userid="wangwu")
    assert (wangwu.role, wangwu.mobile, wangwu.group_chat) == (Role.warehouse, "0571-88886666",
                                                               "wrOgBBBB")
    path = write_csv(tmp_path / "s.csv", [["userid", "name", "role"], ["lisi", "李四", "财务"]])
    report = await import_file("staff", path)
    assert report.updated == 1
    assert await Staff.all().count() == 3
    assert (await Staff.get(userid="lisi")).role == Role.finance


async def test_staff_rejections(db, tmp_path):
    path = write_csv(tmp_path / "s.csv", [
        ["userid", "name", "role", "mobile"],
        ["a", "甲", "销售", "139 0000 1111"],  # row 2 ok, spaces dropped
        ["b", "乙", "老板", ""],               # row 3 bad role
        ["c", "丙", "admin", "1390000"],       # row 4 bad mobile
        ["", "丁", "sales", ""],               # row 5 missing userid
    ])
    report = await import_file("staff", path, partial=True)
    assert {(e.row, e.field) for e in report.rejected} == {
        (3, "role"), (4, "mobile"), (5, "userid")}
    assert errors_by_row(report)[3][0].startswith("角色“老板”无效")
    assert (await Staff.get(userid="a")).mobile == "13900001111"


# --- reading -----------------------------------------------------------------------------


def test_excel_rows_keep_spreadsheet_numbers(tmp_path):
    path = write_xlsx(tmp_path / "r.xlsx", [["a", "b"], [1, 2.0], [None, None], ["x", " y "]])
    assert list(excel.iter_rows(path)) == [(2, {"a": "1", "b": "2"}), (4, {"a": "x", "b": "y"})]


def test_map_header_accepts_aliases():
    mapping = map_header("stock", ["仓编码", "SKU", "可用库存"])
    assert mapping == {"仓编码": "warehouse", "SKU": "sku", "可用库存": "on_hand"}
    mapping = map_header("stock", ["sku", "On_Hand"], has_default_warehouse=True)
    assert mapping["On_Hand"] == "on_hand"


def test_utf16_tab_separated_text(tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_bytes("sku\tname\nB1\t刹车片\n".encode("utf-16"))
    assert list(excel.iter_rows(path)) == [(2, {"sku": "B1", "name": "刹车片"})]


def test_imprecise_big_number_is_not_passed_off_as_digits(tmp_path):
    # Excel keeps 15 significant digits: a 19-digit account typed as a number is damaged.
    path = write_xlsx(tmp_path / "n.xlsx", [["account"], [6.222021234567890e18], [12.0]])
    assert [cells["account"] for _, cells in excel.iter_rows(path)] == ["6.22202123456789e+18",
                                                                         "12"]


async def test_an_erp_export_s_header_words_are_understood(db, tmp_path):
    """物料编码 / 物料名称 / 物料分类 / 计量单位 / 销售单价: a 金蝶 or 用友 export, as it is."""
    path = write_csv(tmp_path / "erp.csv", [
        ["物料编码", "物料名称", "规格型号", "物料分类", "品牌", "计量单位", "销售单价",
         "适用车系"],
        ["VAR-H6-70", "瓦尔塔 蓄电池", "H6-70 70Ah", "蓄电池", "瓦尔塔", "块", "560.00", "通用"],
        ["MAN-W712", "曼牌 机油滤清器 W712/75", "w712/75", "滤清器", "曼牌", "个", "32", "朗逸"],
    ])
    report = await import_file("products", path)
    assert report.created == 2
    p = await Product.get(sku="VAR-H6-70")
    # the 规格型号 column becomes part of the name (the parser and the cards read names)
    assert (p.name, p.category, p.unit, str(p.price)) == (
        "瓦尔塔 蓄电池 H6-70 70Ah", "蓄电池", "块", "560.00")
    assert (await Product.get(sku="MAN-W712")).name == "曼牌 机油滤清器 W712/75"  # not twice
    assert map_header("stock", ["仓库编码", "存货编码", "现存量"]) == {
        "仓库编码": "warehouse", "存货编码": "sku", "现存量": "on_hand"}
