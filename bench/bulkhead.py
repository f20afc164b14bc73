"""Bulkhead bench: chat reply latency while 100 ships hang on a carrier that drips bytes.

    python bench/bulkhead.py [--ships 100] [--chats 20] [--deadline 15]

In one process, on a fresh SQLite file: the fake WeCom API and a fake SF that checks SF's
signature and then drips its answer (headers at once, one byte every 0.5 s: httpx's per-read
timeout never fires); the app is built with WeCom and SF keys pointing at them. It places
and confirms `--ships` orders, starts shipping all of them at once (each hangs on SF), and
while they hang sends `--chats` 帮助 through the real encrypted callback one after another,
timing each from the POST until the fake WeCom has the reply. Prints the latencies, how many
ships were still hanging when the last reply arrived, and how the ships ended (held with a
timeout after `--deadline` s, the carrier bulkhead's total deadline).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot import config  # noqa: E402
from bot.app import build  # noqa: E402
from bot.config import Secret  # noqa: E402
from bot.ordering import LineInput, PlaceOrder  # noqa: E402
from handlers.keys import SERVICE, SHIPPING  # noqa: E402
from integrations.http import DEFAULTS, Bulkhead, Pools  # noqa: E402
from storage import db  # noqa: E402
from storage.models import Customer, Product, Staff, Stock, Warehouse  # noqa: E402
from tests.fakes.sf_server import FakeSf  # noqa: E402
from tests.fakes.wecom_server import FakeWeCom  # noqa: E402
from tests.handlers.test_wecom_callback import AES, TOKEN, envelope, text_xml  # noqa: E402


async def _world() -> None:
    wh = await Warehouse.create(code="HZ01", name="杭州仓", kind="physical", city="杭州",
                                province="浙江", lat=30.2741, lon=120.1551, cutoff="16:00",
                                address="余杭区仓前街道文一西路1号")
    p = await Product.create(sku="OIL00001", name="美孚 速霸2000 全合成机油 5W-30 4L",
                             category="OIL", price=Decimal("268.00"))
    await Stock.create(warehouse=wh, product=p, on_hand=100000)
    await Customer.create(code="C0001", name="杭州西湖恒通汽修厂", credit_limit=Decimal(10**9),
                          contact="王师傅", phone="13800000001",
                          address="浙江省杭州市西湖区文三路100号", invoice_type="普票")
    await Staff.create(userid="zhangwei", name="张伟", role="sales")
    await Staff.create(userid="zhouqiang", name="周强", role="warehouse", mobile="15888460192")


async def _server(app: Any) -> TestServer:
    server = TestServer(app)
    await server.start_server()
    return server


async def run(args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp(prefix="lvyue-bulkhead-")
    async with FakeWeCom() as wecom:
        sf = FakeSf()
        sf_server = await _server(sf.app())
        sf.base_url = str(sf_server.make_url("")).rstrip("/")
        sf.drip_every, sf.drip_seconds = 0.5, args.deadline + 5
        env = {"WECOM_CORP_ID": wecom.corp_id, "WECOM_AGENT_ID": str(wecom.agent_id),
               "WECOM_SECRET": wecom.secret, "WECOM_TOKEN": TOKEN, "WECOM_AES_KEY": AES,
               "WECOM_API_BASE": wecom.url, "SF_PARTNER_ID": sf.partner_id,
               "SF_CHECKWORD": sf.checkword, "SF_API_BASE": sf.base_url}
        settings = replace(config.defaults(), db_url=f"sqlite://{tmp}/bench.db",
                           env={k: Secret(v) for k, v in env.items()})
        await db.init(settings.db_url)
        await _world()
        pools = Pools({**DEFAULTS, "carrier": Bulkhead(16, args.deadline)})
        client = TestClient(TestServer(build(settings, manage_db=False, pools=pools)))
        await client.start_server()
        try:
            await _bench(client, wecom, sf, args)
        finally:
            await client.close()
            await sf_server.close()
            await db.close()


async def _reply(client: TestClient, wecom: FakeWeCom, user: str, msg_id: int) -> float:
    before = len(wecom.delivered(user))
    fake = wecom
    body, query = envelope(fake, text_xml(fake, user, "帮助", msg_id))
    start = time.perf_counter()
    resp = await client.post("/wecom/callback", params=query, data=body)
    assert resp.status == 200
    while len(wecom.delivered(user)) == before:  # noqa: ASYNC110 (the fake has no event)
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


async def _bench(client: TestClient, wecom: FakeWeCom, sf: FakeSf,
                 args: argparse.Namespace) -> None:
    app = client.server.app
    service = app[SERVICE]
    # One user per message: the fake WeCom allows 30 messages a minute per member.
    await _reply(client, wecom, "warmup", 1)  # warm-up: access token, catalogue
    quiet = [await _reply(client, wecom, f"q{i}", 100 + i) for i in range(args.chats)]
    nos = []
    for _ in range(args.ships):
        out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 1)]))
        await service.confirm(out.order.no)
        nos.append(out.order.no)
    sf.fail("drip")
    started = time.perf_counter()
    ships = [asyncio.create_task(app[SHIPPING].ship(no, "wh")) for no in nos]
    while len(sf.received) < 16:  # noqa: ASYNC110 (the carrier's pool fills up)
        await asyncio.sleep(0.01)
    loaded = [await _reply(client, wecom, f"l{i}", 1000 + i) for i in range(args.chats)]
    hanging = sum(not t.done() for t in ships)
    results = await asyncio.gather(*ships)
    ended = time.perf_counter() - started
    held = sum(1 for r in results if r.held and "超时" in r.held[0].reason)
    print(f"chat reply (帮助 → fake WeCom), no ships:        {_figures(quiet)}", flush=True)
    print(f"chat reply with {args.ships} ships hanging on SF: {_figures(loaded)}", flush=True)
    print(f"ships still hanging after the last reply: {hanging}/{args.ships}", flush=True)
    print(f"ships ended after {ended:.1f} s; held with a timeout: {held}/{args.ships} "
          f"(carrier deadline {args.deadline:g} s, 16 in flight)")


def _figures(xs: list[float]) -> str:
    ms = sorted(x * 1000 for x in xs)
    return (f"median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms "
            f"({len(ms)} replies)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ships", type=int, default=100)
    p.add_argument("--chats", type=int, default=20)
    p.add_argument("--deadline", type=float, default=15.0,
                   help="the carrier bulkhead's total deadline (default 15 s, as served)")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
