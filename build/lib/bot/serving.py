"""How the server faces the network: the public listener, the Host allowlist, the proxies
whose X-Forwarded-For is believed, and the rate limits ([server] and [limits] of the TOML).

Parsed here and wrapped into ConfigError by bot/config.py (like TrackingConfig): a bad value
raises ValueError naming its key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.ratelimit import Rate, RateLimits

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServingConfig:
    """[server] public_port / public_host / allowed_hosts / trusted_proxies."""

    public_port: int | None = None  # None: one listener serves everything (local trials)
    public_host: str = "0.0.0.0"
    allowed_hosts: tuple[str, ...] = ()
    # Peers whose X-Forwarded-For names the client (for per-address limits only; never for
    # deciding who is local). Loopback: nginx on the same machine.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    @classmethod
    def from_toml(cls, server: Mapping[str, Any]) -> ServingConfig:
        port = server.get("public_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 0 < port < 65536):
            raise ValueError(f"server.public_port: expected a port 1..65535, got {port!r}")
        host = server.get("public_host", "0.0.0.0")
        if not isinstance(host, str) or not host:
            raise ValueError(f"server.public_host: expected an address, got {host!r}")
        proxies = _names(server, "trusted_proxies", cls.trusted_proxies)
        for p in proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError as exc:
                raise ValueError(f"server.trusted_proxies: not an address {p!r}") from exc
        return cls(public_port=port, public_host=host,
                   allowed_hosts=tuple(h.lower() for h in _names(server, "allowed_hosts", ())),
                   trusted_proxies=proxies)


def host_allowlist(serving: ServingConfig, public_url: str, listen_host: str) -> frozenset[str]:
    """The names a request's Host may carry: the public URL's host, the loopback names, the
    admin listener's own address (when it is one), and `allowed_hosts`."""
    names = {*LOOPBACK_NAMES, *serving.allowed_hosts}
    if host := urlsplit(public_url).hostname:
        names.add(host.lower())
    if listen_host not in ("0.0.0.0", "::", ""):
        names.add(listen_host.lower())
    return frozenset(names)


def limits_from_toml(data: Mapping[str, Any]) -> RateLimits:
    """[limits]: `X_per_second` and `X_burst` for api_per_key, pages_per_address and
    pushes_per_address; 0 per second switches that limit off."""
    base = RateLimits()
    known = {f"{name}_{part}" for name in ("api_per_key", "pages_per_address",
                                           "pushes_per_address")
             for part in ("per_second", "burst")}
    for key in data:
        if key not in known:
            raise ValueError(f"limits.{key}: unknown key (known: {', '.join(sorted(known))})")

    def rate(name: str, default: Rate) -> Rate:
        per = _number(data, f"{name}_per_second", default.per_second)
        burst = _number(data, f"{name}_burst", default.burst)
        if per > 0 and burst < 1:
            raise ValueError(f"limits.{name}_burst: expected at least 1, got {burst:g}")
        return Rate(per, burst)

    return RateLimits(api_per_key=rate("api_per_key", base.api_per_key),
                      pages_per_address=rate("pages_per_address", base.pages_per_address),
                      pushes_per_address=rate("pushes_per_address", base.pushes_per_address))


def _names(data: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"server.{key}: expected a list of names")
    return tuple(value)


def _number(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"limits.{key}: expected a non-negative number, got {value!r}")
    return float(value)
