"""lvyue command line: serve (default), import, export, demo, parse, outbox, calibrate, migrate,
backup, stock, keys. Parses arguments, calls bot.* (and messages.outbox_admin for `outbox`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date

from bot import config

KINDS = ("products", "customers", "warehouses", "stock", "staff", "deliveries")
COMMANDS = ("serve", "import", "export", "demo", "parse", "calibrate", "migrate", "backup",
            "stock", "keys", "aliases", "carriers")


def _common(default: object) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=default,
                        help="database URL (default sqlite://lvyue.db, or LVYUE_DB)")
    common.add_argument("--config", default=default,
                        help="TOML file (default ./config.toml when present)")
    return common


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot.py", description="lvyue 履约 order bot",
                                parents=[_common(None)])
    sub = p.add_subparsers(dest="command")
    # Given after the command; SUPPRESS so the command's parser never erases an earlier --db.
    common = _common(argparse.SUPPRESS)
    serve = sub.add_parser("serve", parents=[common], help="run the bot (default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--public-port", type=int,
                       help="also listen here (on [server] public_host, default 0.0.0.0) for "
                            "what the internet may reach: /wecom, carrier pushes, /t, /healthz")
    serve.add_argument("--access-log", action="store_true",
                       help="log every HTTP request (costs ~5%% of intake throughput)")
    imp = sub.add_parser("import", parents=[common], help="import master data from CSV/XLSX")
    imp.add_argument("kind", choices=KINDS)
    imp.add_argument("file")
    imp.add_argument("--warehouse", help="warehouse code for a stock file without that column")
    imp.add_argument("--partial", action="store_true",
                     help="write the good rows even when some rows are rejected")
    exp = sub.add_parser("export", parents=[common], help="export the finance invoice list")
    exp.add_argument("what", choices=["invoices"])
    exp.add_argument("--type", default="专票", help="普票, 专票, 无需 or 全部 (default 专票)")
    exp.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD")
    exp.add_argument("-o", "--output", required=True, help="output .xlsx file")
    sub.add_parser("demo", parents=[common], help="(re)load the demo data set")
    parse = sub.add_parser("parse", parents=[common],
                           help="print the draft a chat message parses to, as JSON")
    parse.add_argument("text")
    parse.add_argument("--customer", help="customer code to use instead of the text's")
    cal = sub.add_parser("calibrate", parents=[common],
                         help="learn carrier transit times from delivered history")
    cal.add_argument("--dry-run", action="store_true",
                     help="print what would change, write nothing")
    sub.add_parser("migrate", parents=[common],
                   help="apply schema migrations (harmless when up to date)")
    bak = sub.add_parser("backup", parents=[common],
                         help="consistent online copy of a SQLite database (PostgreSQL: pg_dump)")
    bak.add_argument("file", help="the new file to write")
    stock = sub.add_parser("stock", parents=[common], help="stock checks")
    stock.add_argument("action", choices=["reconcile"],
                       help="reconcile: each stock row's reserved figure against its "
                            "reservation rows (exit 1 on drift)")
    stock.add_argument("--fix", action="store_true",
                       help="set drifted figures to the sum of their reservation rows")
    sub.add_parser("carriers", parents=[common],
                   help="print which provider serves each courier (direct, 快递100, sandbox)")
    from bot import keys_cli

    keys_cli.add_parser(sub, common)
    from bot import aliases_cli

    aliases_cli.add_parser(sub, common)
    sub.add_parser("outbox", parents=[common], add_help=False,
                   help="notifications: status, list [pending|sending|sent|dead], retry ID…|"
                        "--all-dead (see `bot.py outbox -h`)")
    return p


def _outbox_argv(argv: Sequence[str]) -> list[str] | None:
    """The arguments for `outbox …` (--db/--config anywhere), when that is the command."""
    i = 0
    while i < len(argv):
        if argv[i] in ("--db", "--config"):
            i += 2
        elif argv[i].startswith("-"):
            i += 1
        else:
            return [*argv[:i], *argv[i + 1:]] if argv[i] == "outbox" else None
    return None


def _settings(args: argparse.Namespace) -> config.Settings:
    settings = config.load(args.config)
    if args.db:
        settings = replace(settings, db_url=args.db)
    return settings


async def _with_db(settings: config.Settings, job: Callable[[], Awaitable[int]]) -> int:
    from storage import db
    from storage.migrations import SchemaVersionError

    try:
        await db.init(settings.db_url)
    except SchemaVersionError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        return await job()
    finally:
        await db.close()


async def _check_schema(settings: config.Settings) -> str | None:
    """Before serving: None when the database is usable (created if empty), else why not."""
    from storage import db
    from storage.migrations import SchemaVersionError

    try:
        await db.init(settings.db_url)
    except SchemaVersionError as exc:
        return str(exc)
    await db.close()
    return None


async def _migrate(settings: config.Settings) -> int:
    from storage import db, migrations

    await db.init(settings.db_url, create=False, check=False)
    try:
        said: list[str] = []
        await migrations.migrate(log=said.append)
        print("\n".join(said) or f"数据库结构已是最新（版本 {migrations.CURRENT}）")
        return 0
    except migrations.SchemaVersionError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        await db.close()


def _backup(settings: config.Settings, args: argparse.Namespace) -> int:
    from storage.backup import BackupError, backup

    try:
        size = backup(settings.db_url, args.file)
    except BackupError as exc:
        print(f"备份失败：{exc}" if not str(exc).startswith("备份失败") else str(exc),
              file=sys.stderr)
        return 2
    print(f"已备份到 {args.file}（{size:,} 字节）")
    return 0


def _serve(settings: config.Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import build
    from handlers import edge

    if (problem := asyncio.run(_check_schema(settings))) is not None:
        print(problem, file=sys.stderr)
        return 2
    public = args.public_port or settings.serving.public_port
    settings = config.for_serving(settings, args.host or settings.host,
                                  args.port or settings.port, public)
    if public and public == settings.port:
        print("配置错误：public_port 不能与管理端口相同", file=sys.stderr)
        return 2
    app = build(settings, config_path=args.config)
    try:
        socks = [edge.bind(settings.host, settings.port)]
        if public:
            socks.append(edge.bind(settings.serving.public_host, public))
            edge.mark_public(app, socks[-1])
    except OSError as exc:
        print(f"无法监听端口：{exc}", file=sys.stderr)
        return 2
    mode = "sandbox (no WeCom credentials)" if "WECOM_CORP_ID" not in settings.env else "live"
    log = logging.getLogger("lvyue")

    async def announce(app: web.Application) -> None:
        # An on_startup handler runs after the cleanup contexts' start (database ready, the
        # demo data loaded into an empty one), so "serving on" is said when it is true.
        log.info("serving on http://%s:%s, %s, db %s, links %s", settings.host, settings.port,
                 mode, settings.db_url, settings.public_url)
        if public:
            log.info("public listener on %s:%s: /wecom, /carriers/*/push, /t, signed "
                     "dashboard, /healthz only", settings.serving.public_host, public)

    app.on_startup.append(announce)
    web.run_app(app, sock=socks, print=None,
                access_log=logging.getLogger("aiohttp.access") if args.access_log else None)
    return 0


async def _import(settings: config.Settings, args: argparse.Namespace) -> int:
    from bot.imports import ImportFileError, import_file

    try:
        report = await import_file(args.kind, args.file, warehouse=args.warehouse,
                                   partial=args.partial, progress=sys.stderr.isatty())
    except ImportFileError as exc:
        print(f"导入失败：{exc}", file=sys.stderr)
        return 2
    print(report.summary_zh())
    if args.kind == "deliveries" and report.written and settings.promise.calibration.enabled:
        from datetime import UTC, datetime

        from bot.calibration import recalibrate

        cal = await recalibrate(settings, datetime.now(UTC))  # promises learn it at once
        print("\n".join(cal.wave_lines()[:1] + cal.lines()[-1:]))
    return 0 if not report.rejected else 1


async def _export(settings: config.Settings, args: argparse.Namespace) -> int:
    from bot.export import export_invoices

    kind = None if args.type in ("全部", "all") else args.type
    try:
        n = await export_invoices(args.output, invoice_type=kind, since=args.since)
    except ValueError as exc:
        print(f"导出失败：{exc}", file=sys.stderr)
        return 2
    print(f"已导出{n}张订单到 {args.output}")
    return 0


def _parse(settings: config.Settings, args: argparse.Namespace) -> int:
    """No side effects: the database is read if it exists, never created or written."""
    from bot.parse_cli import parse_command
    from storage import db

    async def run() -> dict[str, object]:
        try:
            return await parse_command(args.text, args.customer, settings)
        finally:
            await db.close()

    print(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2))
    return 0


async def _demo(settings: config.Settings, args: argparse.Namespace) -> int:
    import time

    from bot.demo import load_demo

    started = time.perf_counter()
    counts = await load_demo(settings, progress=sys.stderr.isatty())
    print("演示数据已载入：" + "，".join(f"{k} {v}" for k, v in counts.items()))
    print("其中近90天的演示历史（渠道 demo，运单号以 DEMO 开头）："
          f"订单 {counts.get('demo_orders', 0)}，包裹 {counts.get('demo_shipments', 0)}，"
          f"咨询 {counts.get('demo_questions', 0)}；"
          f"用时 {time.perf_counter() - started:.1f} 秒")
    return 0


async def _calibrate(settings: config.Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.calibration import recalibrate

    report = await recalibrate(settings, datetime.now(UTC), dry_run=args.dry_run)
    print("\n".join(report.lines()))
    if not settings.promise.calibration.enabled:
        print("注意：promise.calibration.enabled = false，承诺仍按配置时效")
    return 0


async def _stock(settings: config.Settings, args: argparse.Namespace) -> int:
    from bot.reconcile import reconcile

    report = await reconcile(fix=args.fix)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


class ChinaTimeFormatter(logging.Formatter):
    """Log times in China time with the offset written out (2026-12-05T00:33:00.123+08:00):
    one timezone for every line, the same the scheduler names its next runs in."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import datetime

        from bot.domain.eta import CST

        return datetime.fromtimestamp(record.created, CST).isoformat(timespec="milliseconds")


def main(argv: Sequence[str] | None = None) -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(ChinaTimeFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # httpx logs whole URLs at INFO, access tokens and webhook keys included.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    argv = list(sys.argv[1:] if argv is None else argv)
    if (outbox_argv := _outbox_argv(argv)) is not None:
        from messages.outbox_admin import main as outbox_main

        return outbox_main(outbox_argv, prog="bot.py outbox")
    if not any(a in COMMANDS for a in argv) and not (
            {"-h", "--help"} & set(argv)):
        argv.insert(0, "serve")  # serve is the default command: `python bot.py --port 9000`
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except config.ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2
    command = args.command or "serve"
    if command == "serve":
        return _serve(settings, args)
    if command == "parse":
        return _parse(settings, args)
    if command == "backup":
        return _backup(settings, args)
    if command == "carriers":
        from integrations.carriers.registry import describe

        print(describe(settings))
        return 0
    if command == "migrate":
        return asyncio.run(_migrate(settings))
    if command == "keys":
        from bot import keys_cli

        # Nothing is logged after the key: it must stay the last word of the output.
        logging.getLogger().setLevel(logging.WARNING)
        return asyncio.run(_with_db(settings, lambda: keys_cli.run(args)))
    if command == "aliases":
        from bot import aliases_cli

        return asyncio.run(_with_db(settings, lambda: aliases_cli.run(args)))
    jobs: dict[str, Callable[[config.Settings, argparse.Namespace], Awaitable[int]]] = {
        "import": _import, "export": _export, "demo": _demo, "calibrate": _calibrate,
        "stock": _stock}
    job: Callable[[], Awaitable[int]] = lambda: jobs[command](settings, args)  # noqa: E731
    return asyncio.run(_with_db(settings, job))


if __name__ == "__main__":
    sys.exit(main())
