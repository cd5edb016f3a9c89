"""ECO_HOUSEHOLD (§2.1) and ECO_SEASON (§2.5) at every tier boundary."""

from decimal import Decimal
from fractions import Fraction

import pytest

from ledger.domain.codes import Flag
from ledger.domain.rules import eco_household, season
from ledger.domain.rules.energy import (
    DEFAULT_EMISSION_FACTORS,
    EmissionFactors,
    HouseholdUsage,
    TypeUsage,
    co2_totals,
    reduction_rate,
)

D = Decimal


def usage_with_rate(rate: str) -> HouseholdUsage:
    """Electricity and gas both reduced by exactly `rate`, so r == rate whatever the factors."""
    keep = 1 - D(rate)
    return HouseholdUsage(
        electricity=TypeUsage(D(1000) * keep, D(900), D(1100)),
        gas=TypeUsage(D(100) * keep, D(100), D(100)),
    )


@pytest.mark.parametrize(
    ("rate", "amount", "tier"),
    [
        ("0.0499", 0, "below_5pct"),
        ("0.05", 10_000, "5_to_10pct"),
        ("0.0501", 10_000, "5_to_10pct"),
        ("0.0999", 10_000, "5_to_10pct"),
        ("0.10", 30_000, "10_to_15pct"),
        ("0.1001", 30_000, "10_to_15pct"),
        ("0.1499", 30_000, "10_to_15pct"),
        ("0.15", 50_000, "15pct_plus"),
        ("0.1501", 50_000, "15pct_plus"),
        ("1", 50_000, "15pct_plus"),
        ("0", 0, "below_5pct"),
        ("-0.0999", 0, "below_5pct"),
    ],
)
def test_household_tiers(rate: str, amount: int, tier: str) -> None:
    usage = usage_with_rate(rate)
    assert reduction_rate(usage) == Fraction(D(rate))
    result = eco_household.award(usage)
    assert (result.amount, result.tier, result.flags) == (amount, tier, frozenset())


@pytest.mark.parametrize("rate", ["-0.10", "-0.1001", "-2"])
def test_household_usage_rose_10pct_is_flagged(rate: str) -> None:
    result = eco_household.award(usage_with_rate(rate))
    assert result.amount == 0
    assert result.tier == "usage_rose_10pct"
    assert result.flags == frozenset({Flag.ENERGY_SAVING_NOTICE})


def test_household_needs_electricity_and_two_types() -> None:
    gas = TypeUsage(D(1), D(100), D(100))
    water = TypeUsage(D(1), D(100), D(100))
    elec = TypeUsage(D(1), D(100), D(100))
    assert eco_household.award(HouseholdUsage(gas=gas, water=water)).tier == "no_electricity"
    assert eco_household.award(HouseholdUsage(electricity=elec)).tier == "single_type"
    assert eco_household.award(HouseholdUsage(electricity=elec, water=water)).amount == 50_000


def test_household_zero_baseline() -> None:
    zero = TypeUsage(D(5), D(0), D(0))
    result = eco_household.award(HouseholdUsage(electricity=zero, gas=zero))
    assert (result.amount, result.tier) == (0, "no_baseline")


def test_types_are_combined_by_co2() -> None:
    # Electricity 10 % down, gas 10 % up: weighted by the default factors.
    usage = HouseholdUsage(
        electricity=TypeUsage(D(900), D(1000), D(1000)),
        gas=TypeUsage(D(110), D(100), D(100)),
    )
    current, baseline = co2_totals(usage)
    assert current == Fraction(D("900") * D("0.4781") + D("110") * D("2.176"))
    assert baseline == Fraction(D("1000") * D("0.4781") + D("100") * D("2.176"))
    # 0.4781*100 saved vs 2.176*10 added: r = (47.81 - 21.76) / 695.7
    assert reduction_rate(usage) == Fraction(D("26.05")) / Fraction(D("695.7"))
    assert eco_household.award(usage).tier == "below_5pct"  # r ≈ 3.74 %
    # The factors are configurable: ignoring gas leaves electricity's exact 10 %.
    only_electricity = EmissionFactors(gas_kg_per_m3=D(0))
    assert reduction_rate(usage, only_electricity) == Fraction(1, 10)
    assert eco_household.award(usage, only_electricity).amount == 30_000
    assert DEFAULT_EMISSION_FACTORS.electricity_kg_per_kwh == D("0.4781")


@pytest.mark.parametrize(
    ("rate", "amount", "tier"),
    [
        ("0.1999", 0, "below_20pct"),
        ("0.20", 10_000, "20_to_30pct"),
        ("0.2001", 10_000, "20_to_30pct"),
        ("0.2999", 10_000, "20_to_30pct"),
        ("0.30", 12_000, "30pct_plus"),
        ("0.3001", 12_000, "30pct_plus"),
        ("-0.5", 0, "below_20pct"),
    ],
)
def test_eco_season_tiers(rate: str, amount: int, tier: str) -> None:
    result = season.eco_award(usage_with_rate(rate))
    assert (result.amount, result.tier, result.flags) == (amount, tier, frozenset())


def test_eco_season_eligibility_as_household() -> None:
    gas = TypeUsage(D(1), D(100), D(100))
    assert season.eco_award(HouseholdUsage(gas=gas, water=gas)).tier == "no_electricity"
    assert season.eco_award(HouseholdUsage(electricity=gas)).tier == "single_type"


@pytest.mark.parametrize(
    ("km", "amount"),
    [("0", 10_000), ("1849.9", 10_000), ("1850", 10_000), ("1850.01", 0), ("3700", 0)],
)
def test_car_season(km: str, amount: int) -> None:
    assert season.car_award(season.CarSeasonDistance(D(km))).amount == amount
