"""Pure helpers for the report figures of PROGRAM_RULES §4.

All arithmetic is exact (`Fraction`) and results are `Decimal`s rounded half-up to the
requested number of places only at the end. Defaults and sources are in docs/feeds.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from ledger.domain.codes import EntryKind, Reason
from ledger.domain.errors import InvalidValue
from ledger.domain.rules.common import exact, require_non_negative
from ledger.domain.rules.energy import DEFAULT_EMISSION_FACTORS, EmissionFactors

KCAL_PER_TOE = Decimal(10_000_000)
"""1 TOE = 10⁷ kcal (PROGRAM_RULES §4)."""


@dataclass(frozen=True, slots=True)
class ReportFactors:
    """Conversion factors for report estimates (all configurable, defaults documented)."""

    electricity_kcal_per_kwh: Decimal = Decimal(2290)
    """Primary-energy basis, Korean Energy Act heat conversion table (에너지열량 환산기준)."""
    gas_kcal_per_m3: Decimal = Decimal(10550)
    """LNG city gas, gross calorific value (same table)."""
    heat_kcal_per_mcal: Decimal = Decimal(1000)
    """District heating: 1 Mcal = 1,000 kcal by definition."""
    tco2_per_toe: Decimal = Decimal("1.9587")
    """563,092 tCO₂ / 287,479 TOE, the eco mileage 2020 figures (§4)."""
    car_kgco2_per_km: Decimal = Decimal("0.2289")
    """38,222 tCO₂ / 167 M km, the car mileage 2020 figures (§4)."""
    krw_per_toe: Decimal = Decimal(660391)
    """Value of one TOE saved (§4)."""
    bike_km_per_minute: Decimal = Decimal("0.2")
    """12 km/h, a leisurely public-bike pace (project choice; configurable)."""
    bike_car_substitution: Decimal = Decimal("1")
    """Share of ridden km that replaces car km (project choice: all of it; configurable)."""
    seoul_season_km: Decimal = Decimal(3700)
    """Seoul's 4-month average driving distance (§2.5): CAR_SEASON saving = it − season km."""

    def __post_init__(self) -> None:
        for name in (
            "electricity_kcal_per_kwh",
            "gas_kcal_per_m3",
            "heat_kcal_per_mcal",
            "tco2_per_toe",
            "car_kgco2_per_km",
            "krw_per_toe",
            "bike_km_per_minute",
            "bike_car_substitution",
            "seoul_season_km",
        ):
            require_non_negative(name, getattr(self, name))


DEFAULT_REPORT_FACTORS = ReportFactors()


def round_half_up(value: Fraction, places: int) -> Decimal:
    """`value` as a Decimal with `places` decimals, rounded half away from zero."""
    if places < 0:
        raise InvalidValue("places", f"must not be negative ({places})")
    scale = 10**places
    scaled = abs(value) * scale
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    sign = "-" if value < 0 and whole else ""
    return (
        Decimal(f"{sign}{whole}")
        .scaleb(-places)
        .quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    )


def toe_from_energy(
    electricity_kwh: Decimal = Decimal(0),
    gas_m3: Decimal = Decimal(0),
    heat_mcal: Decimal = Decimal(0),
    factors: ReportFactors = DEFAULT_REPORT_FACTORS,
    places: int = 3,
) -> Decimal:
    """TOE equivalent of energy amounts (e.g. energy saved); water is not energy."""
    for name, amount in (
        ("electricity_kwh", electricity_kwh),
        ("gas_m3", gas_m3),
        ("heat_mcal", heat_mcal),
    ):
        require_non_negative(name, amount)
    kcal = (
        exact(electricity_kwh) * exact(factors.electricity_kcal_per_kwh)
        + exact(gas_m3) * exact(factors.gas_kcal_per_m3)
        + exact(heat_mcal) * exact(factors.heat_kcal_per_mcal)
    )
    return round_half_up(kcal / exact(KCAL_PER_TOE), places)


def tco2_from_energy(
    electricity_kwh: Decimal = Decimal(0),
    gas_m3: Decimal = Decimal(0),
    water_m3: Decimal = Decimal(0),
    heat_mcal: Decimal = Decimal(0),
    factors: EmissionFactors = DEFAULT_EMISSION_FACTORS,
    places: int = 3,
) -> Decimal:
    """tCO₂ of energy and water amounts with the award rules' emission factors."""
    kg = (
        exact(electricity_kwh) * exact(factors.electricity_kg_per_kwh)
        + exact(gas_m3) * exact(factors.gas_kg_per_m3)
        + exact(water_m3) * exact(factors.water_kg_per_m3)
        + exact(heat_mcal) * exact(factors.heat_kg_per_mcal)
    )
    return round_half_up(kg / 1000, places)


def tco2_from_toe(
    toe: Decimal, factors: ReportFactors = DEFAULT_REPORT_FACTORS, places: int = 3
) -> Decimal:
    """tCO₂ estimate of `toe` saved, with the program's average tCO₂/TOE."""
    require_non_negative("toe", toe)
    return round_half_up(exact(toe) * exact(factors.tco2_per_toe), places)


def car_tco2(
    km: Decimal, factors: ReportFactors = DEFAULT_REPORT_FACTORS, places: int = 3
) -> Decimal:
    """tCO₂ avoided by `km` fewer kilometres driven."""
    require_non_negative("km", km)
    return round_half_up(exact(km) * exact(factors.car_kgco2_per_km) / 1000, places)


def savings_krw(toe: Decimal, factors: ReportFactors = DEFAULT_REPORT_FACTORS) -> int:
    """KRW value of `toe` saved, rounded half-up to whole won."""
    require_non_negative("toe", toe)
    return int(round_half_up(exact(toe) * exact(factors.krw_per_toe), 0))


def participation_growth_pct(
    this_year_cumulative: int, previous_three_cumulative: Sequence[int], places: int = 2
) -> Decimal:
    """Government joint-evaluation indicator (§4), in percent.

    (this year's cumulative participants − mean of the previous three years' cumulative)
    / that mean × 100.
    """
    if len(previous_three_cumulative) != 3:
        raise InvalidValue(
            "previous_three_cumulative",
            f"needs exactly 3 yearly figures (got {len(previous_three_cumulative)})",
        )
    for value in (this_year_cumulative, *previous_three_cumulative):
        require_non_negative("cumulative participants", value)
    mean = Fraction(sum(previous_three_cumulative), 3)
    if mean == 0:
        raise InvalidValue("previous_three_cumulative", "all zero; the growth is undefined")
    return round_half_up((this_year_cumulative - mean) / mean * 100, places)


KST = timezone(timedelta(hours=9))
"""Fiscal years are calendar years in Korea Standard Time (the contract's ``fiscalYearOf``)."""


def fiscal_year_of(timestamp: int) -> int:
    """The fiscal (calendar, KST) year of a unix timestamp."""
    return datetime.fromtimestamp(timestamp, KST).year


def fiscal_year_bounds(year: int) -> tuple[int, int]:
    """Unix seconds [start, end) of fiscal year ``year`` (KST)."""
    start = datetime(year, 1, 1, tzinfo=KST)
    end = datetime(year + 1, 1, 1, tzinfo=KST)
    return int(start.timestamp()), int(end.timestamp())


def month_of(timestamp: int) -> str:
    """``YYYY-MM`` (KST) of a unix timestamp: the settlement period of conversions."""
    return datetime.fromtimestamp(timestamp, KST).strftime("%Y-%m")


@dataclass
class YearFigures:
    """Mileage flows of one program in one fiscal year (KRW), from the chain's entries.

    ``donated`` is expiring mileage of members who consented to donate it (EXPIRY entries with the
    reason EXPIRY_DONATION): owed to the energy welfare fund, kept apart from ``expired``."""

    awarded: int = 0
    converted_out: int = 0
    converted_in: int = 0
    spent: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    donated: int = 0
    corrected: int = 0
    merged_out: int = 0
    merged_in: int = 0
    refunded: int = 0
    """Given back to this program by refunds of deductions (REFUND entries)."""
    outstanding: int = 0
    """Balance at the end of the year (all credits minus all debits up to then)."""
    budget: int | None = None
    issued: int | None = None
    """What the contract counts against the year's budget."""

    @property
    def execution_pct(self) -> Decimal | None:
        if not self.budget or self.issued is None:
            return None
        return round_half_up(Fraction(self.issued * 100, self.budget), 2)

    def add(self, kind: int, reason: int, amount: int) -> int:
        """Count one entry (codes as on chain); returns its signed effect on the balance."""
        k = EntryKind(kind)
        if k is EntryKind.GRANT:
            self.awarded += amount
        elif k is EntryKind.CONVERSION_OUT:
            self.converted_out += amount
        elif k is EntryKind.CONVERSION_IN:
            self.converted_in += amount
        elif k is EntryKind.DEDUCTION:
            name = Reason(reason).name
            self.spent[name] = self.spent.get(name, 0) + amount
        elif k is EntryKind.EXPIRY:
            if Reason(reason) is Reason.EXPIRY_DONATION:
                self.donated += amount
            else:
                self.expired += amount
        elif k is EntryKind.CORRECTION:
            self.corrected += amount
        elif k is EntryKind.MERGE_OUT:
            self.merged_out += amount
        elif k is EntryKind.MERGE_IN:
            self.merged_in += amount
        elif k is EntryKind.REFUND:
            self.refunded += amount
        return amount if k.is_credit else -amount
