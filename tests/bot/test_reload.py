"""Rules reload without a restart; a broken config is refused and the old rules stay."""

from bot.app import CONFIG_PATH, build, reload_config
from handlers import carrier_push
from handlers.keys import NOTIFIER, OUTBOX, SERVICE


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
