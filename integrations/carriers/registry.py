"""Which providers are enabled (exactly those whose keys are set, DESIGN.md §5) and which
courier each one serves (bot/domain/couriers.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.domain import couriers
from bot.domain.couriers import Service
from integrations.carriers import jd, kuaidi100, sf, zto
from integrations.carriers.base import (
    DEFAULT_TIMEOUT,
    CarrierClient,
    CarrierDisabled,
    missing_keys,
)

Factory = Callable[..., CarrierClient]
CARRIERS: dict[str, tuple[tuple[str, ...], Factory]] = {
    "kuaidi100": (kuaidi100.REQUIRED_KEYS, kuaidi100.Kuaidi100Client.from_settings),
    "sf": (sf.REQUIRED_KEYS, sf.SfClient.from_settings),
    "zto": (zto.REQUIRED_KEYS, zto.ZtoClient.from_settings),
    "jd": (jd.REQUIRED_KEYS, jd.JdClient.from_settings),
}
ENABLED = "已启用"


def enabled_clients(settings: Any, http: httpx.AsyncClient, *,
                    timeout: float = DEFAULT_TIMEOUT) -> dict[str, CarrierClient]:
    """A client per carrier whose keys are all configured; the others are left out."""
    clients: dict[str, CarrierClient] = {}
    for code, (_keys, factory) in CARRIERS.items():
        try:
            clients[code] = factory(settings, http, timeout=timeout)
        except CarrierDisabled:
            continue
    return clients


def status_report(settings: Any) -> dict[str, str]:
    """{"sf": "已启用", "zto": "未配置密钥：ZTO_APP_KEY, ZTO_APP_SECRET", ...}"""
    report = {}
    for code, (keys, _factory) in CARRIERS.items():
        missing = missing_keys(settings, keys)
        report[code] = f"未配置密钥：{', '.join(missing)}" if missing else ENABLED
    return report


# ---- couriers and their providers (bot/domain/couriers.py) ---------------------------------

@dataclass
class Providers:
    """The clients a running installation uses, by courier and by tracking route.

    `shipping`: courier → the client that issues its e-waybills (direct, or Kuaidi100 with
    the courier's account); empty in sandbox mode. `tracking`: client key → client for the
    tracking sweep and the push route (`sf`, `zto`, `jd`, `kuaidi100` for pushes, and
    `kuaidi100.<courier>` for each courier Kuaidi100 serves). `serving`: courier → the
    tracking key of its provider.
    """

    sandbox: bool
    plan: dict[str, Service]
    shipping: dict[str, CarrierClient] = field(default_factory=dict)
    tracking: dict[str, CarrierClient] = field(default_factory=dict)
    serving: dict[str, str] = field(default_factory=dict)


HttpFor = Callable[[str], httpx.AsyncClient]


def build(settings: Any, http_for: HttpFor, *, timeout: float = DEFAULT_TIMEOUT) -> Providers:
    """One client per live provider, each on the HTTP client `http_for(provider)` gives."""
    out = Providers(sandbox=not couriers.is_live(settings), plan=couriers.plan(settings))
    for code, (_keys, factory) in CARRIERS.items():
        if code == couriers.KUAIDI100:
            continue
        try:
            out.tracking[code] = factory(settings, http_for(code), timeout=timeout)
        except CarrierDisabled:
            continue
    accounts = settings.kuaidi100_couriers
    k100_ready = not missing_keys(settings, kuaidi100.REQUIRED_KEYS)
    if k100_ready:
        http = http_for(couriers.KUAIDI100)
        out.tracking[couriers.KUAIDI100] = kuaidi100.Kuaidi100Client.from_settings(
            settings, http, timeout=timeout)  # pushes of every courier come here
        for courier, account in accounts.items():
            out.tracking[f"kuaidi100.{courier}"] = kuaidi100.Kuaidi100Client.from_settings(
                settings, http, timeout=timeout, account=account)
    for courier, service in out.plan.items():
        if service.provider == couriers.KUAIDI100:
            key = f"kuaidi100.{courier}"
        elif service.provider in out.tracking:
            key = service.provider
        else:
            continue
        out.shipping[courier] = out.tracking[key]
        out.serving[courier] = key
    return out


def describe(settings: Any) -> str:
    """The courier → provider table as text (start-up log, `bot.py carriers`)."""
    rows = [("courier", "name", "provider", "note"), *couriers.table(settings)]
    widths = [max(_width(r[i]) for r in rows) for i in range(3)]
    lines = []
    for row in rows:
        cells = [row[i] + " " * (widths[i] - _width(row[i])) for i in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    mode = "sandbox mode (no live provider configured)" if not couriers.is_live(settings) \
        else "live"
    return f"carriers: {mode}\n" + "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
