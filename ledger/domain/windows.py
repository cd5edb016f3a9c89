"""The months an award occupies, and who occupies them (PROGRAM_RULES §2.5, last point).

One award per member per window: a member's windows never overlap for a program (per vehicle
for CAR and CAR_SEASON; per organisation and round for ECO_ORG; one ECO_SEASON per season).
The ledger enforces it with an occupancy table (`award_windows`, ledger/adapters/orm.py):
one row per (program, holder, month) an award covers, unique, written in the same transaction
as the award. This module says which months and which holder.
"""

from __future__ import annotations

from datetime import date

from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.errors import InvalidPeriod
from ledger.domain.types import YearMonth

SEASON_MONTHS = 4
VEHICLE_PROGRAMS = frozenset({Program.CAR, Program.CAR_SEASON})
"""Programs whose windows are held by the vehicle rather than the member."""


def window(program: Program, period: str) -> tuple[YearMonth, YearMonth]:
    """First and last month of `program`'s award period `period` (see ledger.domain.awards)."""
    if program in (Program.ECO_SEASON, Program.CAR_SEASON):
        if len(period) != 4 or not period.isdigit():
            raise InvalidPeriod("period", f"{period!r} is not a season year YYYY")
        first = YearMonth(int(period), 12)
        return first, first.plus(SEASON_MONTHS - 1)
    if program is Program.BIKE:
        month = YearMonth.parse(period, "period")
        return month, month
    return awards.parse_window_period(period)


def months(program: Program, period: str) -> list[YearMonth]:
    """Every month of the award period, in order."""
    first, last = window(program, period)
    return [first.plus(i) for i in range(first.months_until(last) + 1)]


def first_day(program: Program, period: str) -> date:
    """The day the award period starts."""
    first, _ = window(program, period)
    return date(first.year, first.month, 1)


def holder(program: Program, member_id: str, vehicle_id: str | None) -> str:
    """Who holds the window: the vehicle for CAR and CAR_SEASON, else the member."""
    if program in VEHICLE_PROGRAMS:
        if not vehicle_id:
            raise InvalidPeriod("vehicle_id", f"{program.name} awards are held by a vehicle")
        return f"vehicle:{vehicle_id}"
    return f"member:{member_id}"
