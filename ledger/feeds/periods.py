"""When each program's awards can fall: from the program's start to the current month.

A period is accepted only if its first month is not before the program's first month and its
last month is not after the current month (typos such as 1800, 2040 or 9999 are refused).
The starts are a **project choice** read from the programs' plans (../shared/seeds,
PROGRAM_RULES §1); change them through `FeedOptions(starts=...)`. See docs/feeds.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from ledger.domain.codes import Program
from ledger.domain.types import YearMonth

PROGRAM_STARTS: Mapping[Program, YearMonth] = MappingProxyType(
    {
        # Eco mileage opened to households and organisations in 2009 (the 2018 plan's
        # results table starts with 2010, the first full year compared with earlier usage).
        Program.ECO_HOUSEHOLD: YearMonth(2009, 1),
        Program.ECO_ORG: YearMonth(2009, 1),
        # Car mileage (driving-distance reduction) began in 2017.
        Program.CAR: YearMonth(2017, 1),
        # The fine-dust seasonal management system began with the 2019-12 season (the
        # 2021 plan's "2nd year" is the 2020-21 season).
        Program.ECO_SEASON: YearMonth(2019, 12),
        Program.CAR_SEASON: YearMonth(2019, 12),
        # Bike riding mileage: pilot on the environment mileage system from 2021-10.
        Program.BIKE: YearMonth(2021, 10),
    }
)


def current_month() -> YearMonth:
    """This month (UTC)."""
    now = datetime.now(UTC)
    return YearMonth(now.year, now.month)


def period_problem(
    program: Program,
    first: YearMonth,
    last: YearMonth,
    starts: Mapping[Program, YearMonth],
    today: YearMonth,
) -> tuple[bool, str] | None:
    """Why the period `first`..`last` of `program` cannot be awarded, or None.

    The answer is (True if the first month is at fault, else the last month; the problem).
    """
    start = starts.get(program)
    if start is not None and first < start:
        return True, (
            f"{first} is before {program.name} began ({start}); check the year, "
            "or configure the program's start if it is wrong"
        )
    if last > today:
        return False, (
            f"the period ends in {last}, after the current month {today}; a period "
            "cannot end in the future, check the year"
        )
    return None
