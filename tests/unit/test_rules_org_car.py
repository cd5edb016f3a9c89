"""ECO_ORG (§2.2) every table cell and boundary; CAR (§2.3) every tier boundary."""

from decimal import Decimal

import pytest

from ledger.domain.errors import DecisionNotAllowed, InvalidValue
from ledger.domain.rules import car, eco_org
from ledger.domain.rules.car import CarDistance
from ledger.domain.rules.eco_org import OrgCategory, OrgDecision, OrgRank

D = Decimal
G, P, S = OrgCategory.GENERAL, OrgCategory.PUBLIC, OrgCategory.SCHOOL
TOP, EXC, ENC, NONE = OrgRank.TOP, OrgRank.EXCELLENT, OrgRank.ENCOURAGEMENT, OrgRank.NONE


@pytest.mark.parametrize(
    ("category", "size", "rank", "amount"),
    [
        (G, "1000", TOP, 10_000_000),
        (G, "5000", EXC, 7_000_000),
        (G, "1000", ENC, 5_000_000),
        (G, "999.9", TOP, 6_000_000),
        (G, "200", EXC, 5_000_000),
        (G, "200", ENC, 3_000_000),
        (G, "199.99", TOP, 2_000_000),
        (G, "50", EXC, 1_500_000),
        (G, "50", ENC, 1_000_000),
        (G, "49.99", TOP, 1_000_000),
        (G, "10", EXC, 700_000),
        (G, "10", ENC, 500_000),
        (P, "0", TOP, 2_000_000),
        (P, "5000", EXC, 1_500_000),
        (P, "3", ENC, 1_000_000),
        (S, "0", TOP, 7_000_000),
        (S, "100", EXC, 6_000_000),
        (S, "100", ENC, 5_000_000),
    ],
)
def test_org_table(category: OrgCategory, size: str, rank: OrgRank, amount: int) -> None:
    result = eco_org.award(OrgDecision(category, D(size), rank, D("10")))
    assert result.amount == amount
    assert result.tier.endswith(rank.value)


@pytest.mark.parametrize(
    ("category", "size", "reduction", "amount", "tier"),
    [
        (G, "50", "10", 200_000, "unranked_50toe_plus"),
        (S, "49.99", "10", 100_000, "unranked_under_50toe"),
        (P, "0", "55", 100_000, "unranked_under_50toe"),
        (G, "5000", "9.99", 0, "below_10pct"),
        (G, "5000", "-3", 0, "below_10pct"),
    ],
)
def test_org_unranked(
    category: OrgCategory, size: str, reduction: str, amount: int, tier: str
) -> None:
    result = eco_org.award(OrgDecision(category, D(size), NONE, D(reduction)))
    assert (result.amount, result.tier) == (amount, tier)


def test_org_rank_below_selection_is_not_allowed() -> None:
    with pytest.raises(DecisionNotAllowed, match=r"rank top needs a reduction of at least 10"):
        eco_org.award(OrgDecision(S, D(100), TOP, D("9.99")))


def test_org_small_general_building_cannot_be_ranked() -> None:
    with pytest.raises(DecisionNotAllowed, match=r"under 10 TOE cannot be ranked"):
        eco_org.award(OrgDecision(G, D("9.99"), ENC, D(20)))


def test_org_decision_values() -> None:
    with pytest.raises(InvalidValue, match="size_toe"):
        OrgDecision(G, D(-1), TOP, D(20))
    with pytest.raises(InvalidValue, match="reduction_pct"):
        OrgDecision(G, D(1), TOP, D("100.1"))


@pytest.mark.parametrize(
    ("baseline", "actual", "amount", "tier"),
    [
        # d <= 0
        ("10000", "10000", 0, "no_reduction"),
        ("10000", "12000", 0, "no_reduction"),
        ("0", "0", 0, "no_reduction"),
        # rate scale (small distances so the distance tier stays at 20,000)
        ("1000", "999.9", 20_000, "rate_0_to_10pct"),
        ("1000", "900.1", 20_000, "rate_0_to_10pct"),
        ("1000", "900", 30_000, "rate_10_to_20pct"),
        ("1000", "899.9", 30_000, "rate_10_to_20pct"),
        ("1000", "800.1", 30_000, "rate_10_to_20pct"),
        ("1000", "800", 50_000, "rate_20_to_30pct"),
        ("1000", "700.1", 50_000, "rate_20_to_30pct"),
        ("1000", "700", 70_000, "rate_30pct_plus"),
        ("1000", "0", 70_000, "rate_30pct_plus"),
        # distance scale (large baselines so the rate tier stays low)
        ("100000", "99000.1", 20_000, "rate_0_to_10pct"),
        ("100000", "99000", 30_000, "km_1000_to_2000"),
        ("100000", "98000.1", 30_000, "km_1000_to_2000"),
        ("100000", "98000", 50_000, "km_2000_to_3000"),
        ("100000", "97000.1", 50_000, "km_2000_to_3000"),
        ("100000", "97000", 70_000, "km_3000_plus"),
        # the higher of the two
        ("5000", "3900", 50_000, "rate_20_to_30pct"),  # 22 %, 1,100 km
        ("20000", "17500", 50_000, "km_2000_to_3000"),  # 12.5 %, 2,500 km
    ],
)
def test_car_tiers(baseline: str, actual: str, amount: int, tier: str) -> None:
    result = car.award(CarDistance(D(baseline), D(actual)))
    assert (result.amount, result.tier) == (amount, tier)


def test_car_rejects_negative_distances() -> None:
    with pytest.raises(InvalidValue, match="actual_km: must not be negative"):
        CarDistance(D(1), D(-1))
