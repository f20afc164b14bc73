"""`python bot.py keys create|list|revoke`: API keys for /api (storage/api_keys.py).

`create` prints the key once, as the last word of its output, so a script can take it with
`| awk '{print $NF}'`; only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import sys

from bot.domain.roles import KEY_ROLES
from bot.domain.vocab import CST
from storage import api_keys


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", parents=[common], help="API keys: create, list, revoke")
    what = keys.add_subparsers(dest="keys_command", required=True)
    create = what.add_parser("create", parents=[common], help="issue a key (printed once)")
    create.add_argument("--name", required=True,
                        help="owner: a staff user id (e.g. lina) or a system (e.g. erp)")
    create.add_argument("--role", required=True, choices=KEY_ROLES)
    listing = what.add_parser("list", parents=[common], help="keys in use")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    revoke = what.add_parser("revoke", parents=[common],
                             help="revoke by id, by the key's first characters, or by name")
    revoke.add_argument("ref", help="id (3), key prefix (lvy_Ab12Cd34) or name (erp)")


def _say(*lines: str) -> None:
    sys.stdout.write("".join(lines) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


async def run(args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        return await _create(args.name, args.role)
    if args.keys_command == "list":
        return await _list(args.all)
    return await _revoke(args.ref)


async def _create(name: str, role: str) -> int:
    try:
        row, key = await api_keys.create(name, role)
    except ValueError as exc:
        _err(f"创建失败：{exc}")
        return 2
    _say(f"已创建API密钥 #{row.id}（名称 {row.name}，角色 {row.role}）。"
          "密钥只显示这一次，请妥善保存：")
    _say(key)
    return 0


async def _list(include_revoked: bool) -> int:
    rows = await api_keys.listing(include_revoked)
    if not rows:
        _say("没有API密钥（python bot.py keys create --name NAME --role ROLE）")
        return 0
    for r in rows:
        made = r.created_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")
        state = (f"已吊销 {r.revoked_at.astimezone(CST):%Y-%m-%d %H:%M}"
                 if r.revoked_at else "有效")
        _say(f"#{r.id}\t{r.name}\t{r.role}\t{r.prefix}…\t创建 {made}\t{state}")
    return 0


async def _revoke(ref: str) -> int:
    rows = await api_keys.revoke(ref)
    if not rows:
        _err(f"没有找到有效的密钥：{ref}")
        return 1
    for r in rows:
        _say(f"已吊销 #{r.id}（{r.name}，{r.role}，{r.prefix}…）")
    _say("运行中的服务最多5秒后拒绝这些密钥")
    return 0
