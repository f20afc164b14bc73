"""The operator's view of the outbox: what is pending, sent, dead (with reasons), and retry.

Used by the console (`snapshot`, `retry` as JSON) and from the command line::

    python -m messages.outbox_admin [--db URL] [--config FILE] status
    python -m messages.outbox_admin [--db URL] list dead [--limit 20] [--channel wechat_oa]
    python -m messages.outbox_admin [--db URL] retry 42 [43 …]
    python -m messages.outbox_admin [--db URL] retry --all-dead [--channel wechat_oa]

The database is `--db`, else the configuration's (LVYUE_DB, config.toml, default).

(`bot.py outbox …` can delegate to `main(argv)`.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from bot import config
from messages.facts import fmt_time
from storage import db as storage_db
from storage import outbox
from storage.outbox_models import OutboxNotification, OutboxStatus

STATUS_ZH = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "dead": "失败"}


def row_json(r: OutboxNotification) -> dict[str, Any]:
    """One row for the console (JSON-able)."""
    due = r.next_attempt_ms
    return {
        "id": r.id, "status": r.status.value, "status_zh": STATUS_ZH[r.status.value],
        "event": r.event, "channel": r.channel, "recipient": r.recipient,
        "template": r.template, "order_no": r.order_no, "attempts": r.attempts,
        "next_attempt_at": _iso(datetime.fromtimestamp(due / 1000, UTC)) if due else None,
        "sent_at": _iso(r.sent_at), "created_at": _iso(r.created_at),
        "error": r.last_error, "text": r.rendered, "remote_id": r.remote_id,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at else None


async def snapshot(limit: int = 50, status: str | None = None) -> dict[str, Any]:
    """Counts per status and the newest rows (of one status)."""
    rows = await outbox.list_rows(status, limit)
    return {"counts": await outbox.counts(), "rows": [row_json(r) for r in rows]}


async def retry(ids: Sequence[int]) -> dict[int, bool]:
    """Retry dead letters by id; per id, whether it was dead (and now is pending)."""
    return {i: await outbox.retry_dead(i) for i in ids}


# ---- command line ----------------------------------------------------------------------

def _line(r: OutboxNotification) -> str:
    when = fmt_time(r.sent_at) if r.sent_at else ""
    error = f"  原因：{r.last_error}" if r.last_error and r.status != OutboxStatus.sent else ""
    return (f"#{r.id:<6} {STATUS_ZH[r.status.value]:<4} {r.template:<28} "
            f"{r.channel}:{r.recipient}  {r.order_no or ''}  尝试{r.attempts}次 {when}{error}")


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "status":
        counts = await outbox.counts()
        out.write("  ".join(f"{STATUS_ZH[k]} {v}" for k, v in counts.items()) + "\n")
    elif args.command == "list":
        rows = await outbox.list_rows(args.status, args.limit, channel=args.channel)
        out.writelines(_line(r) + "\n" for r in rows)
    elif args.all_dead:
        out.write(f"重新发送 {await outbox.retry_all_dead(channel=args.channel)} 条失败通知\n")
    else:
        result = await retry(args.ids)
        for i, ok in result.items():
            out.write(f"#{i} {'已重新排队' if ok else '不是失败状态，未处理'}\n")
        return 0 if all(result.values()) else 1
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="outbox", description="通知发件箱：查看与重发")
    p.add_argument("--db", help="database URL (default: from the configuration)")
    p.add_argument("--config", help="config.toml (default: ./config.toml when present)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="各状态数量")
    ls = sub.add_parser("list", help="最近的通知")
    ls.add_argument("status", nargs="?", choices=[s.value for s in OutboxStatus])
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--channel")
    rt = sub.add_parser("retry", help="重发失败（死信）通知")
    rt.add_argument("ids", nargs="*", type=int)
    rt.add_argument("--all-dead", action="store_true")
    rt.add_argument("--channel")
    return p


async def amain(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "retry" and not (args.ids or args.all_dead):
        parser().error("retry: give notification ids or --all-dead")
    await storage_db.init(args.db or config.load(args.config).db_url)
    try:
        return await _run(args, out or sys.stdout)
    finally:
        await storage_db.close()


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
