"""BIKE payout cadence (PROGRAM_RULES §2.4): accrued monthly, paid once per payout period."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.errors import InvalidValue
from ledger.domain.rules import bike
from ledger.domain.rules.bike_payout import (
    Accrual,
    Cadence,
    is_closed,
    parse_cadence,
    payout_period,
    period_months,
    plan_payouts,
)
from ledger.domain.types import YearMonth

M = YearMonth.parse


@pytest.mark.parametrize(
    ("cadence", "month", "period"),
    [
        (Cadence.YEARLY, "2025-01", "2025"),
        (Cadence.YEARLY, "2025-12", "2025"),
        (Cadence.HALF_YEARLY, "2025-06", "2025-H1"),
        (Cadence.HALF_YEARLY, "2025-07", "2025-H2"),
        (Cadence.QUARTERLY, "2025-03", "2025-Q1"),
        (Cadence.QUARTERLY, "2025-04", "2025-Q2"),
        (Cadence.QUARTERLY, "2025-12", "2025-Q4"),
        (Cadence.MONTHLY, "2025-05", "2025-05"),
    ],
)
def test_payout_period_of_a_month(cadence: Cadence, month: str, period: str) -> None:
    assert payout_period(M(month), cadence) == period
    assert M(month) in period_months(period)


def test_period_months_and_closing() -> None:
    assert period_months("2025") == [M(f"2025-{m:02d}") for m in range(1, 13)]
    assert period_months("2025-H2")[0] == M("2025-07") and len(period_months("2025-H2")) == 6
    assert period_months("2025-Q3") == [M("2025-07"), M("2025-08"), M("2025-09")]
    assert period_months("2025-05") == [M("2025-05")]
    assert not is_closed("2025", M("2025-11")) and is_closed("2025", M("2025-12"))
    assert is_closed("2025-Q1", M("2025-03")) and not is_closed("2025-Q2", M("2025-05"))
    for bad in ("2025-H3", "2025-Q0", "25", "2025-13", "2025-X1"):
        with pytest.raises(InvalidValue, match="period"):
            period_months(bad)


def test_parse_cadence_names_the_choices() -> None:
    assert parse_cadence(" Half-Yearly ") is Cadence.HALF_YEARLY
    with pytest.raises(InvalidValue, match="yearly, half-yearly, quarterly, monthly"):
        parse_cadence("weekly")


def test_plan_pays_closed_periods_once_per_member() -> None:
    accrued = [
        Accrual("B1", M("2025-01"), 2_000),
        Accrual("B1", M("2025-02"), 300),
        Accrual("B1", M("2025-04"), 0),  # earned nothing: no award for it
        Accrual("B2", M("2025-03"), 900),
        Accrual("B2", M("2025-04"), 700),  # Q2 not closed through 2025-05
    ]
    plan = plan_payouts(accrued, Cadence.QUARTERLY, M("2025-05"))
    assert [(p.member_id, p.period, p.amount, p.months) for p in plan] == [
        ("B1", "2025-Q1", 2_300, (M("2025-01"), M("2025-02"))),
        ("B2", "2025-Q1", 900, (M("2025-03"),)),
    ]
    assert plan_payouts(accrued, Cadence.YEARLY, M("2025-11")) == []


@st.composite
def member_years(draw: st.DrawFn) -> list[bike.BikeMonth]:
    months = draw(st.lists(st.integers(1, 12), unique=True, max_size=12))
    return [
        bike.BikeMonth(M(f"2025-{m:02d}"), draw(st.integers(0, 28)), 0)
        if draw(st.booleans())
        else bike.BikeMonth(M(f"2025-{m:02d}"), 20, draw(st.integers(0, 28 * 60)))
        for m in months
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(member_years(), min_size=1, max_size=4),
    st.lists(st.sampled_from(list(Cadence)), min_size=1, max_size=3),
    st.lists(st.integers(1, 12), min_size=1, max_size=4),
)
def test_caps_hold_over_accrual_and_payout(
    imports: list[list[bike.BikeMonth]], cadences: list[Cadence], throughs: list[int]
) -> None:
    """Random accrual imports of one member (each through the one cap implementation, with what
    earlier imports accrued) and payouts at changing cadences: payouts never exceed 16,000 in
    the year, and once the year is closed they sum to what accrued."""
    accrued: dict[YearMonth, int] = {}
    for rides in imports:
        new = [r for r in rides if r.month not in accrued]
        for ride, result in zip(new, bike.year_awards(new, sum(accrued.values())), strict=True):
            accrued[ride.month] = result.amount
    paid: set[YearMonth] = set()
    total = 0
    for n, through in enumerate([*sorted(throughs), 12]):
        cadence = cadences[n % len(cadences)]
        unpaid = [Accrual("B1", m, a) for m, a in accrued.items() if m not in paid]
        for payout in plan_payouts(unpaid, cadence, M(f"2025-{through:02d}")):
            assert not paid & set(payout.months)
            paid |= set(payout.months)
            total += payout.amount
            assert total <= bike.YEARLY_CAP
    assert total == sum(accrued.values()) <= bike.YEARLY_CAP


def test_the_contract_takes_a_yearly_bike_payout() -> None:
    """A yearly payout may carry a whole year's accrual (16,000, §2.4): the deployed BIKE max
    award must take it, or the payout would fail on chain with AwardTooLarge."""
    from bridge.deploy import DEFAULT_PROGRAMS
    from ledger.domain.codes import Program

    year = [bike.BikeMonth(M(f"2025-{m:02d}"), 20, 1_000) for m in range(1, 13)]
    [payout] = plan_payouts(
        [
            Accrual("B1", r.month, a.amount)
            for r, a in zip(year, bike.year_awards(year), strict=True)
        ],
        Cadence.YEARLY,
        M("2025-12"),
    )
    assert payout.amount == bike.YEARLY_CAP
    assert DEFAULT_PROGRAMS[Program.BIKE.value]["max_award"] >= payout.amount


def test_the_cadence_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from ledger.settings import Settings

    assert Settings().bike_payout is Cadence.YEARLY
    monkeypatch.setenv("MILEAGE_BIKE_PAYOUT", "quarterly")
    assert Settings().bike_payout is Cadence.QUARTERLY
    monkeypatch.setenv("MILEAGE_BIKE_PAYOUT", "weekly")
    with pytest.raises(ValidationError, match="yearly"):
        Settings()


def test_the_payout_tier_has_a_label() -> None:
    """The wallet's history labels a payout award (main's history labels, merged)."""
    from api.services.history_labels import tier_label
    from ledger.service.bike_accruals import PAYOUT_TIER

    assert tier_label(PAYOUT_TIER, "en") == "accrued mileage paid out"
    assert tier_label(PAYOUT_TIER, "ko") == "적립 마일리지 지급"
