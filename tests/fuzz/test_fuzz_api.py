"""Property-based fuzzing of /api with requests schemathesis generates from docs/openapi.yaml
(valid and invalid ones), on SQLite and PostgreSQL: never a 5xx, every refusal is
problem+json with a documented status, and a refused request writes nothing."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from bot.app import build
from bot.config import Settings
from tests.conftest import bearer, issue_key
from tests.fuzz.budget import budget
from tests.handlers.test_api import footprint, order

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(DOCS)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
PROBLEM = "application/problem+json"
REFUSED = {400, 401, 403, 404, 405, 413, 415, 422, 429}


@cache
def requests(real_orders: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Every operation in both modes, and the {no} routes also on orders that exist."""
    out = []
    for op in OPERATIONS:
        for mode in GenerationMode:
            out.append(op.as_strategy(generation_mode=mode))
            if "{no}" in op.path:
                out.extend(op.as_strategy(generation_mode=mode, path_parameters={"no": no})
                           for no in real_orders)
    return st.one_of(out)


@pytest.fixture
async def fuzzed(world: dict[str, Any], settings: Settings,
                 aiohttp_client: Any) -> tuple[TestClient, tuple[str, ...]]:
    client = await aiohttp_client(build(settings, manage_db=False),
                                  headers=bearer(await issue_key("lina", "manager")))
    nos = []
    for qty in (1, 2, 3):
        async with client.post("/api/orders", json=order("C0001", ("FLT00001", qty))) as r:
            assert r.status == 201
            nos.append((await r.json())["no"])
    return client, tuple(nos)


def _documented(case: Any, status: int) -> bool:
    # A path parameter the router cannot match at all (e.g. an encoded "/") is a 404/405.
    return str(status) in case.operation.definition.raw["responses"] or status in (404, 405)


@budget(150)
@given(data=st.data())
async def test_generated_requests_never_fail_the_server(fuzzed, data):
    client, real = fuzzed
    case = data.draw(requests(real), label="request")
    kwargs: dict[str, Any] = {"params": case.query or None}
    if case.body is not None and not isinstance(case.body, schemathesis.core.NotSet):
        body = case.body  # JSON values, or raw bytes (invalid mode)
        kwargs["data"] = body if isinstance(body, bytes) else json.dumps(body).encode()
        kwargs["headers"] = {"Content-Type": "application/json"}
    before = await footprint()

    async with client.request(case.method, case.formatted_path, **kwargs) as resp:
        raw = await resp.read()
        status, ctype = resp.status, resp.content_type

    assert status < 500, (case.method, case.formatted_path, case.body, raw[:500])
    assert _documented(case, status), (status, case.method, case.path)
    if status >= 400:
        assert ctype == PROBLEM, (status, ctype, raw[:300])
        assert json.loads(raw)["errors"], raw[:300]
    if status in REFUSED:
        assert await footprint() == before, (status, case.method, case.formatted_path,
                                             case.body)
