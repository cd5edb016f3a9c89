"""ECO_ORG: organisation eco mileage from the committee's decision (PROGRAM_RULES §2.2).

Selection needs a reduction of at least 10 %, electricity registered, two or more energy
types and a submitted saving case (절감사례); the committee (for schools, the education
office) ranks the selected organisations. The award depends on category, size in TOE and
rank; unranked organisations that meet the selection get an **in-kind reward** (보상품) worth
200,000 (≥ 50 TOE) or 100,000, recorded at its value and flagged `in_kind` (docs/rules.md
§2.2, project choice). A rank the table has no cell for, or for an organisation that does not
meet the selection, raises `DecisionNotAllowed`.

The table is versioned by plan year (`TABLES`; the award period's first year picks the
newest version not after it, `table_for`). The 2021 plan (4-1) states organisation incentives
only as "5만~10백만원" (50,000 to 10,000,000) per evaluation, which every 2018 cell lies
within: its version keeps the 2018 cells.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from ledger.domain.codes import Flag
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
MIN_ENERGY_TYPES = 2


@dataclass(frozen=True, slots=True)
class OrgTable:
    """The §2.2 award table of one plan year."""

    plan_year: int
    general_bands: tuple[tuple[Decimal, str, int, int, int], ...] = GENERAL_BANDS
    public_row: tuple[int, int, int] = PUBLIC_ROW
    school_row: tuple[int, int, int] = SCHOOL_ROW
    unranked_large_toe: Decimal = UNRANKED_LARGE_TOE
    unranked_large: int = UNRANKED_LARGE
    unranked_small: int = UNRANKED_SMALL


TABLE_2018 = OrgTable(2018)
"""2018 plan §2 ② (인센티브 부여)."""
TABLE_2021 = replace(TABLE_2018, plan_year=2021)
"""2021 plan 4-1: only the range 50,000–10,000,000 per evaluation; the 2018 cells stand."""
TABLES: tuple[OrgTable, ...] = (TABLE_2018, TABLE_2021)


def table_for(year: int, tables: tuple[OrgTable, ...] = TABLES) -> OrgTable:
    """The newest table whose plan year is not after `year` (the oldest for earlier years)."""
    ordered = sorted(tables, key=lambda t: t.plan_year)
    chosen = ordered[0]
    for table in ordered:
        if table.plan_year <= year:
            chosen = table
    return chosen


@dataclass(frozen=True, slots=True)
class OrgDecision:
    """One organisation's committee decision for a round."""

    category: OrgCategory
    size_toe: Decimal
    rank: OrgRank
    reduction_pct: Decimal
    electricity_registered: bool = True
    energy_types: int = MIN_ENERGY_TYPES
    saving_case: bool = True

    def __post_init__(self) -> None:
        require_non_negative("size_toe", self.size_toe)
        if not 0 <= self.energy_types <= 4:
            raise InvalidValue("energy_types", f"{self.energy_types} is not between 0 and 4")
        if not self.reduction_pct.is_finite() or self.reduction_pct > 100:
            raise InvalidValue(
                "reduction_pct", f"{self.reduction_pct} is not a percentage of at most 100"
            )


def all_amounts(tables: tuple[OrgTable, ...] = TABLES) -> frozenset[int]:
    """Every amount the §2.2 tables can award (0 included)."""
    amounts = {0}
    for t in tables:
        amounts.update((t.unranked_large, t.unranked_small, *t.public_row, *t.school_row))
        for _, _, *row in t.general_bands:
            amounts.update(row)
    return frozenset(amounts)


def selection_problems(decision: OrgDecision) -> list[tuple[str, str]]:
    """(tier code, problem) for every selection condition besides the reduction that fails."""
    problems: list[tuple[str, str]] = []
    if not decision.electricity_registered:
        problems.append(("no_electricity", "electricity is not registered"))
    if decision.energy_types < MIN_ENERGY_TYPES:
        problems.append(
            ("single_type", f"{decision.energy_types} energy type(s); at least 2 are needed")
        )
    if not decision.saving_case:
        problems.append(("no_saving_case", "no saving case (절감사례) was submitted"))
    return problems


def award(decision: OrgDecision, table: OrgTable = TABLE_2018) -> RuleResult:
    """The ECO_ORG award for one decision under `table`; raises `DecisionNotAllowed` for
    impossible ones. An unranked reward is in kind (flag `in_kind`)."""
    selected = decision.reduction_pct >= SELECTION_PCT
    missing = selection_problems(decision)
    if decision.rank is OrgRank.NONE:
        if not selected:
            return RuleResult(0, "below_10pct")
        if missing:
            return RuleResult(0, missing[0][0])
        in_kind = frozenset({Flag.IN_KIND})
        if decision.size_toe >= table.unranked_large_toe:
            return RuleResult(table.unranked_large, "unranked_50toe_plus", in_kind)
        return RuleResult(table.unranked_small, "unranked_under_50toe", in_kind)
    if not selected:
        raise DecisionNotAllowed(
            f"rank {decision.rank.value} needs a reduction of at least {SELECTION_PCT} % "
            f"(reduction_pct is {decision.reduction_pct})"
        )
    if missing:
        raise DecisionNotAllowed(
            f"rank {decision.rank.value} needs the selection conditions: "
            + ", ".join(problem for _, problem in missing)
        )
    column = _RANK_COLUMN[decision.rank]
    if decision.category is OrgCategory.PUBLIC:
        return RuleResult(table.public_row[column], f"public_{decision.rank.value}")
    if decision.category is OrgCategory.SCHOOL:
        return RuleResult(table.school_row[column], f"school_{decision.rank.value}")
    for at_least, band, *row in table.general_bands:
        if decision.size_toe >= at_least:
            return RuleResult(row[column], f"{band}_{decision.rank.value}")
    raise DecisionNotAllowed(
        f"general buildings under {GENERAL_BANDS[-1][0]} TOE cannot be ranked "
        f"(size_toe is {decision.size_toe}, rank {decision.rank.value})"
    )
