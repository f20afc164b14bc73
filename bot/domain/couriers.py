"""Couriers (who carries the parcel) and the provider that talks to each (who we call).

A courier is 顺丰, 中通, 京东 …: allocation rules and coverage name couriers. A provider is
the API we call to issue its e-waybills and track its parcels: the courier's own API with
its keys (sf, zto, jd), or Kuaidi100 with a per-courier account (`[kuaidi100.couriers.X]`,
carriers.md §1.5), or, when no live provider is configured at all, the sandbox. A courier
is served by its direct client if its keys are set, else by Kuaidi100 if configured for it,
else it is unavailable: rules skip it and the gate or hold says why. A live installation
(any provider configured) never falls back to the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.domain import vocab

if TYPE_CHECKING:
    from bot.domain.rules import RuleBook


@dataclass(frozen=True)
class Courier:
    code: str
    name: str  # the name people use: 中通快递
    aliases: tuple[str, ...]  # other ways to write it: 中通, ZTO
    kuaidicom: str  # Kuaidi100 company code (carriers.md §1.6)


COURIERS: Mapping[str, Courier] = {c.code: c for c in (
    Courier("sf", "顺丰速运", ("顺丰", "顺丰快递", "SF", "SF Express"), "shunfeng"),
    Courier("zto", "中通快递", ("中通", "ZTO"), "zhongtong"),
    Courier("jd", "京东物流", ("京东", "京东快递", "JD"), "jd"),
    Courier("yto", "圆通速递", ("圆通", "圆通快递", "YTO"), "yuantong"),
    Courier("sto", "申通快递", ("申通", "STO"), "shentong"),
    Courier("yd", "韵达快递", ("韵达", "韵达速递", "Yunda"), "yunda"),
    Courier("jtexpress", "极兔速递", ("极兔", "极兔快递", "J&T"), "jtexpress"),
    Courier("ems", "EMS", ("中国邮政EMS", "邮政EMS", "ems"), "ems"),
    Courier("youzheng", "邮政快递包裹", ("邮政", "中国邮政", "邮政包裹"), "youzhengguonei"),
    Courier("debang", "德邦快递", ("德邦",), "debangkuaidi"),
)}
# Couriers with a direct client of their own, and the environment keys it needs.
DIRECT_KEYS: Mapping[str, tuple[str, ...]] = {
    "sf": ("SF_PARTNER_ID", "SF_CHECKWORD"),
    "zto": ("ZTO_APP_KEY", "ZTO_APP_SECRET"),
    "jd": ("JD_APP_KEY", "JD_APP_SECRET", "JD_ACCESS_TOKEN", "JD_CUSTOMER_CODE"),
}
KUAIDI100_KEYS = ("KUAIDI100_KEY", "KUAIDI100_CUSTOMER", "KUAIDI100_SECRET", "KUAIDI100_SALT")
KUAIDI100 = "kuaidi100"
SANDBOX = "sandbox"
PROVIDER_NAMES = {"sf": "顺丰直连", "zto": "中通直连", "jd": "京东直连",
                  KUAIDI100: "快递100", SANDBOX: "沙箱"}


@dataclass(frozen=True)
class Kuaidi100Account:
    """`[kuaidi100.couriers.<code>]`: the courier account Kuaidi100 issues waybills under
    (e-waybill v2 `partnerId`, `partnerKey`, … carriers.md §1.5)."""

    courier: str
    kuaidicom: str
    partner_id: str = ""
    partner_key: str = ""
    partner_secret: str = ""
    partner_name: str = ""
    net: str = ""
    code: str = ""
    exp_type: str = "标准快递"
    extra: Mapping[str, str] = field(default_factory=dict)

    def label_fields(self) -> dict[str, str]:
        """The account fields of the /label/order param (only those set)."""
        fields = {"partnerId": self.partner_id, "partnerKey": self.partner_key,
                  "partnerSecret": self.partner_secret, "partnerName": self.partner_name,
                  "net": self.net, "code": self.code, **self.extra}
        return {k: v for k, v in fields.items() if v}


@dataclass(frozen=True)
class Service:
    """Who serves one courier: `provider` ("" when unavailable) and why not, in Chinese."""

    courier: str
    provider: str
    reason: str = ""

    @property
    def available(self) -> bool:
        return bool(self.provider)


def name_of(code: str) -> str:
    courier = COURIERS.get(code)
    return courier.name if courier else code


def short_name(code: str) -> str:
    """中通 rather than 中通快递, for gate messages and holds: the name every screen shows
    (bot/domain/vocab.py)."""
    return vocab.carrier_name(code)


def by_name(text: str) -> str | None:
    """The courier code for 中通 / 中通快递 / zto / ZTO / zhongtong, else None."""
    key = text.strip().casefold()
    for c in COURIERS.values():
        names = (c.code, c.name, c.kuaidicom, *c.aliases)
        if key in (n.casefold() for n in names):
            return c.code
    return None


def courier_of_kuaidicom(kuaidicom: str) -> str | None:
    for c in COURIERS.values():
        if c.kuaidicom == kuaidicom:
            return c.code
    return None


def _has(settings: RuleBook, keys: tuple[str, ...]) -> bool:
    return all(k in settings.configured_keys for k in keys)


def _missing(settings: RuleBook, keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if k not in settings.configured_keys]


def is_live(settings: RuleBook) -> bool:
    """Any live provider configured: a direct client's keys, or Kuaidi100's."""
    return (any(_has(settings, keys) for keys in DIRECT_KEYS.values())
            or _has(settings, KUAIDI100_KEYS))


def couriers_of(settings: RuleBook) -> list[str]:
    """Every courier the configuration names: [carriers.X] and Kuaidi100 accounts."""
    return list(dict.fromkeys([*settings.carriers, *settings.kuaidi100_couriers]))


def plan(settings: RuleBook) -> dict[str, Service]:
    """Courier → the provider that serves it (see the module docstring)."""
    live = is_live(settings)
    return {code: _serve(code, settings, live) for code in couriers_of(settings)}


def _serve(code: str, settings: RuleBook, live: bool) -> Service:
    if not live:
        return Service(code, SANDBOX)
    direct = DIRECT_KEYS.get(code)
    if direct and _has(settings, direct):
        return Service(code, code)
    account = code in settings.kuaidi100_couriers
    if account and _has(settings, KUAIDI100_KEYS):
        return Service(code, KUAIDI100)
    options = []
    if direct:
        options.append(f"直连需设置 {'、'.join(_missing(settings, direct))}")
    if account:
        options.append(f"快递100账号已配置，但缺少 "
                       f"{'、'.join(_missing(settings, KUAIDI100_KEYS))}")
    else:
        options.append(f"或在 [kuaidi100.couriers.{code}] 配置快递100账号")
    return Service(code, "", f"{short_name(code)}未开通：{'；'.join(options)}")


def unavailable(settings: RuleBook) -> dict[str, str]:
    """Courier → why it cannot be used now (empty in sandbox mode)."""
    return {c: s.reason for c, s in plan(settings).items() if not s.available}


def table(settings: RuleBook) -> list[tuple[str, str, str, str]]:
    """Rows for `bot.py carriers` and the start-up log: code, name, provider, note."""
    rows = []
    for code, s in plan(settings).items():
        if s.provider == KUAIDI100:
            note = f"kuaidicom={settings.kuaidi100_couriers[code].kuaidicom}"
        elif s.provider == SANDBOX:
            note = "沙箱模式：未配置任何真实承运渠道，运单号以 SBX 开头"
        else:
            note = s.reason
        provider = PROVIDER_NAMES.get(s.provider, s.provider) if s.provider else "不可用"
        rows.append((code, name_of(code), provider, note))
    return rows
