"""Config: defaults load, overrides merge, and every error names its key."""

import pytest

from bot import config


def write(tmp_path, text):
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_load_with_the_seed_rule(settings):
    rule = settings.rules[0]
    assert rule.categories == frozenset({"BRK"}) and rule.regions == ("长三角",)
    assert rule.strategy == "nearest" and rule.safety_stock == 50
    assert settings.regions["长三角"] == frozenset({"上海", "江苏", "浙江", "安徽"})


def test_file_overrides_defaults_and_env_overrides_file(tmp_path):
    p = write(tmp_path, '[server]\nport = 9001\n[gates]\ncredit_tolerance = 0.1\n')
    s = config.load(p, {"LVYUE_DB": "postgres://u@127.0.0.1:5432/x", "LVYUE_SECRET": "s3"})
    assert s.port == 9001 and s.credit_tolerance == 0.1
    assert s.db_url == "postgres://u@127.0.0.1:5432/x"
    assert "s3" not in repr(s.secret) and s.secret.value == "s3"


@pytest.mark.parametrize(("text", "key"), [
    ('[[allocation.rules]]\nname="x"\nstrategy="closest"\n', "allocation.rules[0].strategy"),
    ('[[allocation.rules]]\nname="x"\nregions=["火星"]\n', "allocation.rules[0].regions"),
    ('[[allocation.rules]]\nname="x"\nsafety_stock=-1\n', "allocation.rules[0].safety_stock"),
    ('[[allocation.rules]]\nname="x"\nstrategy="fixed"\n', "allocation.rules[0].warehouses"),
    ('[[allocation.rules]]\nname="x"\nspeed=1\n', "allocation.rules[0].speed"),
    ('[[allocation.rules]]\nname="x"\ncarriers=["ems"]\n', "carriers"),
    ('[promise]\nworkdays=[0]\n', "promise.workdays"),
    ('[promise.cutoffs]\nHZ01="25:00"\n', "promise.cutoffs.HZ01"),
    ('[quiet_hours]\nstart="late"\n', "quiet_hours.start"),
    ('[carriers.sf.transit]\nslow=3\n', "carriers.sf.transit.slow"),
    ('[gates]\ncredit_tolerance="a"\n', "gates.credit_tolerance"),
])
def test_errors_name_the_key(tmp_path, text, key):
    with pytest.raises(config.ConfigError) as exc:
        config.load(write(tmp_path, text), {})
    assert key in str(exc.value)


def test_broken_toml_and_missing_file_are_clear(tmp_path):
    with pytest.raises(config.ConfigError, match=r"config\.toml"):
        config.load(write(tmp_path, "[server\n"), {})
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml", {})


def test_links_follow_the_configured_port_unless_a_public_url_is_given():
    s = config.from_mapping({"server": {"port": 8099}})
    assert s.public_url == "http://127.0.0.1:8099"
    s = config.from_mapping({"server": {"host": "0.0.0.0", "port": 9000}})
    assert s.public_url == "http://127.0.0.1:9000"
    s = config.from_mapping({"server": {"port": 8099}}, {"LVYUE_PUBLIC_URL": "https://ly.example/"})
    assert s.public_url == "https://ly.example"
    assert config.defaults().public_url == "http://127.0.0.1:8080"


def test_each_outside_systems_pool_and_deadline_can_be_set(tmp_path):
    from bot import app as app_module
    from integrations.http import Bulkhead

    s = config.load(write(tmp_path, "[http.carrier]\nconcurrency = 4\ndeadline_s = 30\n"
                                    "[http.sf]\nconcurrency = 2\ndeadline_s = 8.5\n"), {})
    assert s.http["carrier"] == (4, 30.0) and s.http["sf"] == (2, 8.5)
    assert s.http["wecom"] == (32, 5.0)  # the shipped default stays
    application = app_module.build(s, load_demo_if_empty=False, manage_db=False)
    pools = application[app_module.POOLS]
    assert pools.bulkheads["carrier"] == Bulkhead(4, 30.0)
    assert pools.bulkheads["sf"] == Bulkhead(2, 8.5)
    assert pools.bulkheads["notify"] == Bulkhead(16, 10.0)


@pytest.mark.parametrize(("text", "key"), [
    ("[http.ftp]\nconcurrency = 1\n", "http.ftp"),
    ("[http.carrier]\nconcurrency = 0\n", "http.carrier.concurrency"),
    ("[http.carrier]\ndeadline_s = 0\n", "http.carrier.deadline_s"),
    ("[http.carrier]\ndeadline_s = 3600\n", "http.carrier.deadline_s"),
    ("[http.wecom]\ntimeout = 3\n", "http.wecom.timeout"),
])
def test_bad_http_settings_name_the_key(tmp_path, text, key):
    with pytest.raises(config.ConfigError) as exc:
        config.load(write(tmp_path, text), {})
    assert key in str(exc.value)
