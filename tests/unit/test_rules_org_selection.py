"""ECO_ORG as the plans say (issue 14, item 6): selection columns, the in-kind reward flagged,
the table versioned by plan year and chosen by the award period."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ledger.domain.codes import Flag, Program
from ledger.domain.errors import DecisionNotAllowed
from ledger.domain.rules import eco_org
from ledger.domain.rules.eco_org import OrgCategory, OrgDecision, OrgRank, OrgTable
from ledger.feeds import ComputedAward, FeedOptions, Reject, iter_awards
from tests.keyring import KEYS

G, NONE, TOP = OrgCategory.GENERAL, OrgRank.NONE, OrgRank.TOP
HEADER = (
    "member_id,category,size_toe,rank,reduction_pct,electricity_registered,energy_types,"
    "saving_case\n"
)


def decision(
    rank: OrgRank, electricity: bool = True, types: int = 2, case: bool = True
) -> OrgDecision:
    return OrgDecision(G, Decimal(120), rank, Decimal(12), electricity, types, case)


def test_unranked_reward_is_in_kind_and_needs_the_selection() -> None:
    ok = eco_org.award(decision(NONE))
    assert (ok.amount, ok.tier, ok.flags) == (200_000, "unranked_50toe_plus", {Flag.IN_KIND})
    assert eco_org.award(decision(NONE, case=False)).amount == 0
    assert eco_org.award(decision(NONE, case=False)).tier == "no_saving_case"
    assert eco_org.award(decision(NONE, electricity=False)).tier == "no_electricity"
    assert eco_org.award(decision(NONE, types=1)).tier == "single_type"
    assert eco_org.award(decision(TOP)).flags == frozenset()  # a ranked award is paid


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"case": False}, "no saving case"),
        ({"electricity": False}, "electricity is not registered"),
        ({"types": 1}, "1 energy type(s); at least 2 are needed"),
    ],
)
def test_a_rank_needs_the_selection(kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(DecisionNotAllowed, match=text.replace("(", r"\(").replace(")", r"\)")):
        eco_org.award(decision(TOP, **kwargs))  # type: ignore[arg-type]


def test_the_award_period_chooses_the_table_version() -> None:
    assert eco_org.table_for(2017).plan_year == 2018
    assert eco_org.table_for(2020).plan_year == 2018
    assert eco_org.table_for(2021).plan_year == 2021
    assert eco_org.table_for(2030).plan_year == 2021
    # the 2021 plan states only 50,000-10,000,000 per evaluation: the 2018 cells stand
    assert OrgTable(2021) == eco_org.TABLE_2021
    assert all(50_000 <= a <= 10_000_000 for a in eco_org.all_amounts() if a)
    cheaper = OrgTable(2022, unranked_large=150_000)
    table = eco_org.table_for(2023, (*eco_org.TABLES, cheaper))
    assert eco_org.award(decision(NONE), table).amount == 150_000


def test_org_feed_carries_the_selection_columns(tmp_path: Path) -> None:
    path = tmp_path / "org.csv"
    path.write_text(
        HEADER
        + "O1,general,120,none,12,true,2,true\n"
        + "O2,general,120,none,12,true,2,false\n"
        + "O3,general,120,top,12,true,1,true\n"
        + "O4,general,120,top,12,maybe,2,true\n",
        encoding="utf-8",
    )
    items = list(
        iter_awards(
            Program.ECO_ORG,
            path,
            options=FeedOptions(org_period="2024-12..2025-03", award_key=KEYS.award),
        )
    )
    good = [i for i in items if isinstance(i, ComputedAward)]
    assert [(i.member_id, i.amount, i.tier, i.flags) for i in good] == [
        ("O1", 200_000, "unranked_50toe_plus", {Flag.IN_KIND}),
        ("O2", 0, "no_saving_case", frozenset()),
    ]
    assert [(r.line, r.reason) for r in items if isinstance(r, Reject)] == [
        (
            4,
            "rank: decision not allowed by the §2.2 table: rank top needs the selection "
            "conditions: 1 energy type(s); at least 2 are needed; correct the decision",
        ),
        (5, "electricity_registered: 'maybe' is not true or false"),
    ]
