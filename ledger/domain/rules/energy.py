"""Energy usage of a member and its CO₂-weighted reduction rate (PROGRAM_RULES §2.1, §2.5).

Project choice (§2.1): the energy types are combined by their CO₂ emissions; the factors are
configurable and their defaults and sources are documented in docs/feeds.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import (
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
)
from fractions import Fraction

from ledger.domain.rules.common import exact, require_non_negative


@dataclass(frozen=True, slots=True)
class EmissionFactors:
    """CO₂ emission factors in kgCO₂ per unit of each energy type (all `Decimal`)."""

    electricity_kg_per_kwh: Decimal = Decimal("0.4781")
    gas_kg_per_m3: Decimal = Decimal("2.176")
    water_kg_per_m3: Decimal = Decimal("0.332")
    heat_kg_per_mcal: Decimal = Decimal("0.0476")

    def __post_init__(self) -> None:
        for name in (
            "electricity_kg_per_kwh",
            "gas_kg_per_m3",
            "water_kg_per_m3",
            "heat_kg_per_mcal",
        ):
            require_non_negative(name, getattr(self, name))


DEFAULT_EMISSION_FACTORS = EmissionFactors()


@dataclass(frozen=True, slots=True)
class TypeUsage:
    """Usage of one energy type: the current window and the same window 1 and 2 years ago."""

    current: Decimal
    prev1: Decimal
    prev2: Decimal

    def __post_init__(self) -> None:
        require_non_negative("current", self.current)
        require_non_negative("prev1", self.prev1)
        require_non_negative("prev2", self.prev2)

    @property
    def baseline(self) -> Fraction:
        """Average of the two previous years (exact)."""
        return (exact(self.prev1) + exact(self.prev2)) / 2


@dataclass(frozen=True, slots=True)
class HouseholdUsage:
    """Usage of a household member's registered energy types; `None` = not registered."""

    electricity: TypeUsage | None = None
    gas: TypeUsage | None = None
    water: TypeUsage | None = None
    heat: TypeUsage | None = None

    def registered(self) -> int:
        """Number of registered energy types."""
        return sum(t is not None for t in (self.electricity, self.gas, self.water, self.heat))


# Sums and products of finite decimals are exact given enough digits; the traps turn any
# rounding into an error instead of a silent inexact result (then we fall back to Fraction).
_EXACT = Context(prec=200, traps=[Inexact, Rounded, InvalidOperation, Overflow, DivisionByZero])


def _pairs(
    usage: HouseholdUsage, factors: EmissionFactors
) -> tuple[tuple[TypeUsage, Decimal], ...]:
    return tuple(
        (type_usage, factor)
        for type_usage, factor in (
            (usage.electricity, factors.electricity_kg_per_kwh),
            (usage.gas, factors.gas_kg_per_m3),
            (usage.water, factors.water_kg_per_m3),
            (usage.heat, factors.heat_kg_per_mcal),
        )
        if type_usage is not None
    )


def co2_totals(
    usage: HouseholdUsage, factors: EmissionFactors = DEFAULT_EMISSION_FACTORS
) -> tuple[Fraction, Fraction]:
    """(current, baseline) CO₂ in kg over the registered types, exact."""
    pairs = _pairs(usage, factors)
    try:
        # Fast path: exact decimal arithmetic; baseline·2 avoids the division by 2.
        current = Decimal(0)
        double_baseline = Decimal(0)
        for type_usage, f in pairs:
            current = _EXACT.add(current, _EXACT.multiply(f, type_usage.current))
            previous = _EXACT.add(type_usage.prev1, type_usage.prev2)
            double_baseline = _EXACT.add(double_baseline, _EXACT.multiply(f, previous))
        return Fraction(current), Fraction(double_baseline) / 2
    except DecimalException:
        exact_current = sum((exact(f) * exact(t.current) for t, f in pairs), Fraction(0))
        exact_baseline = sum((exact(f) * t.baseline for t, f in pairs), Fraction(0))
        return exact_current, exact_baseline


def reduction_rate(
    usage: HouseholdUsage, factors: EmissionFactors = DEFAULT_EMISSION_FACTORS
) -> Fraction | None:
    """r = 1 − Σ fᵢ·currentᵢ / Σ fᵢ·baselineᵢ, exact; `None` when the baseline is zero."""
    current, baseline = co2_totals(usage, factors)
    if baseline == 0:
        return None
    return 1 - current / baseline
