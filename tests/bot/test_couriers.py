"""Couriers and providers: which provider serves each courier, and what the rules may pick."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot import config
from bot.domain import couriers
from bot.domain.allocation import Destination
from bot.domain.coverage import choose_carrier
from bot.domain.gates import coverage_gate
from integrations.carriers import registry
from integrations.carriers.kuaidi100 import Kuaidi100Client
from integrations.geocode import parse

K100 = {"KUAIDI100_KEY": "k", "KUAIDI100_CUSTOMER": "c", "KUAIDI100_SECRET": "s",
        "KUAIDI100_SALT": "t"}
SF = {"SF_PARTNER_ID": "p", "SF_CHECKWORD": "w"}
SHANGHAI = Destination("上海", "上海")


def settings(env: dict[str, str], **tables: Any) -> config.Settings:
    data = config._read_toml(config.DEFAULTS_PATH)
    return config.from_mapping(config._merge(data, tables), env)


def test_the_courier_table_names_each_courier_and_its_kuaidicom() -> None:
    assert couriers.by_name("中通") == couriers.by_name("中通快递") == "zto"
    assert couriers.by_name("ZTO") == couriers.by_name("zhongtong") == "zto"
    assert couriers.by_name("极兔") == "jtexpress" and couriers.by_name("韵达") == "yd"
    assert couriers.by_name("菜鸟直送") is None
    assert {c: couriers.COURIERS[c].kuaidicom for c in ("sf", "yto", "sto", "ems")} == {
        "sf": "shunfeng", "yto": "yuantong", "sto": "shentong", "ems": "ems"}


def test_direct_keys_match_the_clients_own() -> None:
    from integrations.carriers import jd, kuaidi100, sf, zto

    assert couriers.DIRECT_KEYS == {"sf": sf.REQUIRED_KEYS, "zto": zto.REQUIRED_KEYS,
                                    "jd": jd.REQUIRED_KEYS}
    assert couriers.KUAIDI100_KEYS == kuaidi100.REQUIRED_KEYS


def test_no_live_provider_at_all_is_sandbox_mode() -> None:
    s = settings({})
    assert not couriers.is_live(s)
    assert {c: v.provider for c, v in couriers.plan(s).items()} == {
        "sf": "sandbox", "zto": "sandbox", "jd": "sandbox"}


def test_direct_first_then_kuaidi100_then_unavailable() -> None:
    s = settings({**K100, **SF}, kuaidi100={"couriers": {
        "sf": {"partner_id": "SFCARD"}, "zto": {"partner_id": "ZTO1"}, "yto": {}}})
    plan = couriers.plan(s)
    assert plan["sf"].provider == "sf"  # its own keys win over the Kuaidi100 account
    assert plan["zto"].provider == "kuaidi100"
    assert plan["yto"].provider == "kuaidi100"  # added as a courier by its account
    assert not plan["jd"].available
    assert "京东物流未开通" in plan["jd"].reason and "JD_APP_KEY" in plan["jd"].reason
    assert "[kuaidi100.couriers.jd]" in plan["jd"].reason
    assert "sandbox" not in {v.provider for v in plan.values()}


def test_a_kuaidi100_account_without_the_kuaidi100_keys_says_which_are_missing() -> None:
    s = settings(SF, kuaidi100={"couriers": {"zto": {"partner_id": "Z"}}})
    assert couriers.plan(s)["zto"].reason.startswith("中通未开通")
    assert "KUAIDI100_KEY" in couriers.plan(s)["zto"].reason


def test_bad_kuaidi100_courier_tables_name_the_key() -> None:
    with pytest.raises(config.ConfigError, match=r"kuaidi100.couriers.xyz: unknown courier"):
        settings({}, kuaidi100={"couriers": {"xyz": {}}})
    with pytest.raises(config.ConfigError, match=r"kuaidi100.couriers.zto.partnerid"):
        settings({}, kuaidi100={"couriers": {"zto": {"partnerid": "x"}}})
    own = settings({}, kuaidi100={"couriers": {"kuayue": {"kuaidicom": "kuayue"}}})
    assert own.kuaidi100_couriers["kuayue"].kuaidicom == "kuayue"


def test_rules_skip_a_courier_without_a_provider() -> None:
    live = settings(SF)  # default rule prefers zto, sf, jd
    assert choose_carrier(SHANGHAI, ["zto", "sf", "jd"], live) == "sf"
    assert choose_carrier(SHANGHAI, ["zto", "jd"], live) == "sf"  # any usable one
    assert choose_carrier(SHANGHAI, ["zto", "sf"], settings({})) == "zto"  # sandbox serves all


def test_the_gate_says_why_no_courier_can_serve() -> None:
    s = settings({**K100}, kuaidi100={"couriers": {"yto": {}}},
                 carriers={"yto": {"coverage": ["浙江"]}})
    place = parse("上海市闵行区申贵路1500号")
    from tests.bot.test_gates import facts  # the gate facts builder

    gate = coverage_gate(facts(place=place, address_raw=place.raw), s)
    assert not gate.ok
    assert "可配送的快递均未开通" in gate.message and "中通未开通" in gate.message
    assert set(gate.checked["unavailable"]) == {"sf", "zto", "jd"}
    ok = coverage_gate(facts(place=parse("杭州市西湖区文三路1号"), address_raw="x"), s)
    assert ok.ok and ok.checked["carriers"] == ["yto"] and "未开通" in ok.message


async def test_providers_issue_through_kuaidi100_with_the_couriers_account() -> None:
    s = settings({**K100, **SF}, kuaidi100={"couriers": {"zto": {"partner_id": "ZTO1",
                                                                 "partner_key": "ZK"}}})
    async with httpx.AsyncClient(trust_env=False) as http:
        providers = registry.build(s, lambda _p: http)
    assert not providers.sandbox
    assert set(providers.shipping) == {"sf", "zto"}  # jd: no provider, no client
    zto = providers.shipping["zto"]
    assert isinstance(zto, Kuaidi100Client) and zto.company == "zhongtong"
    assert zto.account is not None and zto.account.label_fields() == {
        "partnerId": "ZTO1", "partnerKey": "ZK"}
    assert providers.serving == {"sf": "sf", "zto": "kuaidi100.zto"}
    assert "kuaidi100" in providers.tracking  # the push route


def test_describe_prints_the_courier_provider_table() -> None:
    s = settings({**K100}, kuaidi100={"couriers": {"zto": {"partner_id": "Z"}}})
    text = registry.describe(s)
    assert text.splitlines()[0] == "carriers: live"
    line = next(x for x in text.splitlines() if x.startswith("zto"))
    assert "快递100" in line and "kuaidicom=zhongtong" in line
    assert "不可用" in next(x for x in text.splitlines() if x.startswith("jd"))
    assert "sandbox mode" in registry.describe(settings({}))


def test_start_up_logs_the_courier_provider_table(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from bot.app import build

    s = settings({**K100}, kuaidi100={"couriers": {"zto": {"partner_id": "Z"}}})
    with caplog.at_level(logging.INFO, logger="bot.app"):
        build(s, manage_db=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert "carriers: live" in lines
    assert any(x.startswith("zto") and "kuaidi100" not in x and "快递100" in x for x in lines)


def test_the_carriers_command_prints_the_table(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cfg = tmp_path / "config.toml"
    cfg.write_text('[kuaidi100.couriers.yto]\npartner_id = "Y1"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUAIDI100", "SF_", "ZTO_",
                                                                     "JD_"))}
    out = subprocess.run([sys.executable, str(root / "bot.py"), "carriers", "--config",
                          str(cfg)], capture_output=True, text=True, timeout=60,
                         env={**env, **K100}, cwd=tmp_path, check=True).stdout
    assert out.splitlines()[0] == "carriers: live"
    yto = next(x for x in out.splitlines() if x.startswith("yto"))
    assert "圆通速递" in yto and "快递100" in yto and "kuaidicom=yuantong" in yto


def test_every_courier_has_one_screen_name_and_is_found_by_it():
    from bot.domain import vocab

    for code, courier in couriers.COURIERS.items():
        assert code in vocab.CARRIER_ZH, code  # the name cards, pages and pushes show
        assert couriers.short_name(code) == vocab.carrier_name(code)
        assert couriers.by_name(vocab.CARRIER_ZH[code]) == code
        assert couriers.by_name(courier.name) == code
