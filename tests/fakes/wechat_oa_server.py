"""A fake WeChat Official Account API: a real aiohttp server on 127.0.0.1, port 0.

What it enforces, as WeChat does (wecom.md §5.1):

* ``GET /cgi-bin/token`` checks grant_type, appid (40013) and secret (40001); tokens expire
  after `token_ttl` seconds of the fake's clock.
* ``POST /cgi-bin/message/template/send`` checks access_token (41001 missing, 40001 unknown,
  42001 expired), the follower (40003 not a follower of this account, 43101 refused),
  template_id (40037), data shape (47003) and url scheme (47003).
* ``client_msg_id``: one message per openid + client_msg_id within 10 minutes; a repeat is
  answered ok with the first msgid and counted in `suppressed` (WeChat's exact answer to a
  repeat is not documented [U]; the client treats any ok answer as delivered).
* Rate limits: a daily quota (45009, 100 000 by default) and optionally `rate` = (n, period)
  requests per sliding period (45009 too), for the benchmark's per-channel limit.

Test controls: queued faults per path (errcode, stall, garbage), `latency` for every send,
and `hold_from(n)`: from the n-th accepted send on, the message is recorded as delivered but
the answer never comes (the sender dies "between send and mark_sent"); `held` is set then.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import signal
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEDUP_WINDOW = 600.0


class Reject(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode, self.errmsg = errcode, errmsg


@dataclass
class Sent:
    """A template message WeChat accepted (one per openid + client_msg_id)."""

    openid: str
    template_id: str
    data: dict[str, str]
    url: str | None
    client_msg_id: str | None
    msgid: int
    at: float


@dataclass
class Fault:
    kind: str  # errcode | stall | garbage
    errcode: int = 0
    seconds: float = 0.0


@dataclass
class FakeWeChatOA:
    app_id: str = "wx0000000000fake01"
    secret: str = "fake-oa-secret"
    token_ttl: int = 7200
    followers: set[str] | None = None  # None: every openid follows
    refused: set[str] = field(default_factory=set)  # followers who blocked template messages
    templates: set[str] = field(default_factory=lambda: {"TPL_ORDER_STATUS"})
    daily_quota: int = 100_000
    rate: tuple[int, float] | None = None  # at most n sends per sliding period (seconds)
    latency: float = 0.0
    honour_client_msg_id: bool = True
    sent: list[Sent] = field(default_factory=list)
    suppressed: Counter[str] = field(default_factory=Counter)  # client_msg_id → repeats
    suppressed_at: dict[str, float] = field(default_factory=dict)  # client_msg_id → last repeat
    rejected: Counter[int] = field(default_factory=Counter)  # errcode → count
    url: str = ""

    def __post_init__(self) -> None:
        self._offset = 0.0
        self._tokens: dict[str, float] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._ids = itertools.count(1_000_000_001)
        self._dedup: dict[tuple[str, str], tuple[int, float]] = {}
        self._window: deque[float] = deque()
        self._day_count: Counter[int] = Counter()
        self._hold_from: int | None = None
        self._accepted = 0
        self.held = asyncio.Event()
        self.held_msgids: list[int] = []
        self._runner: web.AppRunner | None = None
        self.token_requests = 0

    # ---- lifecycle ----

    async def start(self, port: int = 0) -> FakeWeChatOA:
        app = web.Application()
        app.router.add_route("*", "/cgi-bin/{path:.+}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeWeChatOA:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- test controls ----

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def fail(self, errcode: int, times: int = 1, path: str = "message/template/send") -> None:
        self._faults.setdefault(path, deque()).extend([Fault("errcode", errcode)] * times)

    def stall(self, seconds: float, times: int = 1, path: str = "message/template/send") -> None:
        """Accept the message, but answer only after `seconds` (a client timeout)."""
        self._faults.setdefault(path, deque()).extend([Fault("stall", seconds=seconds)] * times)

    def garble(self, times: int = 1, path: str = "message/template/send") -> None:
        self._faults.setdefault(path, deque()).extend([Fault("garbage")] * times)

    def expire_tokens(self) -> None:
        for token in self._tokens:
            self._tokens[token] = self.now() - 1

    def hold_from(self, n: int | None) -> None:
        """From the n-th accepted send on, deliver but never answer (None: stop holding)."""
        self._hold_from = n

    # ---- what happened ----

    def delivered(self, openid: str | None = None) -> list[Sent]:
        return [s for s in self.sent if openid in (None, s.openid)]

    def per_client_msg_id(self) -> Counter[str | None]:
        return Counter(s.client_msg_id for s in self.sent)

    # ---- dispatch ----

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        body = await self._body(request)
        fault = self._faults.get(path)
        if fault:
            early = await self._apply(fault.popleft(), path, request.query, body)
            if early is not None:
                return early
        return await self._answer(path, request.query, body)

    async def _answer(self, path: str, query: Any, body: Any) -> web.StreamResponse:
        try:
            if path == "token":
                return _ok(self._token(query))
            if path == "message/template/send":
                self._check_token(query.get("access_token"))
                return await self._send(body)
            raise Reject(404, f"fake has no api {path}")
        except Reject as r:
            self.rejected[r.errcode] += 1
            return web.json_response({"errcode": r.errcode, "errmsg": r.errmsg})

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw

    async def _apply(self, fault: Fault, path: str, query: Any, body: Any
                     ) -> web.StreamResponse | None:
        if fault.kind == "stall":
            answer = await self._answer(path, query, body)  # delivered now, answered late
            await asyncio.sleep(fault.seconds)
            return answer
        if fault.kind == "garbage":
            return web.Response(status=502, content_type="text/html", text="<html>502</html>")
        self.rejected[fault.errcode] += 1
        return web.json_response({"errcode": fault.errcode, "errmsg": "injected"})

    # ---- endpoints ----

    def _token(self, query: Any) -> dict[str, Any]:
        self.token_requests += 1
        if query.get("grant_type") != "client_credential":
            raise Reject(40002, "invalid grant_type")
        if query.get("appid") != self.app_id:
            raise Reject(40013, "invalid appid")
        if query.get("secret") != self.secret:
            raise Reject(40001, "invalid credential, access_token is invalid or not latest")
        token = f"oa-token-{secrets.token_hex(8)}"
        self._tokens[token] = self.now() + self.token_ttl
        return {"access_token": token, "expires_in": self.token_ttl}

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise Reject(41001, "access_token missing")
        if token not in self._tokens:
            raise Reject(40001, "invalid credential, access_token is invalid or not latest")
        if self._tokens[token] <= self.now():
            raise Reject(42001, "access_token expired")

    async def _send(self, body: Any) -> web.StreamResponse:
        msg = self._validate(body)
        repeat = self._repeat(msg)
        if repeat is not None:
            return _ok({"msgid": repeat})
        self._limit()
        if self.latency:
            await asyncio.sleep(self.latency)
        sent = self._record(msg)
        if self._hold_from is not None and self._accepted >= self._hold_from:
            self.held_msgids.append(sent.msgid)
            self.held.set()
            await asyncio.Event().wait()  # never answered: the sender dies waiting
        return _ok({"msgid": sent.msgid})

    def _validate(self, body: Any) -> Sent:
        if not isinstance(body, dict):
            raise Reject(47001, "data format error")
        openid = str(body.get("touser") or "")
        if not openid or (self.followers is not None and openid not in self.followers):
            raise Reject(40003, "invalid openid")
        if openid in self.refused:
            raise Reject(43101, "user refuse to accept the msg")
        if body.get("template_id") not in self.templates:
            raise Reject(40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()):
            raise Reject(47003, "argument invalid! data.value")
        url = body.get("url")
        if url is not None and not str(url).startswith(("http://", "https://")):
            raise Reject(47003, "argument invalid! url")
        return Sent(openid, str(body["template_id"]), {k: v["value"] for k, v in data.items()},
                    url, body.get("client_msg_id"), 0, self.now())

    def _repeat(self, msg: Sent) -> int | None:
        if not (self.honour_client_msg_id and msg.client_msg_id):
            return None
        first = self._dedup.get((msg.openid, msg.client_msg_id))
        if first is None or first[1] + DEDUP_WINDOW <= self.now():
            return None
        self.suppressed[msg.client_msg_id] += 1
        self.suppressed_at[msg.client_msg_id] = msg.at
        return first[0]

    def _limit(self) -> None:
        now = self.now()
        day = int((now + 8 * 3600) // 86400)
        if self._day_count[day] >= self.daily_quota:
            raise Reject(45009, "reach max api daily quota limit")
        if self.rate is not None:
            n, period = self.rate
            while self._window and self._window[0] <= now - period:
                self._window.popleft()
            if len(self._window) >= n:
                raise Reject(45009, "api freq out of limit")
            self._window.append(now)
        self._day_count[day] += 1

    def _record(self, msg: Sent) -> Sent:
        msg.msgid = next(self._ids)
        msg.at = self.now()
        self.sent.append(msg)
        self._accepted += 1
        if msg.client_msg_id:
            self._dedup[(msg.openid, msg.client_msg_id)] = (msg.msgid, msg.at)
        return msg


def _ok(extra: dict[str, Any]) -> web.Response:
    return web.json_response({"errcode": 0, "errmsg": "ok", **extra})


async def _serve(args: argparse.Namespace) -> None:
    """Run standalone (the benchmark starts it in its own process)."""
    rate = (args.rate, args.period) if args.rate else None
    fake = FakeWeChatOA(latency=args.latency, rate=rate, daily_quota=10**9)
    await fake.start(args.port)
    print(fake.url, flush=True)  # noqa: T201 - the parent reads the URL from stdout
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    reporter = asyncio.create_task(_report(fake, args.report))
    await stop.wait()
    reporter.cancel()
    await fake.close()


async def _report(fake: FakeWeChatOA, path: str | None) -> None:
    """Every 20 ms, write the counts to `path` (JSON) for the benchmark to read."""
    while path:
        ids = fake.per_client_msg_id()
        state = {"sent": len(fake.sent), "unique": len(ids),
                 "duplicates": sum(n - 1 for n in ids.values() if n > 1),
                 "suppressed": sum(fake.suppressed.values()),
                 "rejected": {str(k): v for k, v in fake.rejected.items()},
                 "first": fake.sent[0].at if fake.sent else None,
                 "last": fake.sent[-1].at if fake.sent else None}
        with open(path + ".tmp", "w") as fh:  # noqa: ASYNC230 - tiny local file
            json.dump(state, fh)
        os.replace(path + ".tmp", path)
        await asyncio.sleep(0.02)


def main() -> None:
    p = argparse.ArgumentParser(description="fake WeChat OA API")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--rate", type=int, default=0, help="sends per period (0: unlimited)")
    p.add_argument("--period", type=float, default=1.0)
    p.add_argument("--report", help="write counts to this JSON file")
    asyncio.run(_serve(p.parse_args()))


if __name__ == "__main__":
    main()
