"""Rules reload without a restart; a broken config is refused and the old rules stay."""

import asyncio
import os
import signal
from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

from bot.app import CONFIG_PATH, build, reload_config
from handlers import carrier_push
from handlers.keys import NOTIFIER, OUTBOX, SERVICE
from messages.facts import CST
from messages.outbox import DEFAULT_LIMITS, ChannelLimit
from storage import outbox
from storage.outbox import Notification, OutboxNotification, OutboxStatus


def test_reload_applies_new_rules_and_refuses_a_broken_file(tmp_path, settings, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "rules.toml"
    cfg.write_text('[[allocation.rules]]\nname = "BRK全国"\ncategories = ["BRK"]\n'
                   'safety_stock = 80\n', encoding="utf-8")
    app = build(settings, manage_db=False, config_path=str(cfg))
    assert app[CONFIG_PATH] == str(cfg)
    assert app[SERVICE].settings.rules[0].safety_stock == 50
    assert reload_config(app) is True
    rules = app[SERVICE].settings.rules
    assert rules[-1].name == "BRK全国" and rules[-1].safety_stock == 80
    assert app[SERVICE].settings.db_url == settings.db_url
    cfg.write_text('[[allocation.rules]]\nname = "x"\nstrategy = "closest"\n', encoding="utf-8")
    assert reload_config(app) is False
    assert app[SERVICE].settings.rules[-1].name == "BRK全国"


def test_reload_applies_templates_tracking_and_recipients(tmp_path, settings, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "config.toml"
    app = build(settings, manage_db=False, config_path=str(cfg))
    cfg.write_text('[notify]\nmanagers = ["lina"]\nwarehouse_group = "杭州仓群"\n'
                   '[tracking.stuck_hours]\nshipped = 6\n'
                   '[templates."gate_failed.wecom_app"]\ntext = "拦截：{单号}"\n',
                   encoding="utf-8")
    assert reload_config(app) is True
    assert app[NOTIFIER].cfg.managers == ("lina",)
    assert app[NOTIFIER].cfg.warehouse_group == "杭州仓群"
    assert app[carrier_push.TRACKING].config.stuck_hours["shipped"] == 6
    context = {"单号": "LY1", "客户名称": "x", "问题": [], "问题数": 0}
    assert app[OUTBOX].renderer.render("gate_failed.wecom_app", context).text == "拦截：LY1"
    # a template with an unknown variable is refused as a whole: nothing half-applied
    cfg.write_text('[notify]\nmanagers = ["wangfang"]\n'
                   '[templates."gate_failed.wecom_app"]\ntext = "{订单编号}"\n', encoding="utf-8")
    assert reload_config(app) is False
    assert app[NOTIFIER].cfg.managers == ("lina",)
    assert app[OUTBOX].renderer.render("gate_failed.wecom_app", context).text == "拦截：LY1"


def console_note(n: int, *, quiet: bool) -> Notification:
    return Notification(dedup_key=f"reload:{n}", event="order_confirmed", channel="console",
                        recipient="客户:C0001", template="chat_reply.wecom_app",
                        context={"文本": f"第{n}条"}, quiet=quiet)


async def test_reload_applies_quiet_hours_and_channel_limits_to_the_running_dispatcher(
        tmp_path, settings, monkeypatch, db):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "config.toml"
    never_quiet = replace(settings, quiet_hours=(time(8, 0), time(8, 0)))
    app = build(never_quiet, manage_db=False, config_path=str(cfg))
    dispatcher = app[OUTBOX]
    assert dispatcher.quiet is not None and dispatcher.quiet.until(datetime.now(UTC)) is None
    cfg.write_text('[quiet_hours]\nstart = "00:00"\nend = "23:59"\n'
                   '[notify.limits.console]\ncount = 1\nperiod = 60\nconcurrency = 1\n',
                   encoding="utf-8")
    assert reload_config(app) is True
    assert dispatcher.limit_of("console") == ChannelLimit(1, 60.0, 1)
    assert app[NOTIFIER].cfg.quiet == dispatcher.quiet
    # The dispatcher itself follows them: one send a minute claims one row of three, and a
    # customer push claimed inside the new quiet hours goes back to wait for the morning.
    await outbox.enqueue([console_note(1, quiet=True), console_note(2, quiet=False),
                          console_note(3, quiet=False)])
    assert await dispatcher.run_once() == 1
    counts = await outbox.counts()
    first = await OutboxNotification.get(dedup_key="reload:1")
    if _in_the_last_minute_of_the_day():  # 23:59 is outside the window: it was sent
        assert counts["sent"] == 1
    else:
        assert first.status == OutboxStatus.pending and first.last_error == "静默时段，结束后发送"
        assert counts == {"pending": 3, "sending": 0, "sent": 0, "dead": 0}


def _in_the_last_minute_of_the_day() -> bool:
    return datetime.now(CST).time() >= time(23, 59)


async def test_sighup_reloads_the_dispatcher(tmp_path, settings, monkeypatch, aiohttp_client):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "config.toml"
    client = await aiohttp_client(build(settings, manage_db=False, config_path=str(cfg)))
    if signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, signal.SIG_IGN, None):
        pytest.fail("no SIGHUP handler installed: the signal would end the test run")
    cfg.write_text('[quiet_hours]\nstart = "21:00"\nend = "09:30"\n'
                   '[notify.limits.console]\ncount = 7\nperiod = 2\n', encoding="utf-8")
    dispatcher = client.app[OUTBOX]
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(200):  # the handler runs on the loop, soon after the signal
        if dispatcher.quiet is not None and dispatcher.quiet.start == time(21, 0):
            break
        await asyncio.sleep(0.01)
    assert dispatcher.quiet is not None
    assert (dispatcher.quiet.start, dispatcher.quiet.end) == (time(21, 0), time(9, 30))
    assert dispatcher.limit_of("console") == ChannelLimit(7, 2.0,
                                                          DEFAULT_LIMITS["console"].concurrency)
