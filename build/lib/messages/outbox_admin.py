"""The operator's view of the outbox: what is pending, sent, dead (with reasons), and retry.

Used by the console (`snapshot`, `retry` as JSON) and from the command line::

    python bot.py outbox [--db URL] [--config FILE] status
    python bot.py outbox list dead [--limit 20] [--channel wechat_oa] [--db URL]
    python bot.py outbox retry 42 [43 …]
    python bot.py outbox retry --all-dead [--channel wechat_oa]

(`python -m messages.outbox_admin …` is the same.) The database is `--db`, else the
configuration's (LVYUE_DB, config.toml, default).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TextIO

from tortoise.functions import Count

from bot import config
from bot.domain.vocab import NOTICE_ZH, OUTBOX_STATUS_ZH
from messages.facts import fmt_time
from messages.notify import CHANNEL_ZH
from storage import db as storage_db
from storage import outbox
from storage.outbox_models import OutboxNotification, OutboxStatus

STATUS_ZH = OUTBOX_STATUS_ZH
EVENT_ZH = NOTICE_ZH
def _link(context: Any) -> str | None:
    """The customer's tracking link the notification carries (the console opens it)."""
    link = context.get("跟踪链接") if isinstance(context, dict) else None
    return link if isinstance(link, str) and link.startswith(("http://", "https://")) else None


RetryOutcome = Literal["retried", "not_dead", "missing"]


def row_json(r: OutboxNotification) -> dict[str, Any]:
    """One row for the console (JSON-able)."""
    due = r.next_attempt_ms
    return {
        "id": r.id, "status": r.status.value, "status_zh": STATUS_ZH[r.status.value],
        "event": r.event, "event_zh": EVENT_ZH.get(r.event, r.event),
        "channel": r.channel, "channel_zh": CHANNEL_ZH.get(r.channel, r.channel),
        "recipient": r.recipient, "template": r.template, "order_no": r.order_no,
        "attempts": r.attempts,
        "next_attempt_at": _iso(datetime.fromtimestamp(due / 1000, UTC)) if due else None,
        "sent_at": _iso(r.sent_at), "created_at": _iso(r.created_at),
        "error": r.last_error, "text": r.rendered, "remote_id": r.remote_id,
        "link": _link(r.context),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at else None


async def counts_by_channel() -> dict[str, dict[str, int]]:
    """Rows per channel and status (every status present), channels by name."""
    rows = await (OutboxNotification.all().annotate(n=Count("id"))
                  .group_by("channel", "status").values_list("channel", "status", "n"))
    out: dict[str, dict[str, int]] = {}
    for channel, status, n in rows:
        per = out.setdefault(str(channel), dict.fromkeys((s.value for s in OutboxStatus), 0))
        per[str(getattr(status, "value", status))] += int(n)
    return dict(sorted(out.items()))


async def snapshot(limit: int = 50, status: str | None = None,
                   channel: str | None = None) -> dict[str, Any]:
    """Counts per status (of `channel`, when given), per channel and status, and the newest
    rows (of one status and channel)."""
    channels = await counts_by_channel()
    if channel:
        counts = channels.get(channel, dict.fromkeys((s.value for s in OutboxStatus), 0))
    else:
        counts = await outbox.counts()
    rows = await outbox.list_rows(status, limit, channel=channel) if limit > 0 else []
    return {"counts": counts, "channels": channels, "status_zh": dict(STATUS_ZH),
            "channel_zh": {c: CHANNEL_ZH.get(c, c) for c in channels},
            "rows": [row_json(r) for r in rows]}


async def retry(ids: Sequence[int]) -> dict[int, bool]:
    """Retry dead letters by id; per id, whether it was dead (and now is pending)."""
    return {i: await outbox.retry_dead(i) for i in ids}


async def retry_one(notification_id: int) -> tuple[RetryOutcome, OutboxNotification | None]:
    """Retry one dead letter; says why not (not dead, or no such row) and returns the row."""
    done = await outbox.retry_dead(notification_id)
    row = await OutboxNotification.get_or_none(id=notification_id)
    if row is None:
        return "missing", None
    return ("retried" if done else "not_dead"), row


# ---- command line ----------------------------------------------------------------------

def _line(r: OutboxNotification) -> str:
    when = fmt_time(r.sent_at) if r.sent_at else ""
    error = f"  原因：{r.last_error}" if r.last_error and r.status != OutboxStatus.sent else ""
    return (f"#{r.id:<6} {STATUS_ZH[r.status.value]:<4} {r.template:<28} "
            f"{r.channel}:{r.recipient}  {r.order_no or ''}  尝试{r.attempts}次 {when}{error}")


RETRY_ZH = {"retried": "已重新排队", "not_dead": "不是失败状态，未处理", "missing": "没有这条通知"}


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "status":
        counts = await outbox.counts()
        out.write("  ".join(f"{STATUS_ZH[k]} {v}" for k, v in counts.items()) + "\n")
    elif args.command == "list":
        rows = await outbox.list_rows(args.status, args.limit, channel=args.channel)
        out.writelines(_line(r) + "\n" for r in rows)
    elif args.command == "purge":
        before = datetime.now(UTC) - timedelta(days=args.older_than)
        out.write(f"删除 {await purge(before)} 条{args.older_than}天前已发送的通知\n")
    elif args.all_dead:
        out.write(f"重新发送 {await outbox.retry_all_dead(channel=args.channel)} 条失败通知\n")
    else:
        outcomes = [(i, (await retry_one(i))[0]) for i in args.ids]
        out.writelines(f"#{i} {RETRY_ZH[o]}\n" for i, o in outcomes)
        return 0 if all(o == "retried" for _, o in outcomes) else 1
    return 0


async def purge(before: datetime) -> int:
    """Every sent row older than `before`, in chunks (each its own short statement)."""
    total = 0
    while n := await outbox.purge_sent(before):
        total += n
    return total


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def parser(prog: str = "outbox") -> argparse.ArgumentParser:
    """--db and --config are taken before or after the subcommand (as bot.py does)."""
    def common(default: Any) -> argparse.ArgumentParser:
        c = argparse.ArgumentParser(add_help=False)
        c.add_argument("--db", default=default, help="database URL (default: configuration's)")
        c.add_argument("--config", default=default, help="config.toml (default ./config.toml)")
        return c

    p = argparse.ArgumentParser(prog=prog, description="通知发件箱：查看与重发",
                                parents=[common(None)])
    sub = p.add_subparsers(dest="command", required=True)
    late = common(argparse.SUPPRESS)  # given after the subcommand; never erases an earlier one
    sub.add_parser("status", parents=[late], help="各状态数量")
    ls = sub.add_parser("list", parents=[late], help="最近的通知")
    ls.add_argument("status", nargs="?", choices=[s.value for s in OutboxStatus])
    ls.add_argument("--limit", type=_positive, default=20)
    ls.add_argument("--channel")
    pg = sub.add_parser("purge", parents=[late], help="删除早于N天的已发送通知（失败的保留）")
    pg.add_argument("--older-than", type=_positive, default=30, metavar="DAYS")
    rt = sub.add_parser("retry", parents=[late], help="重发失败（死信）通知")
    rt.add_argument("ids", nargs="*", type=_positive)
    rt.add_argument("--all-dead", action="store_true")
    rt.add_argument("--channel")
    return p


async def amain(argv: Sequence[str] | None = None, out: TextIO | None = None,
                prog: str = "outbox") -> int:
    args = parser(prog).parse_args(argv)
    if args.command == "retry" and not (args.ids or args.all_dead):
        parser(prog).error("retry: give notification ids or --all-dead")
    try:
        url = args.db or config.load(args.config).db_url
    except config.ConfigError as exc:
        sys.stderr.write(f"配置错误：{exc}\n")
        return 2
    from storage.migrations import SchemaVersionError

    try:
        await storage_db.init(url)
    except SchemaVersionError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    try:
        return await _run(args, out or sys.stdout)
    finally:
        await storage_db.close()


def main(argv: Sequence[str] | None = None, prog: str = "outbox") -> int:
    return asyncio.run(amain(argv, prog=prog))


if __name__ == "__main__":
    sys.exit(main())
