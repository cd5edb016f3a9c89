"""BIKE payout cadence (PROGRAM_RULES §2.4, 2021 plan 4-4): mileage accrues monthly and is
paid once per payout period, once a year in the pilot ("시범운영지급 시 연 1회").

The cadence is a configured policy (`MILEAGE_BIKE_PAYOUT`): yearly (the default), half-yearly,
quarterly or monthly. A payout period never crosses a calendar year, so the yearly cap applied
at accrual (`ledger.domain.rules.bike.year_awards`) also bounds what is paid. Period strings:
`2025` (yearly), `2025-H1`, `2025-Q3`, `2025-05` (monthly).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ledger.domain.errors import InvalidValue
from ledger.domain.types import YearMonth


class Cadence(StrEnum):
    """How often accrued BIKE mileage is paid."""

    YEARLY = "yearly"
    HALF_YEARLY = "half-yearly"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"


_SPAN = {Cadence.YEARLY: 12, Cadence.HALF_YEARLY: 6, Cadence.QUARTERLY: 3, Cadence.MONTHLY: 1}
_PERIOD = re.compile(r"^(\d{4})(?:-(H[12]|Q[1-4]|\d{2}))?$")


def parse_cadence(text: str) -> Cadence:
    """The cadence named by `text` (case and spaces ignored); `InvalidValue` names the choices."""
    try:
        return Cadence(text.strip().lower())
    except ValueError:
        choices = ", ".join(c.value for c in Cadence)
        raise InvalidValue(
            "MILEAGE_BIKE_PAYOUT", f"{text[:40]!r} is not a payout cadence; use one of {choices}"
        ) from None


def payout_period(month: YearMonth, cadence: Cadence) -> str:
    """The payout period that pays `month`'s accrual under `cadence`."""
    if cadence is Cadence.YEARLY:
        return f"{month.year:04d}"
    if cadence is Cadence.HALF_YEARLY:
        return f"{month.year:04d}-H{(month.month - 1) // 6 + 1}"
    if cadence is Cadence.QUARTERLY:
        return f"{month.year:04d}-Q{(month.month - 1) // 3 + 1}"
    return str(month)


def period_months(period: str) -> list[YearMonth]:
    """Every month of the payout period `period`, in order; `InvalidValue` if malformed."""
    found = _PERIOD.match(period)
    if found is None:
        raise InvalidValue(
            "period",
            f"{period[:40]!r} is not a BIKE payout period (2025, 2025-H1, 2025-Q1, 2025-05)",
        )
    year, part = int(found[1]), found[2]
    if part is None:
        first, span = 1, 12
    elif part[0] in "HQ":
        span = 6 if part[0] == "H" else 3
        first = (int(part[1]) - 1) * span + 1
    else:
        first, span = int(part), 1
        if not 1 <= first <= 12:
            raise InvalidValue("period", f"{period!r} has no month {first:02d}")
    start = YearMonth(year, first)
    return [start.plus(i) for i in range(span)]


def is_closed(period: str, through: YearMonth) -> bool:
    """True when every month of `period` is `through` or earlier (the period may be paid)."""
    return period_months(period)[-1] <= through


@dataclass(frozen=True, slots=True)
class Accrual:
    """A member's accrued, unpaid BIKE mileage of one month (after the §2.4 caps)."""

    member_id: str
    month: YearMonth
    amount: int


@dataclass(frozen=True, slots=True)
class Payout:
    """One award: a member's accruals of one closed payout period."""

    member_id: str
    period: str
    amount: int
    months: tuple[YearMonth, ...]


def plan_payouts(unpaid: Iterable[Accrual], cadence: Cadence, through: YearMonth) -> list[Payout]:
    """One payout per member and closed payout period (`through` or earlier) of the `unpaid`
    accruals, sorted by member and period. Accruals of 0 are left out; a payout of 0 is none."""
    groups: dict[tuple[str, str], list[Accrual]] = {}
    closed: dict[str, bool] = {}
    for accrual in unpaid:
        if accrual.amount < 0:
            raise InvalidValue("amount", f"accrual of {accrual.member_id} is negative")
        if accrual.amount == 0:
            continue
        period = payout_period(accrual.month, cadence)
        if period not in closed:
            closed[period] = is_closed(period, through)
        if closed[period]:
            groups.setdefault((accrual.member_id, period), []).append(accrual)
    plan = []
    for (member, period), items in sorted(groups.items()):
        months = tuple(sorted(a.month for a in items))
        if len(set(months)) != len(months):
            raise InvalidValue("month", f"member {member!r} has two accruals for one month")
        plan.append(Payout(member, period, sum(a.amount for a in items), months))
    return plan
