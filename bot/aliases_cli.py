"""`python bot.py aliases list [--team T] | delete ID`: phrases teams taught the parser."""

from __future__ import annotations

import argparse
import sys

from bot import learning
from bot.domain.vocab import CST


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    aliases = sub.add_parser("aliases", parents=[common],
                             help="learnt phrase → SKU aliases: list, delete")
    what = aliases.add_subparsers(dest="aliases_command", required=True)
    listing = what.add_parser("list", parents=[common], help="learnt aliases")
    listing.add_argument("--team", default=None, help="only this team (group chat id)")
    delete = what.add_parser("delete", parents=[common], help="forget an alias by its id")
    delete.add_argument("id", type=int)


async def run(args: argparse.Namespace) -> int:
    if args.aliases_command == "list":
        rows = await learning.listing(args.team)
        if not rows:
            sys.stdout.write("还没有学到的别名\n")
        for r in rows:
            when = r.created_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")
            sys.stdout.write(f"#{r.id}\t{r.kind}\t{r.team or '全部'}\t{r.label} → {r.target}\t"
                             f"{r.learnt_by}\t{when}\n")
        return 0
    if await learning.delete(args.id):
        sys.stdout.write(f"已删除别名 #{args.id}\n")
        return 0
    sys.stderr.write(f"别名 #{args.id} 不存在\n")
    return 2
