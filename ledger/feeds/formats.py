"""The feed formats, one per program (docs/feeds.md), and how a row becomes a rule input.

Each format names its columns and turns one row into a `ParsedRow`: the member, the award
period, the keys that may occur only once per feed, and a thunk computing the award. BIKE
rows are computed per member-year by the pipeline instead (the yearly cap spans rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.errors import InvalidValue
from ledger.domain.rules import bike, car, eco_household, eco_org, season
from ledger.domain.rules import vehicle as cars
from ledger.domain.rules.common import RuleResult
from ledger.domain.rules.energy import (
    DEFAULT_EMISSION_FACTORS,
    EmissionFactors,
    HouseholdUsage,
    TypeUsage,
)
from ledger.domain.types import YearMonth
from ledger.feeds.cells import BOOLEANS, MAX_NUMBER_CHARS, Cells
from ledger.feeds.fields import MEMBER_ID_MAX, VEHICLE_ID_MAX
from ledger.feeds.periods import PROGRAM_STARTS, current_month, period_problem

ENERGY_TYPES: tuple[tuple[str, str], ...] = (
    ("electricity", "electricity_kwh"),
    ("gas", "gas_m3"),
    ("water", "water_m3"),
    ("heat", "heat_mcal"),
)
USAGE_COLUMNS: tuple[str, ...] = (
    "member_id",
    "window_start",
    "window_end",
    *(f"{column}{suffix}" for _, column in ENERGY_TYPES for suffix in ("", "_prev1", "_prev2")),
)
ORG_SELECTION_COLUMNS = ("electricity_registered", "energy_types", "saving_case")
ORG_COLUMNS = ("member_id", "category", "size_toe", "rank", "reduction_pct", *ORG_SELECTION_COLUMNS)
VEHICLE_COLUMNS = ("seoul_registered", "commercial", "seats")
CAR_COLUMNS = (
    "member_id",
    "vehicle_id",
    *VEHICLE_COLUMNS,
    "period_start",
    "period_end",
    "baseline_km",
    "actual_km",
)
CAR_SEASON_COLUMNS = (
    "member_id",
    "vehicle_id",
    *VEHICLE_COLUMNS,
    "season",
    "season_km",
    "start_photo_at",
    "end_photo_at",
)
BIKE_COLUMNS = ("member_id", "month", "ride_days", "ride_minutes", "pass_365")

COLUMNS: Mapping[Program, tuple[str, ...]] = {
    Program.ECO_HOUSEHOLD: USAGE_COLUMNS,
    Program.ECO_SEASON: USAGE_COLUMNS,
    Program.ECO_ORG: ORG_COLUMNS,
    Program.CAR: CAR_COLUMNS,
    Program.CAR_SEASON: CAR_SEASON_COLUMNS,
    Program.BIKE: BIKE_COLUMNS,
}


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """Settings of one feed computation.

    `org_period` is the ECO_ORG round (`YYYY-MM..YYYY-MM`), which the decisions feed does not
    carry; `factors` are the CO₂ factors of the eco rules; `starts` the first month of each
    program (ledger.feeds.periods) and `today` the current month (None: the clock's), which
    bound the periods a feed may award; `award_key` keys the award ids (`IdKeys.award`, from
    the settings: there is deliberately no default).
    """

    factors: EmissionFactors = DEFAULT_EMISSION_FACTORS
    org_period: str | None = None
    award_key: bytes = field(default=b"", repr=False)
    starts: Mapping[Program, YearMonth] = field(default_factory=lambda: PROGRAM_STARTS)
    today: YearMonth | None = None

    def check_period(
        self, cells: Cells, program: Program, first: YearMonth, last: YearMonth, columns: str
    ) -> None:
        """Record a problem when `first`..`last` lies outside `program`'s life; `columns` is
        'first_column,last_column' (or one column for both)."""
        first_column, _, last_column = columns.partition(",")
        today = self.today or current_month()
        found = period_problem(program, first, last, self.starts, today)
        if found is not None:
            at_first, problem = found
            cells.problem(first_column if at_first else (last_column or first_column), problem)


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A valid row: who, for which period, what must be unique, and how to compute it.

    `unique` holds (column, key) pairs that may occur on one row of the feed only.
    """

    member_id: str
    period: str
    unique: tuple[tuple[str, str], ...]
    compute: Callable[[], RuleResult]
    savings: tuple[tuple[str, str], ...] = ()
    """What the member saved against the baseline (unit-suffixed name, decimal text), for the
    GHG estimates of `mileage report`; negative when usage rose."""
    vehicle_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedRide:
    """A valid BIKE row (computed later, per member-year)."""

    member_id: str
    ride: bike.BikeMonth
    pass_365: bool = True
    """Holds the 365-day pass in that month (§2.4: only holders are paid)."""


def _usage(cells: Cells) -> HouseholdUsage | None:
    found: dict[str, TypeUsage | None] = {}
    unregistered: set[str] = set()
    for name, column in ENERGY_TYPES:
        names = (column, f"{column}_prev1", f"{column}_prev2")
        filled = [bool(cells.raw(c)) for c in names]
        if not any(filled):
            found[name] = None
            unregistered.add(name)
            continue
        if not all(filled):
            empty = ", ".join(c for c, f in zip(names, filled, strict=True) if not f)
            cells.problem(
                column,
                f"{empty} empty; fill all three {column} cells, or leave all three empty "
                "when the type is not registered",
            )
            found[name] = None
            continue
        values = [cells.decimal(c) for c in names]
        current, prev1, prev2 = values
        if current is None or prev1 is None or prev2 is None:
            found[name] = None
            continue
        found[name] = TypeUsage(current, prev1, prev2)
    if "electricity" in unregistered:
        cells.problem(
            "electricity_kwh", "is empty; electricity must be registered (all three cells)"
        )
    return HouseholdUsage(**found)


def _usage_row(program: Program, cells: Cells, options: FeedOptions) -> ParsedRow:
    member = cells.member_id()
    start, end = cells.month("window_start"), cells.month("window_end")
    usage = _usage(cells)
    period: str | None = None
    if start is not None and end is not None:
        if program is Program.ECO_HOUSEHOLD:
            months = eco_household.WINDOW_MONTHS
            period = cells.guard(lambda: awards.household_period(start, end, months))
        else:
            year = cells.guard(lambda: awards.season_year(start, end))
            period = None if year is None else awards.season_period(year)
        if period is not None:
            options.check_period(cells, program, start, end, "window_start,window_end")
    cells.finish()
    assert member is not None and period is not None and usage is not None
    factors = options.factors
    rule = eco_household.award if program is Program.ECO_HOUSEHOLD else season.eco_award
    compute = partial(rule, usage, factors)
    return ParsedRow(member, period, (("member_id", member),), compute, usage_savings(usage))


def usage_savings(usage: HouseholdUsage) -> tuple[tuple[str, str], ...]:
    """Baseline minus current per registered type (baseline = mean of the two previous years;
    halving a finite decimal is exact)."""
    out: list[tuple[str, str]] = []
    for name, column in ENERGY_TYPES:
        t: TypeUsage | None = getattr(usage, name)
        if t is not None:
            saved = (t.prev1 + t.prev2) / 2 - t.current
            out.append((column, format(saved.normalize(), "f")))
    return tuple(out)


def _org_row(cells: Cells, options: FeedOptions) -> ParsedRow:
    member = cells.member_id()
    category = cells.choice("category", eco_org.OrgCategory)
    size = cells.decimal("size_toe")
    rank = cells.choice("rank", eco_org.OrgRank)
    reduction = cells.decimal("reduction_pct", signed=True)
    electricity = cells.boolean("electricity_registered")
    types = cells.integer("energy_types")
    case = cells.boolean("saving_case")
    decision: eco_org.OrgDecision | None = None
    if (
        category is not None
        and size is not None
        and rank is not None
        and reduction is not None
        and electricity is not None
        and types is not None
        and case is not None
    ):
        decision = cells.guard(
            lambda: eco_org.OrgDecision(category, size, rank, reduction, electricity, types, case)
        )
    cells.finish()
    assert member is not None and decision is not None and options.org_period is not None
    assert size is not None and reduction is not None
    saved_toe = format((max(size, Decimal(0)) * max(reduction, Decimal(0)) / 100).normalize(), "f")
    table = eco_org.table_for(int(options.org_period[:4]))  # the round picks the plan year
    return ParsedRow(
        member,
        options.org_period,
        (("member_id", member),),
        partial(eco_org.award, decision, table),
        (("toe", saved_toe),),
    )


def _vehicle(cells: Cells) -> None:
    """Check the car's eligibility columns (docs/rules.md §2.3), recording every problem."""
    seoul, commercial = cells.boolean("seoul_registered"), cells.boolean("commercial")
    seats = cells.integer("seats")
    if seoul is not None and commercial is not None and seats is not None:
        for column, problem in cars.vehicle_problems(cars.Vehicle(seoul, commercial, seats)):
            cells.problem(column, problem)


def _car_row(cells: Cells, options: FeedOptions) -> ParsedRow:
    member = cells.member_id()
    vehicle = cells.text("vehicle_id", VEHICLE_ID_MAX)
    _vehicle(cells)
    start, end = cells.month("period_start"), cells.month("period_end")
    baseline, actual = cells.decimal("baseline_km"), cells.decimal("actual_km")
    period = None
    if start is not None and end is not None:
        period = cells.guard(lambda: awards.window_period(start, end, "period_start", "period_end"))
        if period is not None:
            options.check_period(cells, Program.CAR, start, end, "period_start,period_end")
    cells.finish()
    assert member is not None and vehicle is not None and period is not None
    assert baseline is not None and actual is not None
    distance = car.CarDistance(baseline, actual)
    unique = (("member_id", member), ("vehicle_id", vehicle))
    saved_km = format((baseline - actual).normalize(), "f")
    compute = partial(car.award, distance)
    return ParsedRow(member, period, unique, compute, (("km", saved_km),), vehicle)


def _car_season_row(cells: Cells, options: FeedOptions) -> ParsedRow:
    member = cells.member_id()
    vehicle = cells.text("vehicle_id", VEHICLE_ID_MAX)
    _vehicle(cells)
    year = cells.integer("season")
    km = cells.decimal("season_km")
    start_photo, end_photo = cells.day("start_photo_at"), cells.day("end_photo_at")
    period = None
    if year is not None:
        if len(cells.raw("season")) != 4:
            cells.problem("season", f"{cells.raw('season')!r} is not a 4-digit year")
        else:
            period = cells.guard(lambda: awards.season_period(year))
            if period is not None:
                first = YearMonth(year, 12)
                before = len(cells.problems)
                options.check_period(cells, Program.CAR_SEASON, first, first.plus(3), "season")
                in_life = len(cells.problems) == before
                if in_life and start_photo is not None and end_photo is not None:
                    for column, problem in cars.photo_problems(year, start_photo, end_photo):
                        cells.problem(column, problem)
    cells.finish()
    assert member is not None and vehicle is not None and period is not None and km is not None
    distance = season.CarSeasonDistance(km)
    unique = (("member_id", member), ("vehicle_id", vehicle))
    savings = (("season_km", format(km.normalize(), "f")),)
    compute = partial(season.car_award, distance)
    return ParsedRow(member, period, unique, compute, savings, vehicle)


def parse_row(program: Program, row: Mapping[str, str], options: FeedOptions) -> ParsedRow:
    """Parse one row of a non-BIKE feed; raises `RowInvalid` listing every problem."""
    cells = Cells(row)
    if program in (Program.ECO_HOUSEHOLD, Program.ECO_SEASON):
        return _usage_row(program, cells, options)
    if program is Program.ECO_ORG:
        return _org_row(cells, options)
    if program is Program.CAR:
        return _car_row(cells, options)
    if program is Program.CAR_SEASON:
        return _car_season_row(cells, options)
    raise ValueError(f"{program.name} rows are not parsed by parse_row")


def parse_ride(row: Mapping[str, str], options: FeedOptions) -> ParsedRide:
    """Parse one BIKE row; raises `RowInvalid` listing every problem."""
    cells = Cells(row)
    member = cells.member_id()
    month = cells.month("month")
    days, minutes = cells.integer("ride_days"), cells.integer("ride_minutes")
    holder = cells.boolean("pass_365")
    ride = None
    if month is not None:
        options.check_period(cells, Program.BIKE, month, month, "month")
    if month is not None and days is not None and minutes is not None:
        ride = cells.guard(lambda: bike.BikeMonth(month, days, minutes))
    cells.finish()
    assert member is not None and ride is not None and holder is not None
    return ParsedRide(member, ride, holder)


Ride = tuple[str, YearMonth, int, int, bool]
"""A valid BIKE row as (member_id, month, ride_days, ride_minutes, pass_365)."""

_MONTHS_MAX = 4096
_MINUTES_PER_DAY = 24 * 60


class RideParser:
    """`parse_ride` over a stream of rows, with a fast path.

    A row whose cells are plainly well formed (an ASCII printable member id without `|`, a
    month text already found valid for the program's life, ASCII digits within the month's
    days and minutes, a known boolean) is taken as it is; any other row goes through
    `parse_ride`, which accepts it or raises `RowInvalid` naming every problem. Both give the
    same rides (tests/unit/test_feed_bike_paths.py).
    """

    def __init__(self, options: FeedOptions) -> None:
        self.options = options
        self.today = options.today or current_month()
        self._months: dict[str, tuple[YearMonth, int]] = {}
        """Month texts found valid: (month, its number of days); at most `_MONTHS_MAX`."""

    def _month(self, text: str) -> tuple[YearMonth, int] | None:
        found = self._months.get(text)
        if found is None and text and len(self._months) < _MONTHS_MAX:
            try:
                month = YearMonth.parse(text)
            except InvalidValue:
                return None
            if period_problem(Program.BIKE, month, month, self.options.starts, self.today):
                return None
            found = self._months[text] = (month, month.days())
        return found

    def __call__(self, row: Mapping[str, str]) -> Ride:
        """The ride of `row`; raises `RowInvalid` listing every problem."""
        member = row["member_id"].strip()
        days_text = row["ride_days"].strip()
        minutes_text = row["ride_minutes"].strip()
        holder = BOOLEANS.get(row["pass_365"].strip().lower())
        month = self._month(row["month"].strip())
        if (
            month is not None
            and holder is not None
            and 0 < len(member) <= MEMBER_ID_MAX
            and member.isascii()
            and member.isprintable()  # ASCII: no control character
            and "|" not in member
            and 0 < len(days_text) <= MAX_NUMBER_CHARS
            and days_text.isascii()
            and days_text.isdigit()
            and 0 < len(minutes_text) <= MAX_NUMBER_CHARS
            and minutes_text.isascii()
            and minutes_text.isdigit()
        ):
            days, minutes = int(days_text), int(minutes_text)
            if days <= month[1] and minutes <= days * _MINUTES_PER_DAY:
                return member, month[0], days, minutes, holder
        parsed = parse_ride(row, self.options)  # the general checks and their messages
        ride = parsed.ride
        return parsed.member_id, ride.month, ride.ride_days, ride.ride_minutes, parsed.pass_365
