"""The carriers tables follow the configuration."""

from dataclasses import replace

from storage import carriers
from storage.models import Carrier, CarrierCoverage


async def test_sync_upserts_configured_carriers_and_disables_the_rest(db, settings):
    await Carrier.create(code="ems", name="邮政EMS")
    await carriers.sync(settings.carriers, live={"sf"})
    rows = {c.code: c for c in await Carrier.all()}
    assert rows["sf"].enabled and not rows["sf"].sandbox
    assert rows["zto"].enabled and rows["zto"].sandbox
    assert not rows["ems"].enabled
    zto = await CarrierCoverage.filter(carrier_id=rows["zto"].id).values_list("place", "excluded")
    assert ("*", False) in zto and ("西藏", True) in zto
    fewer = {"jd": replace(settings.carriers["jd"], coverage=("上海",), exclude=())}
    await carriers.sync(fewer, live=set())
    jd = await CarrierCoverage.filter(carrier__code="jd").values_list("place", flat=True)
    assert list(jd) == ["上海"]
    assert not (await Carrier.get(code="sf")).enabled
