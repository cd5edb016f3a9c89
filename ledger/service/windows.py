"""Admit new awards against what the database already holds: the member's sign-up date and
the windows of every award recorded before (one award per member, or vehicle, per window).

Called by `ledger.service.feeds` inside the import's transaction, just before the awards are
inserted. The occupied months go into `award_windows` in the same transaction; its primary
key makes a concurrent import that checked before this one committed fail on insert, and the
check then runs again to name the award it overlaps.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.adapters.bulk import BulkWriter
from ledger.adapters.db import savepoint
from ledger.adapters.orm import Award, AwardWindow
from ledger.domain import windows
from ledger.domain.rules.signup import signup_problem
from ledger.feeds.model import ComputedAward

_WINDOWS = cast(Table, AwardWindow.__table__)

Problem = tuple[ComputedAward, str]
"""A computed award that cannot be recorded, and why (`column: problem`)."""


def members_of(
    bulk: BulkWriter, program: str, members: Collection[str]
) -> tuple[dict[str, str], dict[str, date]]:
    """The account of each of `members` registered in `program`, and the sign-up date of those
    that have one (None: a member not from `members import`, not checked)."""
    member_in, ids = bulk.any_of("member_id", members)
    return _accounts_and_joined(
        bulk.fetch(
            "SELECT member_id, account_id, joined_at FROM members "
            f"WHERE program = {bulk.mark} AND {member_in}",
            [program, *ids],
        )
    )


def registry(bulk: BulkWriter, program: str) -> tuple[dict[str, str], dict[str, date]]:
    """`members_of` every member registered in `program` (one query, for a whole feed)."""
    return _accounts_and_joined(
        bulk.fetch(
            f"SELECT member_id, account_id, joined_at FROM members WHERE program = {bulk.mark}",
            [program],
        )
    )


def _accounts_and_joined(
    rows: Iterable[tuple[str, str, object]],
) -> tuple[dict[str, str], dict[str, date]]:
    accounts: dict[str, str] = {}
    joined: dict[str, date] = {}
    parsed: dict[str, date] = {}  # sign-up days are few: each text is parsed once
    for member, account, joined_at in rows:
        accounts[member] = account
        if joined_at is None:
            continue
        if isinstance(joined_at, date):
            joined[member] = joined_at
        else:  # a str on SQLite (as SQLAlchemy's Date stores it)
            text = str(joined_at)
            day = parsed.get(text)
            if day is None:
                day = parsed[text] = date.fromisoformat(text)
            joined[member] = day
    return accounts, joined


def admit(
    session: Session,
    items: Sequence[ComputedAward],
    joined: Mapping[str, date],
) -> list[Problem]:
    """Check `items` (new awards of one program, not yet recorded) and, if all pass, occupy
    their windows. Returns the problems; when there are any nothing was occupied."""
    problems: list[Problem] = []
    for item in items:
        joined_at = joined.get(item.member_id)
        if joined_at is not None:
            found = signup_problem(item.program, item.period, joined_at)
            if found is not None:
                problems.append((item, found))
    problems += _overlaps(session, items)
    if problems:
        return problems
    rows = [
        (item.program.name, h, str(m), _hex(item))
        for item in items
        for h in (_holder(item),)
        for m in windows.months(item.program, item.period)
    ]
    if not rows:
        return []
    try:
        with savepoint(session):  # in the import's transaction (SQLite included)
            BulkWriter(session).insert(_WINDOWS, ("program", "holder", "month", "award_id"), rows)
    except IntegrityError:
        # Another import committed an overlapping award after the check above: name it.
        problems = _overlaps(session, items)
        if not problems:
            raise
    return problems


def _hex(item: ComputedAward) -> str:
    return "0x" + bytes(item.award_id).hex()


def _holder(item: ComputedAward) -> str:
    return windows.holder(item.program, item.member_id, item.vehicle_id)


def _overlaps(session: Session, items: Sequence[ComputedAward]) -> list[Problem]:
    if not items:
        return []
    program = items[0].program
    holders = {_holder(item) for item in items}
    held: dict[tuple[str, str], str] = {
        (h, m): aid
        for h, m, aid in session.execute(
            select(AwardWindow.holder, AwardWindow.month, AwardWindow.award_id).where(
                AwardWindow.program == program.name, AwardWindow.holder.in_(holders)
            )
        )
    }
    clashes: list[tuple[ComputedAward, str]] = []
    for item in items:
        holder, aid = _holder(item), _hex(item)
        other = next(
            (
                held[(holder, str(m))]
                for m in windows.months(item.program, item.period)
                if held.get((holder, str(m)), aid) != aid
            ),
            None,
        )
        if other is not None:
            clashes.append((item, other))
            continue
        for m in windows.months(item.program, item.period):  # rows of this very batch
            held[(holder, str(m))] = aid
    if not clashes:
        return []
    known = {_hex(i): (i.period, i.member_id, f"line {i.line} of this file") for i in items}
    known |= {
        aid: (period, member, source)
        for aid, period, member, source in session.execute(
            select(Award.award_id, Award.period, Award.member_id, Award.source).where(
                Award.award_id.in_({other for _, other in clashes})
            )
        )
    }
    problems: list[Problem] = []
    for item, other in clashes:
        period, member, source = known.get(other, ("?", "?", "this file"))
        whose = (item.vehicle_id and f"vehicle {item.vehicle_id!r}") or f"member {item.member_id!r}"
        problems.append(
            (
                item,
                f"period: {item.program.name} {item.period} of {whose} overlaps award {other} "
                f"({period}, member {member!r}, from {source}); a window may be paid once, "
                "drop the row",
            )
        )
    return problems
