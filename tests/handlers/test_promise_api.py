"""POST /api/promise: a draft's shipments and gates for any moment, keeping nothing."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from bot.app import build
from bot.config import Settings
from bot.domain import eta
from bot.domain.allocation import Destination
from bot.domain.coverage import transit_hours
from tests.conftest import bearer, issue_key
from tests.handlers.test_api import HAPPY, ISO_CST, assert_problem, call, footprint, place

CST = eta.CST


def next_weekday(iso: int) -> date:
    day = datetime.now(CST).date() + timedelta(days=1)
    while day.isoweekday() != iso:
        day += timedelta(days=1)
    return day


@pytest.fixture
async def client(world: dict[str, Any], settings: Settings, aiohttp_client: Any):
    key = await issue_key("lina", "sales")
    return await aiohttp_client(build(settings, manage_db=False), headers=bearer(key))


async def test_a_quote_after_the_cutoff_leaves_the_next_day_and_keeps_nothing(client, settings):
    before = await footprint()
    tuesday = next_weekday(2)
    early = await call(client, "POST", "/api/promise",
                       {**HAPPY, "at": f"{tuesday}T10:00:00+08:00"})
    late = await call(client, "POST", "/api/promise",
                      {**HAPPY, "at": f"{tuesday}T18:30:00+08:00"})
    assert early.status == late.status == 200, (early.body, late.body)
    assert await footprint() == before
    assert [(g["code"], g["ok"]) for g in late.body["gates"]] == [
        (g, True) for g in ("customer", "credit", "stock", "coverage", "invoice")]
    hz = {s["warehouse"]: s for s in late.body["shipments"]}["HZ01"]
    assert hz["lines"] == [{"sku": "FLT00001", "qty": 10}] and ISO_CST.match(hz["promised_at"])
    # HZ01's cut-off is 16:00: confirmed at 18:30 it leaves Wednesday at the cut-off.
    hours = transit_hours(settings.carriers[hz["carrier"]], _hz(), Destination("浙江", "杭州"),
                          settings.regions)
    at = datetime.combine(tuesday, time(18, 30), CST)
    assert datetime.fromisoformat(hz["promised_at"]) == eta.promise(
        at, time(16), hours, settings.promise)
    early_hz = {s["warehouse"]: s for s in early.body["shipments"]}["HZ01"]
    assert early_hz["promised_at"] < hz["promised_at"]
    assert late.body["promised_at"] == max(s["promised_at"] for s in late.body["shipments"])
    # The same body placed now gets the same shipments as the quote for now.
    now_quote = await call(client, "POST", "/api/promise", HAPPY)
    placed = await place(client, HAPPY)
    assert {s["warehouse"]: s["lines"] for s in now_quote.body["shipments"]} == {
        s["warehouse"]: s["lines"] for s in placed.body["shipments"]}


async def test_failed_gates_are_answered_not_refused_and_bad_at_is_a_field_error(client):
    ans = await call(client, "POST", "/api/promise", {**HAPPY, "customer": "C9999"})
    assert ans.status == 200
    failed = [g["code"] for g in ans.body["gates"] if not g["ok"]]
    assert failed[0] == "customer" and ans.body["shipments"] == []  # no address to ship to
    bad = await call(client, "POST", "/api/promise", {**HAPPY, "at": "明天上午"})
    assert_problem(bad, 422, fields=["at"])
    naive = await call(client, "POST", "/api/promise", {**HAPPY, "at": "2026-12-08T10:00"})
    assert_problem(naive, 422, fields=["at"])


async def test_warehouse_role_may_not_quote(world, settings, aiohttp_client):
    key = await issue_key("wang", "warehouse")
    cli = await aiohttp_client(build(settings, manage_db=False), headers=bearer(key))
    ans = await call(cli, "POST", "/api/promise", HAPPY)
    assert ans.status == 403


def _hz():
    from bot.domain.allocation import WarehouseInfo
    return WarehouseInfo("HZ01", "杭州仓", "physical", "浙江", "杭州", None, None, time(16))
