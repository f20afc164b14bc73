"""A dispatcher process for the kill -9 test and the benchmark: delivers the outbox of
`--db` to a 公众号 API at `--oa` until SIGTERM (or until killed).

    python -m tests.messages.outbox_worker --db URL --oa http://127.0.0.1:PORT \
        [--worker ID] [--lease 60] [--concurrency 16] [--rate 1000] [--period 1]

Prints ``ready`` once connected, and the dispatcher's counters when stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal

import httpx

from integrations.wechat_oa import WeChatOAClient
from messages.channels import WeChatOAChannel
from messages.outbox import ChannelLimit, OutboxDispatcher
from messages.render import load
from storage import db as storage_db

APP_ID, SECRET, TEMPLATE = "wx0000000000fake01", "fake-oa-secret", "TPL_ORDER_STATUS"


async def run(args: argparse.Namespace) -> None:
    await storage_db.init(args.db, create=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    limits = httpx.Limits(max_connections=args.concurrency * 2,
                          max_keepalive_connections=args.concurrency * 2)
    async with httpx.AsyncClient(limits=limits) as http:
        client = WeChatOAClient(http, args.oa, APP_ID, SECRET)
        channel = WeChatOAChannel(client, {"default": TEMPLATE})
        dispatcher = OutboxDispatcher(
            {"wechat_oa": channel}, None, args.worker, renderer=load(), quiet=None,
            lease_seconds=args.lease,
            limits={"wechat_oa": ChannelLimit(args.rate, args.period, args.concurrency)})
        print("ready", flush=True)  # noqa: T201
        await dispatcher.run_forever(stop, idle=0.2)
    await storage_db.close()
    print(json.dumps(dict(dispatcher.stats)), flush=True)  # noqa: T201


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--oa", required=True)
    p.add_argument("--worker", default="worker-1")
    p.add_argument("--lease", type=float, default=60.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=int, default=1000)
    p.add_argument("--period", type=float, default=1.0)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
