from storage.models import Warehouse


async def test_database_is_fresh_and_writable(db):
    assert await Warehouse.all().count() == 0
    await Warehouse.create(code="HZ01", name="杭州仓")
    assert await Warehouse.filter(code="HZ01").count() == 1
