"""Fakes of outside systems: real aiohttp servers on 127.0.0.1, port 0, speaking the real wire.

`FakeCarrierServer` is what the carrier fakes share: it records every request and can be
told to misbehave (`fail(...)`): a business error or a rate limit in the carrier's own
shape (after the signature check), a 5xx, a garbage body, or a slow reply.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

from aiohttp import web

from integrations.carriers.base import (
    CarrierBadResponse,
    CarrierBusinessError,
    CarrierError,
    CarrierRateLimited,
    CarrierTimeout,
    CarrierUnavailable,
)

FAULTS = ("business", "rate_limit", "server_error", "garbage", "slow")
# What each fault must become in every carrier client (tests/integrations/test_carriers_*).
FAULT_ERRORS: dict[str, type[CarrierError]] = {
    "slow": CarrierTimeout, "server_error": CarrierUnavailable, "garbage": CarrierBadResponse,
    "business": CarrierBusinessError, "rate_limit": CarrierRateLimited,
}
GARBAGE = "<html><head><title>502</title></head><body>系统维护中，请稍后再试</body></html>"
T = TypeVar("T")
FAULT = web.RequestKey("lvyue_fault", str)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return form_fields(self.body)

    def json(self) -> Any:
        return json.loads(self.body)


def form_fields(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode("utf-8")


def json_reply(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(obj, ensure_ascii=False),
                        content_type="application/json", charset="utf-8")


def out_of_order_with_duplicates(items: Sequence[T]) -> list[T]:
    """A delivery order seen in real sandboxes: newest first, the rest late, some twice."""
    if len(items) < 2:
        return list(items) * 2
    return [items[-1], *items[:-1], items[-1], items[0]]


class FakeCarrierServer:
    """Recording, fault-injecting base; subclasses add routes and the carrier's replies."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.slow_seconds = 2.0  # well past the tests' client timeouts (1 s)
        self.drip_seconds = 60.0  # "drip": how long the body keeps coming, and how slowly
        self.drip_every = 0.5
        self.now: Callable[[], float] = time.time
        self.base_url = ""
        self._fault: str | None = None
        self._fault_times: int | None = None

    def fail(self, fault: str | None, times: int | None = None) -> None:
        """Misbehave on the next `times` requests (None: until told otherwise)."""
        if fault is not None and fault not in (*FAULTS, "drip"):
            raise ValueError(f"unknown fault {fault!r}")
        self._fault, self._fault_times = fault, times

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.add_routes(app)
        return app

    async def start(self, aiohttp_server: Callable[[web.Application], Awaitable[Any]]) -> str:
        server = await aiohttp_server(self.app())
        self.base_url = str(server.make_url("")).rstrip("/")
        return self.base_url

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        end = loop.time() + self.drip_seconds
        try:
            while loop.time() < end:
                await resp.write(b" ")
                await asyncio.sleep(self.drip_every)
        except ConnectionResetError:
            return resp  # the client gave up: what the deadline is for
        return resp

    def _take_fault(self) -> str | None:
        fault = self._fault
        if fault is not None and self._fault_times is not None:
            self._fault_times -= 1
            if self._fault_times <= 0:
                self._fault, self._fault_times = None, None
        return fault

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        fault = self._take_fault()
        if fault == "drip":  # headers at once, then a byte every drip_every s: no read times out
            return await self._drip(request)
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        elif fault == "server_error":
            return web.Response(status=502, text=GARBAGE, content_type="text/html")
        elif fault == "garbage":
            return web.Response(status=200, text=GARBAGE, content_type="text/html")
        if fault is not None:
            request[FAULT] = fault
        return await handler(request)


def forced(request: web.Request) -> str | None:
    """The business/rate-limit fault a handler must answer after checking the signature."""
    fault = request.get(FAULT)
    return fault if fault in ("business", "rate_limit") else None


def waybill_request(order_no: str = "SO202603010001", seq: int = 1,
                    monthly_card: str | None = None) -> Any:
    """A realistic shipment: Hangzhou warehouse → a repair shop in Shanghai."""
    from integrations.carriers.base import Party, WaybillRequest

    sender = Party("杭州仓", "0571-88886666", "浙江省", "杭州市", "余杭区", "仓前街道文一西路1号",
                   company="绿约汽配")
    receiver = Party("王师傅", "13800000001", "上海市", "上海市", "闵行区", "申贵路1500号",
                     company="闵行恒通汽修厂")
    return WaybillRequest(order_no, seq, sender, receiver, parcel_count=2, weight_kg=12.5,
                          description="汽车配件（刹车片）", monthly_card=monthly_card)
