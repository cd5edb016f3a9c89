"""BIKE accruals and payouts (PROGRAM_RULES §2.4): a BIKE feed (or API batch) records monthly
accruals, not awards; `pay` turns the accrued, unpaid months of each closed payout period into
one award per member and period, which the bridge then mirrors.

Recording goes through `ledger.service.feeds.record_awards` (the one recording path): for BIKE
it calls `accrue` where other programs insert awards. The caps are applied at accrual by the
pipeline (`ledger.domain.rules.bike.year_awards`, fed by `earned_lookup`), so a payout only
adds up months that already respect them. A payout award's id is the keyed award id of
(BIKE, member, payout period): re-running a payout never pays twice (the accruals it paid name
it, and the award is unique per program, member and period).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.bulk import BulkWriter, large_page_cache
from ledger.adapters.orm import Award, AwardWindow, BikeAccrual
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.errors import InvalidValue
from ledger.domain.rules.bike_payout import Cadence, is_closed, payout_period
from ledger.domain.rules.signup import signup_problem
from ledger.domain.types import YearMonth
from ledger.domain.windows import holder
from ledger.feeds.model import ComputedAward, Reject
from ledger.feeds.periods import current_month
from ledger.service import windows

if TYPE_CHECKING:  # feeds imports this module
    from ledger.service.feeds import FeedReport

_CHUNK = 5000
_AWARDS = cast(Table, Award.__table__)
_WINDOWS = cast(Table, AwardWindow.__table__)
_ACCRUALS = cast(Table, BikeAccrual.__table__)
AWARD_COLUMNS = (
    "award_id",
    "program",
    "member_id",
    "account_id",
    "period",
    "amount",
    "tier",
    "source",
    "savings",
    "status",
)
"""The columns written of a new award (an import's, a payout's) (the others get their defaults)."""
_WINDOW_COLUMNS = ("program", "holder", "month", "award_id")
_ACCRUAL_COLUMNS = ("member_id", "month", "account_id", "amount", "tier", "source", "savings")
_HOLDER_PREFIX = holder(Program.BIKE, "", None)
"""A member's window holder is this prefix and the member id (ledger.domain.windows)."""
PAYOUT_TIER = "bike_payout"
"""Tier of a payout award (its months' tiers stay on the accruals)."""


def accrue(
    session: Session,
    items: list[ComputedAward],
    report: FeedReport,
    file: str,
    source: str,
    outcome: Callable[[ComputedAward, str], None] | None,
    *,
    registry: tuple[Mapping[str, str], Mapping[str, date]] | None = None,
) -> None:
    """Record the BIKE months `items` as accruals (inside the import's transaction). A month
    already accrued, or awarded before accruals existed, counts as already recorded; a month
    before the member's sign-up is rejected. `registry`: the accounts and sign-up dates of the
    program's members (`windows.registry`) when the caller read them already (a feed: once
    for all its chunks), else they are read for the members of `items`."""
    bulk = BulkWriter(session)
    member_in, members = bulk.any_of("member_id", {a.member_id for a in items})
    periods = {a.period for a in items}
    month_in, months = bulk.any_of("month", periods)
    period_in, _ = bulk.any_of("period", periods)
    bike = Program.BIKE.name
    # recorded: accrued, or awarded as a month before accruals existed (one query)
    existing = set(
        bulk.fetch(
            f"SELECT member_id, month FROM bike_accruals WHERE {member_in} AND {month_in} "
            f"UNION ALL SELECT member_id, period FROM awards WHERE program = {bulk.mark} "
            f"AND {member_in} AND {period_in}",
            [*members, *months, bike, *members, *months],
        )
    )
    accounts, joined = registry or windows.members_of(bulk, bike, members)
    problems = 0
    signup: dict[tuple[str, date], str | None] = {}  # a few months and sign-up days per chunk
    for a in items:
        if (a.member_id, a.period) not in existing and a.member_id in joined:
            key = (a.period, joined[a.member_id])
            if key not in signup:
                signup[key] = signup_problem(Program.BIKE, *key)
            found = signup[key]
            if found is not None:
                report.reject(Reject(file, a.line, found))
                problems += 1
    if problems:
        return
    rows: list[tuple[object, ...]] = []
    append = rows.append
    at = f"{source}:"
    short = len(at) + 20 <= 256  # any line number fits: no cut
    recorded = already = amount = 0
    for a in items:
        member, period = a.member_id, a.period
        pair = (member, period)
        if pair in existing:
            already += 1
            if outcome is not None:
                outcome(a, "already_recorded")
            continue
        existing.add(pair)
        savings = a.savings  # a BIKE row's one ride_minutes of digits: `_savings_json` inline
        if (
            len(savings) == 1
            and savings[0][0] == "ride_minutes"
            and (value := savings[0][1]).isascii()
            and value.isdigit()
        ):
            saved: str | None = f'{{"ride_minutes": "{value}"}}'
        else:
            saved = _savings_json(savings)
        tier = a.tier
        line = f"{at}{a.line}"
        append(
            (
                member,
                period,
                accounts[member],
                a.amount,
                tier if len(tier) <= 64 else tier[:64],
                line if short else line[:256],
                saved,
            )
        )
        recorded += 1
        amount += a.amount
        if outcome is not None:
            outcome(a, "recorded")
    report.already_recorded += already
    report.recorded += recorded
    report.recorded_amount += amount
    bulk.insert(_ACCRUALS, _ACCRUAL_COLUMNS, rows)


def _savings_json(savings: tuple[tuple[str, str], ...]) -> str | None:
    """``json.dumps(dict(savings))`` (None when empty); a BIKE row's one ``ride_minutes`` of
    digits is written without the encoder."""
    if not savings:
        return None
    if len(savings) == 1:
        (name, value), *_ = savings
        if name == "ride_minutes" and value.isascii() and value.isdigit():
            return f'{{"ride_minutes": "{value}"}}'
    return json.dumps(dict(savings))


def earned_lookup(session: Session) -> Callable[[int, Iterable[str]], list[tuple[str, int, int]]]:
    """The yearly cap's lookup for the pipeline (`EarnedBefore`): per member and month of
    `year`, what counts toward the cap: the accrual, or a monthly BIKE award recorded before
    accruals existed (a failed one counts 0)."""

    def lookup(year: int, members: Iterable[str]) -> list[tuple[str, int, int]]:
        bulk = BulkWriter(session)
        member_in, wanted = bulk.any_of("member_id", list(members))
        periods = [f"{year:04d}-{month:02d}" for month in range(1, 13)]
        month_in, months = bulk.any_of("month", periods)
        period_in, _ = bulk.any_of("period", periods)
        rows = bulk.fetch(  # a failed monthly award (before accruals existed) counts 0
            "SELECT member_id, period, CASE WHEN status = 'failed' THEN 0 ELSE amount END "
            f"FROM awards WHERE program = {bulk.mark} AND {member_in} AND {period_in} "
            "UNION ALL SELECT member_id, month, amount FROM bike_accruals "
            f"WHERE {member_in} AND {month_in}",
            [Program.BIKE.name, *wanted, *months, *wanted, *months],
        )
        earned: dict[tuple[str, int], int] = {}
        for member, period, amount in rows:
            key = (member, int(period[5:7]))
            earned[key] = earned.get(key, 0) + int(amount)
        return [(member, month, amount) for (member, month), amount in earned.items()]

    return lookup


@dataclass
class PayoutReport:
    """What a payout did: awards recorded for the bridge, and accruals it could not pay."""

    cadence: Cadence
    through: YearMonth
    awards: int = 0
    amount: int = 0
    months: int = 0
    late: list[tuple[str, str]] = field(default_factory=list)
    """(member, period) whose period was paid before these months accrued: left unpaid."""


def pay(
    factory: sessionmaker[Session],
    cadence: Cadence,
    through: YearMonth,
    award_key: bytes,
    *,
    today: YearMonth | None = None,
) -> PayoutReport:
    """Pay every accrued, unpaid month of the payout periods closed by `through`: one award per
    member and period, in one transaction. `through` must be a finished month."""
    now = today or current_month()
    if not through < now:
        raise InvalidValue(
            "through",
            f"{through} is not over yet (this month is {now}); "
            f"pay through {now.plus(-1)} or earlier",
        )
    report = PayoutReport(cadence, through)
    with factory() as session, session.begin():
        bulk = BulkWriter(session)
        with large_page_cache(bulk):
            _pay(session, bulk, cadence, through, award_key, report)
    return report


def _pay(
    session: Session,
    bulk: BulkWriter,
    cadence: Cadence,
    through: YearMonth,
    award_key: bytes,
    report: PayoutReport,
) -> None:
    """`pay`'s reads and writes, in its transaction."""
    unpaid = bulk.fetch(
        "SELECT member_id, month, amount, account_id, savings FROM bike_accruals "
        f"WHERE award_id IS NULL AND month <= {bulk.mark}",
        (str(through),),
    )
    accounts, plan = _plan(unpaid, cadence, through)
    paid = {  # the payout periods at hand are few: one query, whatever the members
        (m, p)
        for m, p in session.execute(
            select(Award.member_id, Award.period).where(
                Award.program == Program.BIKE.name,
                Award.period.in_({period for _, period, _ in plan}),
            )
        )
    }
    bike = Program.BIKE.name
    source = f"bike-payout:{cadence.value}:{through}"
    award_id = awards.award_id_hex(Program.BIKE, award_key)
    awards_rows: list[tuple[object, ...]] = []
    window_rows: list[tuple[object, ...]] = []
    add_award, add_window = awards_rows.append, window_rows.append
    late = report.late
    total = months = 0
    for member, period, items in plan:
        if paid and (member, period) in paid:
            late.append((member, period))
            continue
        aid = award_id(member, period)
        owner = _HOLDER_PREFIX + member
        if len(items) == 1:  # a monthly payout, or one month of the period accrued
            _, month, amount, _, saved = items[0]
            add_window((bike, owner, month, aid))
            ride = saved if saved and _RIDE_CANONICAL(saved) else _ride_text((saved,))
        else:
            amount = 0
            for _, month, value, _, _ in items:
                amount += value
                add_window((bike, owner, month, aid))
            ride = _ride_text([row[4] for row in items])
        add_award(
            (
                aid,
                bike,
                member,
                accounts[member],
                period,
                amount,
                PAYOUT_TIER,
                source,
                ride,
                "pending",
            )
        )
        total += amount
        months += len(items)
    report.awards, report.amount, report.months = len(awards_rows), total, months
    for i in range(0, len(awards_rows), _CHUNK):
        bulk.insert(_AWARDS, AWARD_COLUMNS, awards_rows[i : i + _CHUNK])
    for i in range(0, len(window_rows), _CHUNK):
        bulk.insert(_WINDOWS, _WINDOW_COLUMNS, window_rows[i : i + _CHUNK])
    if window_rows:
        _mark_paid(bulk, through, report.months)


_Unpaid = tuple[str, str, int, str, str | None]
"""An unpaid accrual as read: member, month, amount, account, savings."""


def _plan(
    unpaid: Iterable[_Unpaid], cadence: Cadence, through: YearMonth
) -> tuple[dict[str, str], list[tuple[str, str, list[_Unpaid]]]]:
    """`plan_payouts` on the rows themselves (no `Accrual` or `Payout` per row): the accounts
    of the members (their last row's, as read), and (member, period, rows of its months in
    month order) per member and closed payout period, sorted by member and period. Same
    payouts, same refusals (a negative amount, two accruals of one month)."""
    accounts: dict[str, str] = {}
    period_of: dict[str, str | None] = {}  # a month's closed payout period (None: still open)
    groups: dict[tuple[str, str], list[_Unpaid]] = {}
    for row in unpaid:
        member, month, amount, account, saved = row
        if type(amount) is not int:  # the drivers give ints; anything else, as plan_payouts
            amount = int(amount)
            row = (member, month, amount, account, saved)
        accounts[member] = account
        if month in period_of:
            period = period_of[month]
        else:
            ym = YearMonth.parse(month)
            if str(ym) != month:  # months are written as `YYYY-MM`: the windows' text
                raise InvalidValue("month", f"accrual month {month!r} is not YYYY-MM")
            period = payout_period(ym, cadence)
            period = period_of[month] = period if is_closed(period, through) else None
        if amount <= 0:
            if amount < 0:
                raise InvalidValue("amount", f"accrual of {member} is negative")
            continue
        if period is not None:
            key = (member, period)
            found = groups.get(key)
            if found is None:
                groups[key] = [row]
            else:
                found.append(row)
    plan: list[tuple[str, str, list[_Unpaid]]] = []
    for key in sorted(groups):
        items = groups[key]
        if len(items) > 1:
            items.sort(key=_month_of)  # `YYYY-MM` texts sort as the months
            if len({row[1] for row in items}) != len(items):
                raise InvalidValue("month", f"member {key[0]!r} has two accruals for one month")
        plan.append((key[0], key[1], items))
    return accounts, plan


def _month_of(row: _Unpaid) -> str:
    return row[1]


def _mark_paid(bulk: BulkWriter, through: YearMonth, months: int) -> None:
    """Name, on every unpaid accrual through `through`, the award that holds its month: the
    windows just written are the months this payout pays (one statement, not one per row).
    No other unpaid month has a window (a month is paid with its window, in one transaction):
    should one have, the payout stops (rolled back) rather than mark what it did not pay."""
    m = bulk.mark
    marked = bulk.execute(
        "UPDATE bike_accruals SET award_id = w.award_id FROM award_windows w "
        f"WHERE w.program = {m} AND w.holder = {m} || bike_accruals.member_id "
        "AND w.month = bike_accruals.month "
        f"AND bike_accruals.award_id IS NULL AND bike_accruals.month <= {m}",
        (Program.BIKE.name, _HOLDER_PREFIX, str(through)),
    )
    if marked != months:
        raise RuntimeError(
            f"BIKE payout through {through}: {marked} unpaid accruals have a window, "
            f"{months} were paid; nothing recorded (award_windows holds a month it should not)"
        )


_RIDE_HEAD, _RIDE_TAIL = '{"ride_minutes": "', '"}'
_RIDE_DIGITS = re.compile(r'\{"ride_minutes": "([0-9]{1,18})"\}').fullmatch
"""A month's savings as `accrue` writes them: up to 18 digits of minutes add up as ints exactly
as Decimals would (12 months of them stay far inside the Decimal context's 28 digits); any
other text goes by Decimal."""
_RIDE_CANONICAL = re.compile(r'\{"ride_minutes": "(0|[1-9][0-9]{0,17})"\}').fullmatch
"""... and written as its sum reads (no leading zero): one month's payout savings is its text."""


def _ride_text(savings: Sequence[str | None]) -> str:
    """The payout's savings: ``json.dumps({"ride_minutes": str(sum of its months' minutes as
    Decimals)})``; months written as `accrue` writes them (a few ASCII digits) add up as ints."""
    if len(savings) == 1:
        saved = savings[0]
        if saved and _RIDE_CANONICAL(saved):  # as str(Decimal(0) + Decimal(its minutes)) reads
            return saved
    total = 0
    for saved in savings:
        if not saved:
            continue
        found = _RIDE_DIGITS(saved)
        if found is None:
            return _ride_json(sum((_minutes(s) for s in savings), Decimal(0)))
        total += int(found[1])
    return f'{{"ride_minutes": "{total}"}}'


def _minutes(savings: str | None) -> Decimal:
    if not savings:
        return Decimal(0)
    if savings.startswith(_RIDE_HEAD) and savings.endswith(_RIDE_TAIL):  # as `accrue` writes it
        value = savings[len(_RIDE_HEAD) : -len(_RIDE_TAIL)]
        if value.isascii() and value.isdigit():
            return Decimal(value)
    return Decimal(str(json.loads(savings).get("ride_minutes", "0")))


def _ride_json(ride: Decimal) -> str:
    """``json.dumps({"ride_minutes": str(ride)})``, without the encoder (a Decimal's text
    has nothing to escape)."""
    return f'{{"ride_minutes": "{ride}"}}'


@dataclass(frozen=True, slots=True)
class AccruedMonth:
    """An accrued, unpaid month of an account, and the payout period that will pay it."""

    month: str
    amount: int
    payout_period: str


def accrued_unpaid(session: Session, account_id: str, cadence: Cadence) -> list[AccruedMonth]:
    """The account's accrued, unpaid BIKE months (amount > 0), in month order."""
    rows = session.execute(
        select(BikeAccrual.month, BikeAccrual.amount)
        .where(
            BikeAccrual.account_id == account_id,
            BikeAccrual.award_id.is_(None),
            BikeAccrual.amount > 0,
        )
        .order_by(BikeAccrual.month)
    )
    return [
        AccruedMonth(month, int(amount), payout_period(YearMonth.parse(month), cadence))
        for month, amount in rows
    ]


def accrued_total(session: Session, account_id: str) -> int:
    """The account's accrued, unpaid BIKE mileage."""
    total = session.scalar(
        select(func.coalesce(func.sum(BikeAccrual.amount), 0)).where(
            BikeAccrual.account_id == account_id, BikeAccrual.award_id.is_(None)
        )
    )
    return int(total or 0)
