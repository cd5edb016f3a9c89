"""Fine-dust season special points, Dec 1 – Mar 31 (PROGRAM_RULES §2.5).

- ECO_SEASON: reduction as in §2.1 (same eligibility, CO₂-weighted) over the 4-month season
  against the same season of the two previous years: r ≥ 30 % → 12,000;
  20 % ≤ r < 30 % → 10,000; else 0. (No energy-saving notice: §2.5 does not ask for one.)
- CAR_SEASON: season distance ≤ 1,850 km → 10,000; else 0. Registration before the season
  is checked by the caller (the member registry), not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.rules.common import RuleResult, pct, require_non_negative
from ledger.domain.rules.eco_household import eligibility, rate_award
from ledger.domain.rules.energy import (
    DEFAULT_EMISSION_FACTORS,
    EmissionFactors,
    HouseholdUsage,
    reduction_rate,
)
from ledger.domain.rules.tiers import Tier

ECO_TABLE: tuple[Tier, ...] = (
    Tier(pct(20), 10_000, "20_to_30pct"),
    Tier(pct(30), 12_000, "30pct_plus"),
)
ECO_BELOW = "below_20pct"

CAR_LIMIT_KM = Decimal(1850)
"""Half of Seoul's 4-month average of 3,700 km."""
CAR_AWARD = 10_000


def eco_award(
    usage: HouseholdUsage,
    factors: EmissionFactors = DEFAULT_EMISSION_FACTORS,
    table: tuple[Tier, ...] = ECO_TABLE,
) -> RuleResult:
    """The ECO_SEASON award for one household's season."""
    return rate_award(reduction_rate(usage, factors), eligibility(usage), table, ECO_BELOW)


@dataclass(frozen=True, slots=True)
class CarSeasonDistance:
    """Distance a car drove during the season, in km."""

    season_km: Decimal

    def __post_init__(self) -> None:
        require_non_negative("season_km", self.season_km)


def car_award(
    distance: CarSeasonDistance, limit_km: Decimal = CAR_LIMIT_KM, amount: int = CAR_AWARD
) -> RuleResult:
    """The CAR_SEASON award: `amount` if the car drove at most `limit_km`."""
    if distance.season_km <= limit_km:
        return RuleResult(amount, f"at_most_{limit_km}km")
    return RuleResult(0, f"over_{limit_km}km")
