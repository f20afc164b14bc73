"""Which carriers are enabled: exactly those whose keys are set (DESIGN.md §5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

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
