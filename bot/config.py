"""Typed settings: embedded defaults < config.toml < environment.

`load(path, environ)` is the only place that reads the environment. Errors name the
offending key (``allocation.rules[2].strategy: unknown strategy 'closest'``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from typing import Any

from bot.domain.couriers import COURIERS, Kuaidi100Account
from bot.domain.pricing import PricingPolicy
from bot.domain.rules import AllocationRule as AllocationRule
from bot.domain.rules import CalibrationConfig as CalibrationConfig
from bot.domain.rules import CarrierConfig as CarrierConfig
from bot.domain.rules import PromiseConfig as PromiseConfig
from bot.domain.tracking import TrackingConfig
from bot.ratelimit import RateLimits
from bot.serving import ServingConfig, limits_from_toml

DEFAULTS_PATH = Path(__file__).with_name("defaults.toml")
STRATEGIES = ("nearest", "fewest_splits", "fixed")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key."""


@dataclass(frozen=True)
class Secret:
    """A string that never shows itself in repr or logs."""

    value: str

    def __repr__(self) -> str:
        return "Secret('**********')" if self.value else "Secret('')"

    def __str__(self) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True)
class Settings:
    db_url: str = "sqlite://lvyue.db"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = 1 << 20
    secret: Secret = Secret("")
    regions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rules: tuple[AllocationRule, ...] = ()
    default_rule: AllocationRule = field(default_factory=lambda: AllocationRule(name="默认"))
    credit_tolerance: float = 0.0
    default_weight_kg: float = 0.5  # [shipping]: per unit, for products without 重量
    promise: PromiseConfig = field(default_factory=PromiseConfig)
    quiet_hours: tuple[time, time] = (time(22, 0), time(8, 0))
    carriers: Mapping[str, CarrierConfig] = field(default_factory=dict)
    # [kuaidi100.couriers.<courier>]: couriers Kuaidi100 issues waybills for (bot/domain/couriers)
    kuaidi100_couriers: Mapping[str, Kuaidi100Account] = field(default_factory=dict)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    auto_ship_minutes: float = 10.0  # sandbox mode: ship confirmed orders after this delay
    notify: Mapping[str, Any] = field(default_factory=dict)  # [notify], read by messages/
    templates: Mapping[str, Any] = field(default_factory=dict)  # [templates."event.kind"]
    daily_report_at: time = time(18, 30)  # China time; the managers' daily report
    delay_risk_hours: float = 4.0  # a promise this close, parcel not yet out for delivery
    delay_check_minutes: float = 30.0
    env: Mapping[str, Secret] = field(default_factory=dict)
    source: str = "defaults"
    # Security (bot/serving.py, bot/ratelimit.py, bot/domain/pricing.py).
    public_url_explicit: bool = False  # set by LVYUE_PUBLIC_URL or [server] public_url
    serving: ServingConfig = field(default_factory=ServingConfig)
    limits: RateLimits = field(default_factory=RateLimits)
    pricing: PricingPolicy = field(default_factory=PricingPolicy)
    # [parser.lexicon.rewrites|terms|brands|models]: added to bot/domain/parser_lexicon.toml
    parser_lexicon: Mapping[str, Any] = field(default_factory=dict)
    # [http.X] concurrency, deadline_s: each outside system's bulkhead (integrations/http.py)
    http: Mapping[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def configured_keys(self) -> frozenset[str]:
        """The environment keys that are set: what the domain may know of the secrets
        (bot/domain/rules.py RuleBook), their names only."""
        return frozenset(k for k, v in self.env.items() if v)


# Environment keys of the public contract (DESIGN.md §5) kept as secrets for the adapters.
ENV_KEYS = (
    "WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY",
    "WECOM_API_BASE", "WECOM_BOT_TOKEN", "WECOM_BOT_AES_KEY", "WECOM_WEBHOOK_KEY",
    "WECHAT_APP_ID", "WECHAT_SECRET", "WECHAT_API_BASE",
    "KUAIDI100_KEY", "KUAIDI100_CUSTOMER", "KUAIDI100_SECRET", "KUAIDI100_SALT",
    "KUAIDI100_POLL_BASE", "KUAIDI100_API_BASE",
    "SF_PARTNER_ID", "SF_CHECKWORD", "SF_MONTHLY_CARD", "SF_API_BASE",
    "ZTO_APP_KEY", "ZTO_APP_SECRET", "ZTO_API_BASE",
    "JD_APP_KEY", "JD_APP_SECRET", "JD_ACCESS_TOKEN", "JD_CUSTOMER_CODE", "JD_API_BASE",
    "AMAP_KEY",
)


def load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, an optional TOML file and the environment."""
    environ = os.environ if environ is None else environ
    data = _read_toml(DEFAULTS_PATH)
    source = "defaults"
    if path is None and Path("config.toml").exists():
        path = "config.toml"
    if path is not None:
        data = _merge(data, _read_toml(Path(path)))
        source = str(path)
    settings = from_mapping(data, environ, source=source)
    from bot.domain import parser_data

    parser_data.extend(settings.parser_lexicon)  # indexes built from now on use it
    return settings


def defaults(environ: Mapping[str, str] | None = None) -> Settings:
    """The embedded defaults alone (ignores any config.toml in the working directory)."""
    return from_mapping(_read_toml(DEFAULTS_PATH), environ or {}, source="defaults")


def from_mapping(
    data: Mapping[str, Any], environ: Mapping[str, str] | None = None, source: str = "mapping"
) -> Settings:
    """Validate an already-merged TOML mapping (tests build Settings this way)."""
    environ = environ or {}
    server = _table(data, "server")
    regions = _regions(_table(data, "regions"))
    alloc = _table(data, "allocation")
    rules = tuple(
        _rule(r, f"allocation.rules[{i}]", regions)
        for i, r in enumerate(_list(alloc, "rules", "allocation"))
    )
    default_rule = _rule(_table(alloc, "default", "allocation"), "allocation.default", regions)
    gates = _table(data, "gates")
    carriers = {
        code: _carrier(code, c, regions)
        for code, c in _table(data, "carriers").items()
    }
    accounts = _kuaidi100_accounts(_table(_table(data, "kuaidi100"), "couriers", "kuaidi100"))
    for code in accounts:  # a courier served through Kuaidi100 needs no [carriers.X] of its own
        if code not in carriers:
            carriers[code] = CarrierConfig(code=code, name=_courier_name(code),
                                           transit={"default": 72.0})
    for rule in (*rules, default_rule):
        for c in rule.carriers:
            if c not in carriers:
                raise ConfigError(f"allocation rule '{rule.name}'.carriers: unknown carrier {c!r}")
    quiet = _table(data, "quiet_hours")
    notify = _table(data, "notify")
    templates = _table(data, "templates")
    try:
        tracking = TrackingConfig.from_toml(_table(data, "tracking"))
        serving = ServingConfig.from_toml(server)
        limits = limits_from_toml(_table(data, "limits"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    public_url = environ.get("LVYUE_PUBLIC_URL") or _str(server, "public_url", "server", "")
    return Settings(
        db_url=environ.get("LVYUE_DB") or _str(server, "db", "server", "sqlite://lvyue.db"),
        host=_str(server, "host", "server", "127.0.0.1"),
        port=_int(server, "port", "server", 8080),
        public_url=(public_url or _local_url(server, serving)).rstrip("/"),
        max_body_bytes=_int(server, "max_body_bytes", "server", 1 << 20),
        secret=Secret(environ.get("LVYUE_SECRET") or _str(server, "secret", "server", "")),
        regions=regions,
        rules=rules,
        default_rule=default_rule,
        credit_tolerance=_num(gates, "credit_tolerance", "gates", 0.0),
        default_weight_kg=_weight(_table(data, "shipping")),
        promise=_promise(_table(data, "promise")),
        quiet_hours=(_hhmm(quiet, "start", "quiet_hours", "22:00"),
                     _hhmm(quiet, "end", "quiet_hours", "08:00")),
        carriers=carriers,
        kuaidi100_couriers=accounts,
        tracking=tracking,
        auto_ship_minutes=_num(_table(data, "sandbox"), "auto_ship_minutes", "sandbox", 10.0),
        notify=notify,
        templates=templates,
        daily_report_at=_hhmm(notify, "daily_report_at", "notify", "18:30"),
        delay_risk_hours=_positive(notify, "delay_risk_hours", "notify", 4.0),
        delay_check_minutes=_positive(notify, "delay_check_minutes", "notify", 30.0),
        env={k: Secret(environ[k]) for k in ENV_KEYS if environ.get(k)},
        source=source,
        public_url_explicit=bool(public_url),
        serving=serving,
        limits=limits,
        pricing=_pricing(_table(data, "pricing")),
        parser_lexicon=_parser_lexicon(_table(_table(data, "parser"), "lexicon", "parser")),
        http=_http(_table(data, "http")),
    )


# The outside systems with a bulkhead of their own: WeCom, the 公众号, carriers (all carrier
# providers share `carrier` unless one has its own).
HTTP_SYSTEMS = ("wecom", "notify", "carrier", "sf", "zto", "jd", "kuaidi100")
MAX_DEADLINE_S = 300.0


def _http(table: Mapping[str, Any]) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for name, entry in table.items():
        where = f"http.{name}"
        if name not in HTTP_SYSTEMS:
            raise ConfigError(f"{where}: unknown system (known: {', '.join(HTTP_SYSTEMS)})")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a table with concurrency and deadline_s")
        for key in entry:
            if key not in ("concurrency", "deadline_s"):
                raise ConfigError(f"{_k(where, key)}: unknown key (concurrency, deadline_s)")
        concurrency = _int(entry, "concurrency", where, 16)
        if concurrency < 1:
            raise ConfigError(f"{_k(where, 'concurrency')}: expected at least 1, got 0")
        deadline = _positive(entry, "deadline_s", where, 15.0)
        if deadline > MAX_DEADLINE_S:
            raise ConfigError(f"{_k(where, 'deadline_s')}: expected at most "
                              f"{MAX_DEADLINE_S:g} s, got {deadline:g}")
        out[name] = (concurrency, deadline)
    return out


def _parser_lexicon(table: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind, entries in table.items():
        where = f"parser.lexicon.{kind}"
        if kind not in ("rewrites", "terms", "brands", "models"):
            raise ConfigError(f"{where}: unknown table (rewrites, terms, brands, models)")
        if not isinstance(entries, Mapping):
            raise ConfigError(f"{where}: expected a table of word = word")
        for word, value in entries.items():
            ok = isinstance(value, str) or (kind == "brands" and isinstance(value, list)
                                            and all(isinstance(v, str) for v in value))
            if not ok or not str(word).strip():
                raise ConfigError(f"{where}.{word}: expected a word"
                                  + (" or a list of brands" if kind == "brands" else ""))
        out[kind] = dict(entries)
    return out


def for_serving(settings: Settings, host: str, port: int, public_port: int | None
                ) -> Settings:
    """Settings for a server listening on host:port (and on public_port, when given): links
    name the port actually served, unless a public URL is configured."""
    serving = replace(settings.serving, public_port=public_port)
    new = replace(settings, host=host, port=port, serving=serving)
    if not settings.public_url_explicit:
        new = replace(new, public_url=_local_url({"host": host, "port": port}, serving))
    return new


def _weight(data: Mapping[str, Any]) -> float:
    kg = _num(data, "default_weight_kg", "shipping", 0.5)
    if not 0 < kg <= 1000:
        raise ConfigError(f"shipping.default_weight_kg: expected kg per unit in (0, 1000], "
                          f"got {kg:g}")
    return kg


def _pricing(data: Mapping[str, Any]) -> PricingPolicy:
    share = _num(data, "max_discount", "pricing", 0.2)
    if share >= 1:
        raise ConfigError(f"pricing.max_discount: expected a fraction below 1, got {share:g}")
    return PricingPolicy(max_discount=share)


def _local_url(server: Mapping[str, Any], serving: ServingConfig) -> str:
    """Without a public URL, links point at this server as configured: the public listener
    when there is one (customers' links are served there), else host:port."""
    if serving.public_port:
        host, port = serving.public_host, serving.public_port
    else:
        host = _str(server, "host", "server", "127.0.0.1")
        port = _int(server, "port", "server", 8080)
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: the loopback name still works
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _table(data: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{_k(where, key)}: expected a table")
    return value


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{_k(where, key)}: expected a list")
    return value


def _k(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _str(data: Mapping[str, Any], key: str, where: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{_k(where, key)}: expected a string, got {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{_k(where, key)}: expected a non-negative integer, got {value!r}")
    return value


def _num(data: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{_k(where, key)}: expected a non-negative number, got {value!r}")
    return float(value)


def _positive(data: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = _num(data, key, where, default)
    if value <= 0:
        raise ConfigError(f"{_k(where, key)}: expected a positive number, got {value!r}")
    return value


def _strs(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{_k(where, key)}: expected a list of strings")
    return tuple(value)


def _hhmm(data: Mapping[str, Any], key: str, where: str, default: str) -> time:
    return parse_hhmm(_str(data, key, where, default), _k(where, key))


def parse_hhmm(value: str, key: str = "time") -> time:
    """Parse "HH:MM" or raise ConfigError naming the key."""
    m = _HHMM.match(value.strip())
    if not m:
        raise ConfigError(f"{key}: expected HH:MM, got {value!r}")
    return time(int(m.group(1)), int(m.group(2)))


def _regions(table: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    return {name: frozenset(_strs(table, name, "regions")) for name in table}


def _rule(data: Any, where: str, regions: Mapping[str, frozenset[str]]) -> AllocationRule:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table")
    known = {"name", "categories", "regions", "strategy", "safety_stock", "warehouses",
             "carriers", "split_lines"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    strategy = _str(data, "strategy", where, "nearest")
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"{where}.strategy: unknown strategy {strategy!r} (use {', '.join(STRATEGIES)})")
    warehouses = _strs(data, "warehouses", where)
    if strategy == "fixed" and not warehouses:
        raise ConfigError(f"{where}.warehouses: strategy 'fixed' needs the warehouses to use")
    rule_regions = _strs(data, "regions", where)
    for r in rule_regions:
        if r not in regions:
            raise ConfigError(f"{where}.regions: unknown region {r!r} (define it under [regions])")
    split = data.get("split_lines", True)
    if not isinstance(split, bool):
        raise ConfigError(f"{where}.split_lines: expected true or false")
    return AllocationRule(
        name=_str(data, "name", where, where),
        categories=frozenset(c.upper() for c in _strs(data, "categories", where)),
        regions=rule_regions,
        strategy=strategy,
        safety_stock=_int(data, "safety_stock", where, 0),
        warehouses=warehouses,
        carriers=_strs(data, "carriers", where),
        split_lines=split,
    )


def _carrier(code: str, data: Any, regions: Mapping[str, frozenset[str]]) -> CarrierConfig:
    where = f"carriers.{code}"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table")
    transit_t = _table(data, "transit", where)
    transit = {lane: _num(transit_t, lane, f"{where}.transit", 0) for lane in transit_t}
    for lane in transit:
        if lane not in ("same_city", "same_province", "same_region", "default"):
            raise ConfigError(f"{where}.transit.{lane}: unknown lane "
                              "(use same_city, same_province, same_region, default)")
    if "default" not in transit:
        transit["default"] = 72.0
    lanes = []
    for i, lane in enumerate(_list(data, "lanes", where)):
        lw = f"{where}.lanes[{i}]"
        if not isinstance(lane, Mapping):
            raise ConfigError(f"{lw}: expected a table")
        lanes.append((_str(lane, "from", lw, ""), _str(lane, "to", lw, ""),
                      _num(lane, "hours", lw, 0)))
    return CarrierConfig(
        code=code,
        name=_str(data, "name", where, code),
        coverage=_strs(data, "coverage", where) or ("*",),
        exclude=_strs(data, "exclude", where),
        transit=transit,
        lanes=tuple(lanes),
    )


_ACCOUNT_KEYS = {"partner_id": "partner_id", "partner_key": "partner_key",
                 "partner_secret": "partner_secret", "partner_name": "partner_name",
                 "net": "net", "code": "code", "exp_type": "exp_type"}


def _kuaidi100_accounts(table: Mapping[str, Any]) -> dict[str, Kuaidi100Account]:
    """[kuaidi100.couriers.<code>] tables: a known courier code (or an explicit kuaidicom)."""
    out = {}
    for code, sub in table.items():
        where = f"kuaidi100.couriers.{code}"
        if not isinstance(sub, Mapping):
            raise ConfigError(f"{where}: expected a table")
        known = {*_ACCOUNT_KEYS, "kuaidicom", "extra"}
        for key in sub:
            if key not in known:
                raise ConfigError(
                    f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
        courier = COURIERS.get(code)
        kuaidicom = _str(sub, "kuaidicom", where, courier.kuaidicom if courier else "")
        if not kuaidicom:
            raise ConfigError(f"{where}: unknown courier {code!r} (known: "
                              f"{', '.join(COURIERS)}); or give its kuaidicom")
        extra = _table(sub, "extra", where)
        out[code] = Kuaidi100Account(
            courier=code, kuaidicom=kuaidicom,
            **{attr: _str(sub, key, where, "标准快递" if key == "exp_type" else "")
               for key, attr in _ACCOUNT_KEYS.items()},
            extra={str(k): _str(extra, k, f"{where}.extra", "") for k in extra})
    return out


def _courier_name(code: str) -> str:
    courier = COURIERS.get(code)
    return courier.name if courier else code


def _promise(data: Mapping[str, Any]) -> PromiseConfig:
    where = "promise"
    days = data.get("workdays", [1, 2, 3, 4, 5, 6])
    if not isinstance(days, list) or not all(isinstance(d, int) and 1 <= d <= 7 for d in days):
        raise ConfigError("promise.workdays: expected ISO weekdays 1..7")
    holidays = set()
    for h in _strs(data, "holidays", where):
        try:
            holidays.add(date.fromisoformat(h))
        except ValueError as exc:
            raise ConfigError(f"promise.holidays: bad date {h!r}") from exc
    cut = _table(data, "cutoffs", where)
    return PromiseConfig(
        pick_pack_hours=_num(data, "pick_pack_hours", where, 2.0),
        workdays=frozenset(days),
        holidays=frozenset(holidays),
        cutoffs={wh: parse_hhmm(str(v), f"promise.cutoffs.{wh}") for wh, v in cut.items()},
        delivery_window_hours=_num(data, "delivery_window_hours", where, 2.0),
        calibration=_calibration(_table(data, "calibration", where)),
    )


def _calibration(data: Mapping[str, Any]) -> CalibrationConfig:
    where = "promise.calibration"
    known = {"enabled", "min_samples", "percentile", "window_days", "every_hours", "max_change"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled: expected true or false")
    percentile = _positive(data, "percentile", where, 80.0)
    if percentile > 100:
        raise ConfigError(f"{where}.percentile: expected 1..100, got {percentile:g}")
    max_change = _num(data, "max_change", where, 0.5)
    if max_change >= 1:
        raise ConfigError(f"{where}.max_change: expected a fraction below 1, got {max_change:g}")
    min_samples = _int(data, "min_samples", where, 20)
    window_days = _int(data, "window_days", where, 60)
    for key, value in (("min_samples", min_samples), ("window_days", window_days)):
        if value < 1:
            raise ConfigError(f"{where}.{key}: expected a positive integer, got {value}")
    return CalibrationConfig(
        enabled=enabled, min_samples=min_samples, percentile=percentile,
        window_days=window_days, every_hours=_positive(data, "every_hours", where, 24.0),
        max_change=max_change)
