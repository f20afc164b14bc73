"""Notification templates: one jinja2 file per event × message kind, overridable from config.

A template is a set of named *parts* (jinja2 blocks): ``text`` for a plain message,
``title``/``description``/``url``/``btntxt`` for a WeCom text card, ``main_title``… for a
template card, ``markdown`` for the group robot, and for a 公众号 template message every block
other than ``text``/``url`` is a data key of the template chosen in the 公众号 backend.

Operators override parts from config.toml without touching code::

    [templates."shipped.wechat_oa"]
    text = "{客户姓名}，您的订单{单号}已由{快递公司}承运，预计{时间}送达{地址}"
    [templates."gate_failed.wecom_app"]
    text = "订单{{ 单号 }}被拦截：{{ 问题 | join('；') }}"

A value is jinja2; a value without ``{{``/``{%`` may use the simple ``{变量}`` form. An
override replaces the parts it names and inherits the rest, except that naming any data key
of a ``wechat_oa`` template replaces all its data keys (your 公众号 template has its own).

Everything is checked when loading, not when sending: syntax, unknown templates and parts,
and every variable a template uses against the variables its event provides
(`VARIABLES`, filled by messages/notify.py). Rendering uses StrictUndefined.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from bot.config import ConfigError

TEMPLATES = Path(__file__).with_name("templates")
KINDS = ("wechat_oa", "wecom_app", "wecom_group")
OA_RESERVED = frozenset({"text", "url"})
_SIMPLE = re.compile(r"(?<!\{)\{\s*([^\W\d]\w*)\s*\}(?!\})")

CUSTOMER_VARS = frozenset({
    "客户姓名", "客户名称", "单号", "快递公司", "运单号", "预计送达时间", "时间", "地址",
    "跟踪链接", "包裹", "状态", "事件时间", "发货仓",
})
VARIABLES: Mapping[str, frozenset[str]] = {
    "order_confirmed": CUSTOMER_VARS,
    "order_cancelled": CUSTOMER_VARS | {"取消人", "原因", "原状态"},  # customer and sales
    "shipped": CUSTOMER_VARS,
    "out_for_delivery": CUSTOMER_VARS,
    "delivered": CUSTOMER_VARS,
    "delay_risk": frozenset({"单号", "客户名称", "客户姓名", "电话", "地址", "承诺时间", "状态",
                             "快递公司", "运单号", "跟踪链接"}),
    "shipment_exception": frozenset({"单号", "客户名称", "快递公司", "运单号", "状态", "事件时间",
                                     "地址", "跟踪链接"}),
    "gate_failed": frozenset({"单号", "客户名称", "问题", "问题数", "可放行"}),
    "release_requested": frozenset({"单号", "客户名称", "申请人", "金额", "校验"}),
    "shipment_stuck": frozenset({"单号", "客户名称", "快递公司", "运单号", "状态", "最后更新",
                                 "小时", "跟踪链接"}),
    "shipment_held": frozenset({"单号", "客户名称", "快递公司", "包裹", "原因", "次数",
                                "重试时间"}),
    "urgent_order": frozenset({"单号", "客户名称", "加急人", "原因", "发货仓", "地址",
                               "预计送达时间", "时间"}),
    "daily_report": frozenset({"日期", "新增订单", "已发货", "已签收", "挂起订单", "异常件",
                               "准时率", "推送失败", "看板链接"}),
    "chat_reply": frozenset({"文本"}),
    "chat_card": frozenset({"标题"}),
    "customer_unbound": frozenset({"单号", "客户名称", "客户姓名", "电话", "跟踪链接"}),
    "push_failed": frozenset({"单号", "客户名称", "原通知", "渠道", "原因"}),
}

Part = Callable[[Mapping[str, Any]], str]


class TemplateError(ConfigError):
    """A template or an override is wrong; the message names the template and the part."""


@dataclass(frozen=True)
class Rendered:
    template: str
    parts: Mapping[str, str]

    @property
    def text(self) -> str:
        """The whole message as plain text (console, logs)."""
        if self.parts.get("text"):
            return self.parts["text"]
        if self.parts.get("markdown"):
            return self.parts["markdown"]
        return "\n".join(v for k, v in self.parts.items() if k not in ("url", "btntxt") and v)


class Renderer:
    """Compiled, validated templates by name (``<event>.<kind>``)."""

    def __init__(self, parts: Mapping[str, Mapping[str, Part]]) -> None:
        self._parts = {name: dict(p) for name, p in parts.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._parts))

    def parts_of(self, template: str) -> tuple[str, ...]:
        return tuple(self._template(template))

    def render(self, template: str, context: Mapping[str, Any]) -> Rendered:
        """Render every part; jinja2.UndefinedError if the context lacks a variable."""
        return Rendered(template, {name: part(context).strip()
                                   for name, part in self._template(template).items()})

    def _template(self, name: str) -> Mapping[str, Part]:
        try:
            return self._parts[name]
        except KeyError:
            raise KeyError(f"no notification template {name!r}") from None


# ---- loading ---------------------------------------------------------------------------

ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                         trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
# Parts WeCom reads as HTML (a text card's description: <div class="gray">): values are
# escaped there. Template files say `{% autoescape true %}` in these blocks; overrides of
# them are wrapped in it. Every other part is plain text to WeChat/WeCom.
HTML_PARTS = frozenset({"description"})


def split_name(name: str) -> tuple[str, str]:
    """``shipped.wechat_oa`` → (``shipped``, ``wechat_oa``), checked."""
    event, _, kind = name.partition(".")
    if event not in VARIABLES or kind not in KINDS:
        raise TemplateError(f"template {name!r}: expected <event>.<kind> with an event of "
                            f"{', '.join(VARIABLES)} and a kind of {', '.join(KINDS)}")
    return event, kind


def check_variables(source: str, event: str, where: str) -> None:
    """Raise TemplateError naming `where` if `source` uses a variable `event` lacks."""
    try:
        ast = ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: template syntax error on line {exc.lineno}: "
                            f"{exc.message}") from None
    unknown = meta.find_undeclared_variables(ast) - VARIABLES[event] - set(ENV.globals)
    if unknown:
        raise TemplateError(
            f"{where}: unknown variable {', '.join(sorted(unknown))} "
            f"(event {event} provides: {', '.join(sorted(VARIABLES[event]))})")


def simple_to_jinja(source: str) -> str:
    """``{单号}`` → ``{{ 单号 }}`` when the text has no jinja2 markup of its own."""
    if "{{" in source or "{%" in source:
        return source
    return _SIMPLE.sub(lambda m: "{{ " + m.group(1) + " }}", source)


def _block_part(template: jinja2.Template, block: str) -> Part:
    def render(context: Mapping[str, Any]) -> str:
        return "".join(template.blocks[block](template.new_context(dict(context))))
    return render


def _base(path: Path) -> tuple[str, dict[str, Part]]:
    name = path.name.removesuffix(".j2")
    event, _ = split_name(name)
    source = path.read_text(encoding="utf-8")
    check_variables(source, event, path.name)
    template = ENV.from_string(source)
    if not template.blocks:
        raise TemplateError(f"{path.name}: a notification template needs at least one block")
    return name, {block: _block_part(template, block) for block in template.blocks}


def _override_part(part: str, source: Any, event: str, where: str) -> Part:
    if not isinstance(source, str):
        raise TemplateError(f"{where}: expected a string, got {source!r}")
    source = simple_to_jinja(source)
    check_variables(source, event, where)
    if part in HTML_PARTS:
        source = "{% autoescape true %}" + source + "{% endautoescape %}"
    return ENV.from_string(source).render


def _merge(name: str, base: dict[str, Part], table: Any) -> dict[str, Part]:
    where = f'templates."{name}"'
    if not isinstance(table, Mapping):
        raise TemplateError(f"{where}: expected a table of parts, e.g. text = \"…\"")
    event, kind = split_name(name)
    new = {part: _override_part(part, src, event, f"{where}.{part}")
           for part, src in table.items()}
    if kind == "wechat_oa":
        if any(p not in OA_RESERVED for p in new):  # the operator's 公众号 keys replace ours
            base = {p: f for p, f in base.items() if p in OA_RESERVED}
    else:
        unknown = sorted(set(new) - set(base))
        if unknown:
            raise TemplateError(f"{where}.{unknown[0]}: unknown part "
                                f"(parts: {', '.join(base)})")
    return {**base, **new}


def load(overrides: Mapping[str, Any] | None = None, directory: Path = TEMPLATES) -> Renderer:
    """Compile and check every template in `directory` and the config overrides."""
    parts = dict(_base(path) for path in sorted(directory.glob("*.j2")))
    for name, table in (overrides or {}).items():
        if name not in parts:
            raise TemplateError(f'templates."{name}": unknown template '
                                f"(known: {', '.join(sorted(parts))})")
        parts[name] = _merge(name, parts[name], table)
    return Renderer(parts)
