"""Report figures of §4."""

from decimal import Decimal

import pytest

from ledger.domain import report
from ledger.domain.errors import InvalidValue

D = Decimal


def test_participation_growth() -> None:
    # (110 - 100) / 100 * 100 = 10 %
    assert report.participation_growth_pct(110, [90, 100, 110]) == D("10.00")
    # mean 100/3: (40 - 33.33..) / 33.33.. = 20 %
    assert report.participation_growth_pct(40, [33, 33, 34]) == D("20.00")
    assert report.participation_growth_pct(1, [1, 1, 2], places=4) == D("-25.0000")
    with pytest.raises(InvalidValue, match="exactly 3"):
        report.participation_growth_pct(1, [1, 2])
    with pytest.raises(InvalidValue, match="undefined"):
        report.participation_growth_pct(1, [0, 0, 0])


def test_car_tco2_matches_2020_figures() -> None:
    # 167 M km at 0.2289 kg/km ≈ 38,226 t (the plan reports 38,222 t).
    assert report.car_tco2(D(167_000_000)) == D("38226.300")


def test_toe_and_co2() -> None:
    assert report.toe_from_energy(heat_mcal=D(10_000)) == D("1.000")
    assert report.toe_from_energy(electricity_kwh=D(1000), places=4) == D("0.2290")
    assert report.tco2_from_energy(electricity_kwh=D(1000)) == D("0.478")
    assert report.tco2_from_toe(D(287_479), places=0) == D(563_085)
    assert report.savings_krw(D("1.5")) == 990_587


def test_round_half_up() -> None:
    from fractions import Fraction

    assert report.round_half_up(Fraction(5, 2), 0) == D(3)
    assert report.round_half_up(Fraction(-5, 2), 0) == D(-3)
    assert report.round_half_up(Fraction(1, 3), 2) == D("0.33")


def test_expiry_donation_is_kept_apart_and_years_are_kst() -> None:
    from ledger.domain.codes import EntryKind, Reason

    f = report.YearFigures()
    assert f.add(EntryKind.GRANT, Reason.NONE, 50_000) == 50_000
    assert f.add(EntryKind.EXPIRY, Reason.EXPIRY, 7_000) == -7_000
    assert f.add(EntryKind.EXPIRY, Reason.EXPIRY_DONATION, 3_000) == -3_000
    assert f.add(EntryKind.DEDUCTION, Reason.TAX_PAYMENT, 1_000) == -1_000
    assert f.add(EntryKind.DEDUCTION, Reason.DONATION, 500) == -500
    assert (f.expired, f.donated) == (7_000, 3_000)
    assert f.spent == {"TAX_PAYMENT": 1_000, "DONATION": 500}
    f.budget, f.issued = 200_000, 50_000
    assert f.execution_pct == D("25.00")
    # 2025-12-31 15:00 UTC is already 2026-01-01 in Korea
    assert report.fiscal_year_of(1_767_193_200) == 2026
    assert report.fiscal_year_of(1_767_193_199) == 2025
    assert report.month_of(1_767_193_200) == "2026-01"


def test_every_program_has_savings_factors() -> None:
    f = report.DEFAULT_REPORT_FACTORS
    assert f.krw_per_toe == 660_391 and report.KCAL_PER_TOE == 10**7
    with pytest.raises(InvalidValue):
        report.ReportFactors(bike_km_per_minute=D(-1))
