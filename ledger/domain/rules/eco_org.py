"""ECO_ORG: organisation eco mileage from the committee's decision (PROGRAM_RULES §2.2).

Selection needs a reduction of at least 10 %; the committee (for schools, the education
office) ranks the selected organisations. The award depends on category, size in TOE and
rank; unranked organisations with ≥ 10 % reduction get 200,000 (≥ 50 TOE) or 100,000.
A rank the table has no cell for raises `DecisionNotAllowed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ledger.domain.errors import DecisionNotAllowed, InvalidValue
from ledger.domain.rules.common import RuleResult, require_non_negative


class OrgCategory(StrEnum):
    """Organisation category as written in the decisions feed."""

    GENERAL = "general"
    PUBLIC = "public"
    SCHOOL = "school"


class OrgRank(StrEnum):
    """The committee's rank; NONE = selected by reduction but not ranked."""

    TOP = "top"
    EXCELLENT = "excellent"
    ENCOURAGEMENT = "encouragement"
    NONE = "none"


SELECTION_PCT = Decimal(10)
"""Minimum reduction (in %) for selection and for the unranked award."""

#: General buildings by size: (at least TOE, band code, top, excellent, encouragement),
#: checked from the largest band down.
GENERAL_BANDS: tuple[tuple[Decimal, str, int, int, int], ...] = (
    (Decimal(1000), "general_1000toe_plus", 10_000_000, 7_000_000, 5_000_000),
    (Decimal(200), "general_200_1000toe", 6_000_000, 5_000_000, 3_000_000),
    (Decimal(50), "general_50_200toe", 2_000_000, 1_500_000, 1_000_000),
    (Decimal(10), "general_10_50toe", 1_000_000, 700_000, 500_000),
)
PUBLIC_ROW = (2_000_000, 1_500_000, 1_000_000)
SCHOOL_ROW = (7_000_000, 6_000_000, 5_000_000)
UNRANKED_LARGE_TOE = Decimal(50)
UNRANKED_LARGE = 200_000
UNRANKED_SMALL = 100_000
_RANK_COLUMN = {OrgRank.TOP: 0, OrgRank.EXCELLENT: 1, OrgRank.ENCOURAGEMENT: 2}


@dataclass(frozen=True, slots=True)
class OrgDecision:
    """One organisation's committee decision for a round."""

    category: OrgCategory
    size_toe: Decimal
    rank: OrgRank
    reduction_pct: Decimal

    def __post_init__(self) -> None:
        require_non_negative("size_toe", self.size_toe)
        if not self.reduction_pct.is_finite() or self.reduction_pct > 100:
            raise InvalidValue(
                "reduction_pct", f"{self.reduction_pct} is not a percentage of at most 100"
            )


def all_amounts() -> frozenset[int]:
    """Every amount the §2.2 table can award (0 included)."""
    amounts = {0, UNRANKED_LARGE, UNRANKED_SMALL, *PUBLIC_ROW, *SCHOOL_ROW}
    for _, _, *row in GENERAL_BANDS:
        amounts.update(row)
    return frozenset(amounts)


def award(decision: OrgDecision) -> RuleResult:
    """The ECO_ORG award for one decision; raises `DecisionNotAllowed` for impossible ones."""
    selected = decision.reduction_pct >= SELECTION_PCT
    if decision.rank is OrgRank.NONE:
        if not selected:
            return RuleResult(0, "below_10pct")
        if decision.size_toe >= UNRANKED_LARGE_TOE:
            return RuleResult(UNRANKED_LARGE, "unranked_50toe_plus")
        return RuleResult(UNRANKED_SMALL, "unranked_under_50toe")
    if not selected:
        raise DecisionNotAllowed(
            f"rank {decision.rank.value} needs a reduction of at least {SELECTION_PCT} % "
            f"(reduction_pct is {decision.reduction_pct})"
        )
    column = _RANK_COLUMN[decision.rank]
    if decision.category is OrgCategory.PUBLIC:
        return RuleResult(PUBLIC_ROW[column], f"public_{decision.rank.value}")
    if decision.category is OrgCategory.SCHOOL:
        return RuleResult(SCHOOL_ROW[column], f"school_{decision.rank.value}")
    for at_least, band, *row in GENERAL_BANDS:
        if decision.size_toe >= at_least:
            return RuleResult(row[column], f"{band}_{decision.rank.value}")
    raise DecisionNotAllowed(
        f"general buildings under {GENERAL_BANDS[-1][0]} TOE cannot be ranked "
        f"(size_toe is {decision.size_toe}, rank {decision.rank.value})"
    )
