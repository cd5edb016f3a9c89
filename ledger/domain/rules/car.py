"""CAR: driving-distance reduction (PROGRAM_RULES §2.3).

d = baseline − actual (km), rate = d / baseline. d ≤ 0 → 0. Otherwise the award is the
higher of the rate tier and the distance tier (project choice: the plan's table pairs both
scales per column). Lower bounds are inclusive; the first row starts just above 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ledger.domain.rules.common import RuleResult, exact, pct, require_non_negative
from ledger.domain.rules.tiers import Tier, pick

RATE_TABLE: tuple[Tier, ...] = (
    Tier(Fraction(0), 20_000, "rate_0_to_10pct"),
    Tier(pct(10), 30_000, "rate_10_to_20pct"),
    Tier(pct(20), 50_000, "rate_20_to_30pct"),
    Tier(pct(30), 70_000, "rate_30pct_plus"),
)
DISTANCE_TABLE: tuple[Tier, ...] = (
    Tier(Fraction(0), 20_000, "km_0_to_1000"),
    Tier(Fraction(1000), 30_000, "km_1000_to_2000"),
    Tier(Fraction(2000), 50_000, "km_2000_to_3000"),
    Tier(Fraction(3000), 70_000, "km_3000_plus"),
)


@dataclass(frozen=True, slots=True)
class CarDistance:
    """A car's baseline and actual distance for its period, in km."""

    baseline_km: Decimal
    actual_km: Decimal

    def __post_init__(self) -> None:
        require_non_negative("baseline_km", self.baseline_km)
        require_non_negative("actual_km", self.actual_km)


def award(
    distance: CarDistance,
    rate_table: tuple[Tier, ...] = RATE_TABLE,
    distance_table: tuple[Tier, ...] = DISTANCE_TABLE,
) -> RuleResult:
    """The CAR award: the better of the rate tier and the distance tier (0 if d ≤ 0)."""
    reduction = exact(distance.baseline_km) - exact(distance.actual_km)
    if reduction <= 0:
        return RuleResult(0, "no_reduction")
    # baseline > 0 here, because actual >= 0 and reduction > 0.
    rate = reduction / exact(distance.baseline_km)
    by_rate = pick(rate_table, rate, "no_reduction")
    by_distance = pick(distance_table, reduction, "no_reduction")
    amount, code = by_rate if by_rate[0] >= by_distance[0] else by_distance
    return RuleResult(amount, code)
