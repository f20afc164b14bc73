"""The catalogue snapshot reloads when an import (from any process) bumps the version."""

from bot.catalog import Catalog
from bot.imports import import_file
from storage import meta
from storage.models import Product


async def test_snapshot_reloads_only_when_the_catalog_counter_moves(world, settings, tmp_path):
    cat = Catalog(settings, check_every=0)
    await cat.fresh()
    assert "OIL00002" not in cat.products
    await Product.create(sku="OIL00002", name="壳牌 喜力 5W-40 4L", category="OIL", price=199)
    await cat.fresh()
    assert "OIL00002" not in cat.products  # written behind its back: no version bump
    csv = tmp_path / "p.csv"
    csv.write_text("商品编码,商品名称,品类,品牌,单位,单价\n"
                   "OIL00003,嘉实多 极护 0W-20 4L,OIL,嘉实多,桶,329\n", encoding="utf-8")
    report = await import_file("products", csv)
    assert report.written and await meta.value(meta.CATALOG) == 1
    await cat.fresh()
    assert {"OIL00002", "OIL00003"} <= set(cat.products)
    assert cat.products["OIL00003"].price == 329
