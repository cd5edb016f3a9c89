"""Property tests: monotone awards, bike caps, org amounts from the table."""

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.errors import DecisionNotAllowed
from ledger.domain.rules import bike, car, eco_household, eco_org, season
from ledger.domain.rules.bike import BikeMonth
from ledger.domain.rules.car import CarDistance
from ledger.domain.rules.eco_org import OrgCategory, OrgDecision, OrgRank
from ledger.domain.rules.energy import HouseholdUsage, TypeUsage
from ledger.domain.types import YearMonth

amounts = st.decimals(min_value=0, max_value=10**6, places=3)
positive = st.decimals(min_value=Decimal("0.001"), max_value=10**6, places=3)


def usage(
    current_e: Decimal, current_g: Decimal, base_e: Decimal, base_g: Decimal
) -> HouseholdUsage:
    return HouseholdUsage(
        electricity=TypeUsage(current_e, base_e, base_e),
        gas=TypeUsage(current_g, base_g, base_g),
    )


@given(amounts, amounts, positive, positive, amounts, amounts)
def test_household_and_season_never_decrease_as_usage_falls(
    ce: Decimal, cg: Decimal, be: Decimal, bg: Decimal, less_e: Decimal, less_g: Decimal
) -> None:
    # Lower current usage means a higher reduction; the award must not go down.
    more = usage(ce, cg, be, bg)
    less = usage(max(ce - less_e, Decimal(0)), max(cg - less_g, Decimal(0)), be, bg)
    assert eco_household.award(less).amount >= eco_household.award(more).amount
    assert season.eco_award(less).amount >= season.eco_award(more).amount


@given(positive, amounts, amounts)
def test_car_never_decreases_as_the_reduction_grows(
    baseline: Decimal, actual: Decimal, less: Decimal
) -> None:
    better = CarDistance(baseline, max(actual - less, Decimal(0)))
    assert car.award(better).amount >= car.award(CarDistance(baseline, actual)).amount


# a member's BIKE year: (month, ride days, ride minutes) per month, months distinct
BIKE_YEAR = st.lists(
    st.tuples(st.integers(1, 12), st.integers(0, 28), st.integers(0, 28 * 1440)),
    max_size=12,
    unique_by=lambda t: t[0],
)


@given(BIKE_YEAR, st.integers(0, 20_000))
def test_bike_never_passes_its_caps(rows: list[tuple[int, int, int]], before: int) -> None:
    rides = [BikeMonth(YearMonth(2024, m), d, min(mins, d * 1440)) for m, d, mins in rows]
    results = bike.year_awards(rides, earned_before=before)
    assert all(0 <= r.amount <= bike.MONTHLY_CAP for r in results)
    assert sum(r.amount for r in results) <= max(bike.YEARLY_CAP - before, 0)
    for ride, result in zip(rides, results, strict=True):
        if ride.ride_days < bike.MIN_DAYS:
            assert result.amount == 0


@given(
    st.sampled_from(OrgCategory),
    st.decimals(min_value=0, max_value=10**5, places=2),
    st.sampled_from(OrgRank),
    st.decimals(min_value=-100, max_value=100, places=2),
)
def test_org_awards_always_come_from_the_table(
    category: OrgCategory, size: Decimal, rank: OrgRank, reduction: Decimal
) -> None:
    try:
        result = eco_org.award(OrgDecision(category, size, rank, reduction))
    except DecisionNotAllowed:
        assert rank is not OrgRank.NONE
        assert reduction < 10 or (category is OrgCategory.GENERAL and size < 10)
        return
    assert result.amount in eco_org.all_amounts()
    if reduction < 10:
        assert result.amount == 0


@given(st.fractions(min_value=-2, max_value=1), st.fractions(min_value=0, max_value=1))
def test_tier_pick_is_monotone(rate: Fraction, more: Fraction) -> None:
    from ledger.domain.rules.tiers import pick

    low = pick(eco_household.TABLE, rate, "below")[0]
    high = pick(eco_household.TABLE, rate + more, "below")[0]
    assert high >= low


def _spelled_out_caps(rides: list[tuple[int, int]], before: int) -> list[tuple[int, str]]:
    """§2.4 written out once more, independently of ledger.domain.rules.bike."""
    out, earned = [], before
    for days, minutes in rides:
        if days < 10:
            out.append((0, "under_10_days"))
            continue
        amount, tier = (minutes * 3, "per_minute")
        if amount > 2_000:
            amount, tier = 2_000, "monthly_cap"
        room = max(16_000 - earned, 0)
        if amount > room:
            amount, tier = room, ("yearly_cap_remainder" if room else "yearly_cap_reached")
        earned += amount
        out.append((amount, tier))
    return out


@given(BIKE_YEAR, st.integers(0, 20_000))
def test_bike_year_awards_and_the_pipelines_ordered_form_agree(
    rows: list[tuple[int, int, int]], before: int
) -> None:
    """`ordered_year_amounts` (the feed pipeline's form, months in order, no objects) gives what
    `year_awards` gives in any order, and both what the rule says written out."""
    rides = [BikeMonth(YearMonth(2024, m), d, min(mins, d * 1440)) for m, d, mins in rows]
    by_month = sorted(rides, key=lambda r: r.month)
    pairs = [(r.ride_days, r.ride_minutes) for r in by_month]
    expected = _spelled_out_caps(pairs, before)
    assert bike.ordered_year_amounts(pairs, before) == expected
    results = bike.year_awards(rides, before)
    given_order = {r.month: (x.amount, x.tier) for r, x in zip(rides, results, strict=True)}
    assert [given_order[r.month] for r in by_month] == expected
