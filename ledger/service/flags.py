"""Keep the follow-ups the rules ask for (``ComputedAward.flags``) with their round.

`mileage awards compute` prints them; an import (`feeds import`, `POST /v1/awards`) stores
them in `award_flags`, in its own transaction, once per (program, member, period, flag):
importing the same feed again stores nothing twice. `flagged` lists them for notices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, func, select, tuple_
from sqlalchemy.orm import Session

from ledger.adapters.bulk import BulkWriter
from ledger.adapters.orm import Award, AwardFlag
from ledger.domain.codes import Flag
from ledger.feeds.model import ComputedAward

_FLAGS = cast(Table, AwardFlag.__table__)


def record_flags(session: Session, items: Sequence[ComputedAward], source: str) -> int:
    """Store the flags of `items` not stored yet; returns how many were stored."""
    wanted = {
        (item.program.name, item.member_id, item.period, str(flag)): item.line
        for item in items
        for flag in item.flags
    }
    if not wanted:
        return 0
    keys = list(wanted)
    columns = (AwardFlag.program, AwardFlag.member_id, AwardFlag.period, AwardFlag.flag)
    stored = set(session.execute(select(*columns).where(tuple_(*columns).in_(keys))).tuples())
    rows = [(*key, f"{source}:{line}"[:256]) for key, line in wanted.items() if key not in stored]
    BulkWriter(session).insert(_FLAGS, ("program", "member_id", "period", "flag", "source"), rows)
    return len(rows)


def flagged(session: Session, program: str, period: str) -> list[tuple[str, str]]:
    """(member_id, flag) of every flag stored for a program's round, by member."""
    query = (
        select(AwardFlag.member_id, AwardFlag.flag)
        .where(AwardFlag.program == program, AwardFlag.period == period)
        .order_by(AwardFlag.member_id, AwardFlag.flag)
    )
    return [(member, flag) for member, flag in session.execute(query)]


IN_KIND_NOTE = (
    "in-kind rewards (보상품) of organisations, recorded at their value so that budgets and "
    "reports count them (docs/rules.md §2.2, project choice); included in 'awarded'"
)


def in_kind_totals(session: Session) -> dict[str, tuple[int, int]]:
    """{program: (awards, amount)} of the awards flagged in kind (not failed), for reports."""
    query = (
        select(Award.program, func.count(), func.coalesce(func.sum(Award.amount), 0))
        .join(
            AwardFlag,
            (AwardFlag.program == Award.program)
            & (AwardFlag.member_id == Award.member_id)
            & (AwardFlag.period == Award.period),
        )
        .where(AwardFlag.flag == str(Flag.IN_KIND), Award.status != "failed")
        .group_by(Award.program)
        .order_by(Award.program)
    )
    return {program: (int(n), int(total)) for program, n, total in session.execute(query)}
