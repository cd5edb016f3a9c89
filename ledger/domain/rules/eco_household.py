"""ECO_HOUSEHOLD: individual/household eco mileage over a 6-month window (PROGRAM_RULES §2.1).

- Eligible only with electricity registered and at least two registered energy types.
- r = 1 − Σ fᵢ·currentᵢ / Σ fᵢ·baselineᵢ (CO₂-weighted; baseline = mean of the two
  previous years' same window).
- r < 5 % → 0; 5 % ≤ r < 10 % → 10,000; 10 % ≤ r < 15 % → 30,000; r ≥ 15 % → 50,000.
- Usage up by 10 % or more (r ≤ −10 %) → 0 and the energy-saving notice flag.
"""

from __future__ import annotations

from fractions import Fraction

from ledger.domain.codes import Flag
from ledger.domain.rules.common import RuleResult, pct
from ledger.domain.rules.energy import (
    DEFAULT_EMISSION_FACTORS,
    EmissionFactors,
    HouseholdUsage,
    reduction_rate,
)
from ledger.domain.rules.tiers import Tier, pick

WINDOW_MONTHS = 6

TABLE: tuple[Tier, ...] = (
    Tier(pct(5), 10_000, "5_to_10pct"),
    Tier(pct(10), 30_000, "10_to_15pct"),
    Tier(pct(15), 50_000, "15pct_plus"),
)
BELOW = "below_5pct"
NOTICE_AT = -pct(10)
"""r at or below this (usage up 10 % or more) triggers the energy-saving notice."""


def eligibility(usage: HouseholdUsage) -> str | None:
    """The code of the reason `usage` is not eligible, or `None` when it is (§2.1)."""
    if usage.electricity is None:
        return "no_electricity"
    if usage.registered() < 2:
        return "single_type"
    return None


def rate_award(
    rate: Fraction | None, ineligible: str | None, table: tuple[Tier, ...], below: str
) -> RuleResult:
    """Shared tail of the household and season rules."""
    if ineligible is not None:
        return RuleResult(0, ineligible)
    if rate is None:
        return RuleResult(0, "no_baseline")
    amount, code = pick(table, rate, below)
    return RuleResult(amount, code)


def award(
    usage: HouseholdUsage,
    factors: EmissionFactors = DEFAULT_EMISSION_FACTORS,
    table: tuple[Tier, ...] = TABLE,
) -> RuleResult:
    """The ECO_HOUSEHOLD award for one member's window."""
    ineligible = eligibility(usage)
    rate = reduction_rate(usage, factors)
    if ineligible is None and rate is not None and rate <= NOTICE_AT:
        return RuleResult(0, "usage_rose_10pct", frozenset({Flag.ENERGY_SAVING_NOTICE}))
    return rate_award(rate, ineligible, table, BELOW)
