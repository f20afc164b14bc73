"""Rules reload without a restart; a broken config is refused and the old rules stay."""

from bot.app import CONFIG_PATH, build, reload_config
from handlers.keys import SERVICE


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
