"""Bulkheads and deadlines for every outside call.

Each outside system (WeCom, the 公众号 API, each carrier provider) gets its own
`httpx.AsyncClient`, with its own connection pool and a concurrency limit, so a slow carrier
can hold only its own connections and delay only its own shipments, never a chat reply.
Every request through such a client has a *total* deadline (`asyncio.timeout` around
queueing for a slot, connecting, sending, the answer's headers and its whole body): httpx's
own timeout is per read, and a server that drips a byte every few seconds never trips it.
A request past its deadline raises DeadlineExceeded, an `httpx.ReadTimeout` (or NeverSent,
an `httpx.PoolTimeout`, when it never got a slot, so the callers know it was not sent), both
carrying the deadline; the clients map those as they map any timeout (CarrierTimeout,
WeCom's "maybe delivered"). The concurrency and deadline of each system are settings
(`[http.X]` in the config, bot/defaults.toml).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bulkhead:
    """One outside system's share: requests in flight and a total deadline per request."""

    concurrency: int
    deadline_s: float


# Chosen under what the systems ask: WeCom wants chat replies fast (a reply that cannot go
# out in 5 s goes to the outbox); 公众号 template messages are one short call; carriers may
# be slow to issue a waybill but 15 s means something is wrong (the shipment is held and
# retried by the back-off policy, the carrier's order id keeps it idempotent).
DEFAULTS: Mapping[str, Bulkhead] = {
    "wecom": Bulkhead(concurrency=32, deadline_s=5.0),
    "notify": Bulkhead(concurrency=16, deadline_s=10.0),
    "carrier": Bulkhead(concurrency=16, deadline_s=15.0),
}


class DeadlineTransport(httpx.AsyncBaseTransport):
    """At most `concurrency` requests at once, each done (body read) within `deadline_s`."""

    def __init__(self, name: str, bulkhead: Bulkhead,
                 inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.bulkhead = bulkhead
        self._inner = inner or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=bulkhead.concurrency,
                                max_keepalive_connections=bulkhead.concurrency))
        self._slots = asyncio.Semaphore(bulkhead.concurrency)
        self.in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        seconds = self.bulkhead.deadline_s
        sent = False
        try:
            async with asyncio.timeout(seconds):
                async with self._slots:
                    sent = True
                    self.in_flight += 1
                    try:
                        return await self._whole(request)
                    finally:
                        self.in_flight -= 1
        except TimeoutError:
            what = f"{self.name}: no answer within the {seconds:g} s deadline"
            if not sent:
                raise NeverSent(what + " (never sent: all slots busy)", request=request,
                                deadline_s=seconds) from None
            raise DeadlineExceeded(what, request=request, deadline_s=seconds) from None

    async def _whole(self, request: httpx.Request) -> httpx.Response:
        resp = await self._inner.handle_async_request(request)
        try:
            content = b"".join([chunk async for chunk in resp.stream])  # type: ignore[union-attr]
        finally:
            await resp.aclose()
        return httpx.Response(resp.status_code, headers=resp.headers, content=content,
                              request=request, extensions=resp.extensions)

    async def aclose(self) -> None:
        await self._inner.aclose()


class DeadlineExceeded(httpx.ReadTimeout):
    """Sent, but the whole answer did not come within the bulkhead's deadline."""

    def __init__(self, message: str, *, request: httpx.Request, deadline_s: float) -> None:
        super().__init__(message, request=request)
        self.deadline_s = deadline_s


class NeverSent(httpx.PoolTimeout):
    """Not sent: every slot of the bulkhead stayed busy until the deadline."""

    def __init__(self, message: str, *, request: httpx.Request, deadline_s: float) -> None:
        super().__init__(message, request=request)
        self.deadline_s = deadline_s


class Pools:
    """The HTTP clients of one running application, one per outside system, made on demand."""

    def __init__(self, bulkheads: Mapping[str, Bulkhead] = DEFAULTS) -> None:
        self.bulkheads = dict(bulkheads)
        self.clients: dict[str, httpx.AsyncClient] = {}

    def get(self, name: str) -> httpx.AsyncClient:
        """`wecom`, `notify`, or a carrier provider (`sf`, `zto`, `jd`, `kuaidi100`)."""
        client = self.clients.get(name)
        if client is None:
            bulkhead = self.bulkheads.get(name) or self.bulkheads["carrier"]
            transport = DeadlineTransport(name, bulkhead)
            # httpx's own timeout stays as a per-read backstop; the deadline is the transport's.
            client = httpx.AsyncClient(transport=transport, timeout=bulkhead.deadline_s)
            self.clients[name] = client
            log.info("http: %s gets its own pool (%d in flight, %g s deadline)", name,
                     bulkhead.concurrency, bulkhead.deadline_s)
        return client

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
