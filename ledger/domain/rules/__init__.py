"""Award rules, one module per program (PROGRAM_RULES §2); pure functions over frozen values."""

from ledger.domain.rules import bike, car, eco_household, eco_org, season
from ledger.domain.rules.bike import BikeMonth
from ledger.domain.rules.car import CarDistance
from ledger.domain.rules.common import RuleResult
from ledger.domain.rules.eco_org import OrgCategory, OrgDecision, OrgRank
from ledger.domain.rules.energy import (
    DEFAULT_EMISSION_FACTORS,
    EmissionFactors,
    HouseholdUsage,
    TypeUsage,
    reduction_rate,
)
from ledger.domain.rules.season import CarSeasonDistance

__all__ = [
    "DEFAULT_EMISSION_FACTORS",
    "BikeMonth",
    "CarDistance",
    "CarSeasonDistance",
    "EmissionFactors",
    "HouseholdUsage",
    "OrgCategory",
    "OrgDecision",
    "OrgRank",
    "RuleResult",
    "TypeUsage",
    "bike",
    "car",
    "eco_household",
    "eco_org",
    "reduction_rate",
    "season",
]
