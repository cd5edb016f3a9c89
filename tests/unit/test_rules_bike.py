"""BIKE (§2.4): 10-day minimum, 3 per minute, 2,000 per month, 16,000 per year."""

import pytest

from ledger.domain.errors import InvalidValue
from ledger.domain.rules import bike
from ledger.domain.rules.bike import BikeMonth
from ledger.domain.types import YearMonth


def ride(month: int, days: int = 20, minutes: int = 1000, year: int = 2024) -> BikeMonth:
    return BikeMonth(YearMonth(year, month), days, minutes)


@pytest.mark.parametrize(
    ("days", "minutes", "amount", "tier"),
    [
        (9, 1000, 0, "under_10_days"),
        (10, 1000, 2_000, "monthly_cap"),
        (11, 100, 300, "per_minute"),
        (10, 666, 1_998, "per_minute"),
        (10, 667, 2_000, "monthly_cap"),  # 2,001 capped
        (10, 0, 0, "per_minute"),
    ],
)
def test_month(days: int, minutes: int, amount: int, tier: str) -> None:
    result = bike.month_award(ride(5, days, minutes))
    assert (result.amount, result.tier) == (amount, tier)


@pytest.mark.parametrize(
    ("earned", "amount", "tier"),
    [
        (13_999, 2_000, "monthly_cap"),
        (14_000, 2_000, "monthly_cap"),
        (14_001, 1_999, "yearly_cap_remainder"),
        (15_999, 1, "yearly_cap_remainder"),
        (16_000, 0, "yearly_cap_reached"),
        (17_000, 0, "yearly_cap_reached"),
    ],
)
def test_yearly_cap(earned: int, amount: int, tier: str) -> None:
    result = bike.month_award(ride(12), earned)
    assert (result.amount, result.tier) == (amount, tier)


def test_year_applies_months_in_order_whatever_the_input_order() -> None:
    rides = [ride(m) for m in (12, 3, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11)]
    results = bike.year_awards(rides)
    by_month = {r.month.month: res.amount for r, res in zip(rides, results, strict=True)}
    assert [by_month[m] for m in range(1, 13)] == [2_000] * 8 + [0] * 4
    assert sum(by_month.values()) == 16_000


def test_year_crossing_month_earns_remainder() -> None:
    rides = [ride(m, minutes=600) for m in range(1, 10)]  # 1,800 a month
    amounts = [r.amount for r in bike.year_awards(rides)]
    assert amounts == [1_800] * 8 + [1_600]


def test_year_with_earlier_feeds() -> None:
    assert [r.amount for r in bike.year_awards([ride(6)], earned_before=15_500)] == [500]


def test_year_rejects_duplicate_months_and_mixed_years() -> None:
    with pytest.raises(InvalidValue, match="one row per month"):
        bike.year_awards([ride(1), ride(1)])
    with pytest.raises(InvalidValue, match="calendar year"):
        bike.year_awards([ride(1), ride(1, year=2025)])


def test_ride_values() -> None:
    with pytest.raises(InvalidValue, match="ride_days: 30 is not between 0 and 29"):
        BikeMonth(YearMonth(2024, 2), 30, 10)
    with pytest.raises(InvalidValue, match="ride_minutes"):
        BikeMonth(YearMonth(2024, 2), 1, 1441)
