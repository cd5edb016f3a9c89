"""BIKE: public-bike riding mileage (PROGRAM_RULES §2.4).

Per member and month: fewer than 10 riding days earn nothing; otherwise 3 per minute,
capped at 2,000 per month and at 16,000 per member per calendar year. Months of one
member-year are applied in month order; the month that crosses the yearly cap earns the
remainder, later months earn 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.domain.errors import InvalidValue
from ledger.domain.rules.common import RuleResult
from ledger.domain.types import YearMonth

MIN_DAYS = 10
PER_MINUTE = 3
MONTHLY_CAP = 2_000
YEARLY_CAP = 16_000
_UNDER_MIN_DAYS = f"under_{MIN_DAYS}_days"


@dataclass(frozen=True, slots=True)
class BikeMonth:
    """A member's riding in one month."""

    month: YearMonth
    ride_days: int
    ride_minutes: int

    def __post_init__(self) -> None:
        days = self.month.days()
        if not 0 <= self.ride_days <= days:
            raise InvalidValue(
                "ride_days",
                f"{self.ride_days} is not between 0 and {days}, the number of days of {self.month}",
            )
        if not 0 <= self.ride_minutes <= self.ride_days * 24 * 60:
            raise InvalidValue(
                "ride_minutes",
                f"{self.ride_minutes} is not between 0 and 24 h × ride_days ({self.ride_days})",
            )


def month_amount(
    ride_days: int,
    ride_minutes: int,
    earned_this_year: int = 0,
    monthly_cap: int = MONTHLY_CAP,
    yearly_cap: int = YEARLY_CAP,
) -> tuple[int, str]:
    """The rule itself: ``(amount, tier)`` of a month of `ride_days` and `ride_minutes`, given
    what the member already earned in the same year before it (not checked: see `month_award`)."""
    if ride_days < MIN_DAYS:
        return 0, _UNDER_MIN_DAYS
    raw = ride_minutes * PER_MINUTE
    amount, code = (monthly_cap, "monthly_cap") if raw > monthly_cap else (raw, "per_minute")
    room = max(yearly_cap - earned_this_year, 0)
    if amount > room:
        return room, ("yearly_cap_remainder" if room else "yearly_cap_reached")
    return amount, code


def month_award(
    ride: BikeMonth,
    earned_this_year: int = 0,
    monthly_cap: int = MONTHLY_CAP,
    yearly_cap: int = YEARLY_CAP,
) -> RuleResult:
    """The award for `ride`, given what the member already earned in the same year before it."""
    if earned_this_year < 0:
        raise InvalidValue("earned_this_year", f"must not be negative ({earned_this_year})")
    amount, tier = month_amount(
        ride.ride_days, ride.ride_minutes, earned_this_year, monthly_cap, yearly_cap
    )
    return RuleResult(amount, tier)


def ordered_year_amounts(
    rides: Sequence[tuple[int, int]],
    earned_before: int = 0,
    monthly_cap: int = MONTHLY_CAP,
    yearly_cap: int = YEARLY_CAP,
) -> list[tuple[int, str]]:
    """`year_awards` of months already checked (as `BikeMonth` checks them), of one member-year,
    distinct and given in month order, as ``(ride_days, ride_minutes)``: ``(amount, tier)`` of
    each, in that order. The feed pipeline's form (no objects per month); `year_awards` is
    this once it has checked and ordered its rides."""
    if rides and earned_before < 0:
        raise InvalidValue("earned_this_year", f"must not be negative ({earned_before})")
    out: list[tuple[int, str]] = []
    earned = earned_before
    for days, minutes in rides:
        found = month_amount(days, minutes, earned, monthly_cap, yearly_cap)
        earned += found[0]
        out.append(found)
    return out


def year_awards(
    rides: Iterable[BikeMonth],
    earned_before: int = 0,
    monthly_cap: int = MONTHLY_CAP,
    yearly_cap: int = YEARLY_CAP,
) -> list[RuleResult]:
    """Awards for one member's rides in one calendar year, returned in the order given.

    The rides are applied in month order whatever order they come in; `earned_before` is
    what earlier feeds already awarded the member in that year. Two rides of the same month,
    or rides of different years, raise `InvalidValue`.
    """
    items = list(rides)
    if len(items) <= 1:  # nothing to order or compare
        return [month_award(r, earned_before, monthly_cap, yearly_cap) for r in items]
    year = items[0].month.year
    if any(r.month.year != year for r in items):
        raise InvalidValue("month", "rides of one member-year must share the calendar year")
    months = [r.month.month for r in items]  # one year: the month number orders them
    if len(set(months)) != len(items):
        raise InvalidValue("month", "a member has at most one row per month")
    order = sorted(range(len(items)), key=months.__getitem__)
    found = ordered_year_amounts(
        [(items[i].ride_days, items[i].ride_minutes) for i in order],
        earned_before,
        monthly_cap,
        yearly_cap,
    )
    results: list[RuleResult | None] = [None] * len(items)
    for index, (amount, tier) in zip(order, found, strict=True):
        results[index] = RuleResult(amount, tier)
    return [r for r in results if r is not None]
