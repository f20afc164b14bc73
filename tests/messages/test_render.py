"""Templates: every event × kind renders, overrides come from config, mistakes fail at load."""

from __future__ import annotations

import tomllib
from pathlib import Path

import jinja2
import pytest

from messages import render
from messages.render import VARIABLES, TemplateError, load

SEED = "{客户姓名},您的订单{单号}已由{快递公司}承运,预计{时间}送达{地址}"
CONTEXT = {
    "客户姓名": "王师傅", "客户名称": "杭州西湖恒通汽修厂", "单号": "SO20261125001",
    "快递公司": "顺丰速运", "运单号": "SF1234567890", "预计送达时间": "11月26日 15:00",
    "时间": "11月26日 15:00", "地址": "浙江省杭州市西湖区文三路***",
    "跟踪链接": "https://lvyue.example/t/abc.def", "包裹": "", "状态": "已出库",
    "事件时间": "11月25日 14:03", "发货仓": "杭州仓",
}


def context_for(event: str) -> dict[str, object]:
    out: dict[str, object] = {v: f"〈{v}〉" for v in VARIABLES[event]}
    if "问题" in out:
        out["问题"] = ["库存不足：BRK00001 需要60件，可用40件", "超出信用额度"]
    return out


def test_every_event_has_its_templates() -> None:
    names = load().names
    for event in ("order_confirmed", "shipped", "out_for_delivery", "delivered"):
        assert f"{event}.wechat_oa" in names
    for name in ("delay_risk.wecom_app", "gate_failed.wecom_app", "urgent_order.wecom_group",
                 "daily_report.wecom_app", "shipment_exception.wecom_app"):
        assert name in names


@pytest.mark.parametrize("name", load().names)
def test_each_template_renders_with_its_events_variables(name: str) -> None:
    rendered = load().render(name, context_for(name.split(".")[0]))
    assert rendered.text
    assert all("{{" not in v and "{%" not in v for v in rendered.parts.values())


def test_the_seed_sentence_renders_from_config() -> None:
    toml = f'[templates."shipped.wechat_oa"]\ntext = "{SEED}"\n'
    overrides = tomllib.loads(toml)["templates"]
    rendered = load(overrides).render("shipped.wechat_oa", CONTEXT)
    assert rendered.text == ("王师傅,您的订单SO20261125001已由顺丰速运承运,"
                             "预计11月26日 15:00送达浙江省杭州市西湖区文三路***")
    # the other parts (the 公众号 data keys) are inherited
    assert rendered.parts["character_string1"] == "SO20261125001"


def test_override_in_jinja_syntax() -> None:
    r = load({"gate_failed.wecom_app": {"text": "订单{{ 单号 }}被拦截：{{ 问题 | join('；') }}"}})
    text = r.render("gate_failed.wecom_app", context_for("gate_failed")).text
    assert text == "订单〈单号〉被拦截：库存不足：BRK00001 需要60件，可用40件；超出信用额度"


def test_unknown_variable_fails_at_load_naming_template_and_variable() -> None:
    with pytest.raises(TemplateError) as err:
        load({"shipped.wechat_oa": {"text": "{客户姓名}，您的{订单编号}已发出"}})
    message = str(err.value)
    assert 'templates."shipped.wechat_oa".text' in message
    assert "订单编号" in message


def test_variable_of_another_event_is_unknown() -> None:
    # 问题 belongs to gate_failed, not to a customer push
    with pytest.raises(TemplateError, match="问题"):
        load({"delivered.wechat_oa": {"text": "{{ 问题 }}"}})


def test_unknown_variable_in_a_template_file_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "shipped.wechat_oa.j2").write_text(
        "{% block text %}{{ 客户姓名 }} {{ 快递员电话 }}{% endblock %}", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"shipped\.wechat_oa\.j2.*快递员电话"):
        load(directory=tmp_path)


def test_unknown_template_and_unknown_part_are_named() -> None:
    with pytest.raises(TemplateError, match=r'templates\."shiped\.wechat_oa": unknown template'):
        load({"shiped.wechat_oa": {"text": "x"}})
    with pytest.raises(TemplateError, match=r"delay_risk\.wecom_app\"\.titel: unknown part"):
        load({"delay_risk.wecom_app": {"titel": "x"}})


def test_syntax_error_is_named() -> None:
    with pytest.raises(TemplateError, match=r"\.text: template syntax error"):
        load({"shipped.wechat_oa": {"text": "{{ 单号 "}})


def test_oa_data_keys_of_an_override_replace_the_defaults() -> None:
    r = load({"shipped.wechat_oa": {"keyword1": "{单号}", "keyword2": "{快递公司}"}})
    parts = r.render("shipped.wechat_oa", CONTEXT).parts
    assert set(parts) == {"text", "keyword1", "keyword2"}  # text inherited, keys replaced


def test_missing_value_at_render_time_is_loud() -> None:
    context = dict(CONTEXT)
    del context["单号"]
    with pytest.raises(jinja2.UndefinedError):
        load().render("shipped.wechat_oa", context)


def test_text_card_description_escapes_values_but_keeps_markup() -> None:
    ctx = context_for("shipment_exception") | {"客户名称": "<b>恒通&汽修</b>"}
    parts = load().render("shipment_exception.wecom_app", ctx).parts
    assert '<div class="gray">&lt;b&gt;恒通&amp;汽修&lt;/b&gt;' in parts["description"]
    assert parts["title"] == "物流异常：订单〈单号〉"  # plain-text parts are not escaped


def test_description_override_is_escaped_too() -> None:
    r = load({"delay_risk.wecom_app": {"description": "{客户名称}"}})
    ctx = context_for("delay_risk") | {"客户名称": "A<B"}
    assert r.render("delay_risk.wecom_app", ctx).parts["description"] == "A&lt;B"


def test_simple_placeholders_leave_jinja_alone() -> None:
    assert render.simple_to_jinja("{单号}到{地址}") == "{{ 单号 }}到{{ 地址 }}"
    assert render.simple_to_jinja("{{ 单号 }} {x}") == "{{ 单号 }} {x}"
