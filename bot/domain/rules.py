"""The configuration the domain reads: allocation rules, carriers' coverage and lanes, the
promise's working hours. bot/config.py reads them from TOML into these types; the domain
takes them through `RuleBook` (which `bot.config.Settings` provides), never the settings
object's secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.domain.couriers import Kuaidi100Account


@dataclass(frozen=True)
class AllocationRule:
    name: str
    categories: frozenset[str] = frozenset()
    regions: tuple[str, ...] = ()
    strategy: str = "nearest"
    safety_stock: int = 0
    warehouses: tuple[str, ...] = ()
    carriers: tuple[str, ...] = ()
    split_lines: bool = True


@dataclass(frozen=True)
class CarrierConfig:
    code: str
    name: str
    coverage: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    transit: Mapping[str, float] = field(default_factory=dict)
    lanes: tuple[tuple[str, str, float], ...] = ()


@dataclass(frozen=True)
class CalibrationConfig:
    """[promise.calibration]: transit hours learnt from delivered history (bot/calibration.py)."""

    enabled: bool = True
    min_samples: int = 20  # deliveries a lane needs before its own figure replaces the config
    percentile: float = 80.0  # of actual transit hours: the share promised in time
    window_days: int = 60
    every_hours: float = 24.0
    max_change: float = 0.5  # a learnt figure stays within configured hours × (1 ± this)


@dataclass(frozen=True)
class PromiseConfig:
    pick_pack_hours: float = 2.0
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5, 6})
    holidays: frozenset[date] = frozenset()
    cutoffs: Mapping[str, time] = field(default_factory=dict)
    delivery_window_hours: float = 2.0
    calibration: CalibrationConfig = CalibrationConfig()


class RuleBook(Protocol):
    """What the domain may read of the configuration: rules and their values, and which
    environment keys are set (their names, never their values)."""

    @property
    def regions(self) -> Mapping[str, frozenset[str]]: ...
    @property
    def rules(self) -> tuple[AllocationRule, ...]: ...
    @property
    def default_rule(self) -> AllocationRule: ...
    @property
    def carriers(self) -> Mapping[str, CarrierConfig]: ...
    @property
    def credit_tolerance(self) -> float: ...
    @property
    def kuaidi100_couriers(self) -> Mapping[str, Kuaidi100Account]: ...
    @property
    def configured_keys(self) -> frozenset[str]: ...
