"""Notices for the city's messaging system: who to tell what, as CSV or JSON rows.

Three lists, each holding only what a message needs (citizen id, account, amounts and dates):

- ``expiring``: mileage that lapses within N days unless spent (the plans notify every two
  months), replayed from the indexed entries like the API's ``/expiring`` (ledger.domain.lots);
- ``awards``: award confirmations of a program's round (the award is final on chain; the date
  is the block time of its GRANT entry);
- ``usage_rise``: members whose usage rose 10 % or more in a round (no award, an energy-saving
  notice instead, PROGRAM_RULES §2.1), as the feed import keeps them (``award_flags``).

Dates are Korea time (``+09:00``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.award_state import award_state
from ledger.adapters.orm import (
    Account,
    Award,
    AwardFlag,
    Balance,
    ChainTx,
    Entry,
    IndexCursor,
    Member,
)
from ledger.domain.codes import EntryKind, Flag, Program
from ledger.domain.errors import InvalidValue
from ledger.domain.koreatime import kst
from ledger.domain.lots import expiring as due_lots
from ledger.feeds import safecsv
from ledger.service.lots import account_lots

FORMATS = ("csv", "json")
CURSOR_NAME = "entries"  # bridge.indexer.CURSOR_NAME


@dataclass(frozen=True)
class ExpiringNotice:
    citizen_id: str
    account: str
    program: str
    amount: int
    expires_on: str


@dataclass(frozen=True)
class AwardNotice:
    citizen_id: str
    account: str
    program: str
    period: str
    amount: int
    awarded_at: str


@dataclass(frozen=True)
class UsageRiseNotice:
    citizen_id: str
    account: str
    program: str
    period: str
    recorded_at: str


Notice = ExpiringNotice | AwardNotice | UsageRiseNotice
ValidityLookup = Callable[[int], int]


def render(rows: Sequence[Notice], fmt: str, columns: Sequence[str]) -> str:
    """``rows`` as CSV (formula-like cells neutralised) or a JSON array."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        return safecsv.text(columns, ([getattr(r, c) for c in columns] for r in rows))
    raise InvalidValue("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")


def _cursor_block(s: Session) -> int:
    block = s.execute(
        sa.select(IndexCursor.block_number).where(IndexCursor.name == CURSOR_NAME)
    ).scalar_one_or_none()
    if block is None:
        raise InvalidValue("index", "nothing is indexed yet; run `mileage bridge` (the indexer)")
    return int(block)


def expiring(
    factory: sessionmaker[Session],
    within_days: int,
    *,
    now: int,
    validity: ValidityLookup,
) -> list[ExpiringNotice]:
    """Mileage lapsing within ``within_days`` of ``now`` (unix s), per account, program and
    expiry date, at the indexer's cursor. Only accounts that can hold such lots are replayed:
    a positive balance and a credit old enough to lapse (or a merge, which carries old lots)."""
    if within_days < 0:
        raise InvalidValue("within_days", f"{within_days} is negative; pass 0 or more days")
    until = now + within_days * 86400
    oldest_validity = min(validity(int(p)) for p in Program)
    credits = (int(EntryKind.GRANT), int(EntryKind.CONVERSION_IN))
    out: list[ExpiringNotice] = []
    with factory() as s:
        block = _cursor_block(s)
        candidates = (
            sa.select(Entry.account_id)
            .where(
                Entry.block_number <= block,
                sa.or_(
                    sa.and_(Entry.kind.in_(credits), Entry.timestamp <= until - oldest_validity),
                    Entry.kind == int(EntryKind.MERGE_IN),
                ),
            )
            .distinct()
        )
        with_balance = sa.select(Balance.account_id).where(Balance.balance > 0).distinct()
        rows = s.execute(
            sa.select(Account.account_id, Account.citizen_id)
            .where(Account.account_id.in_(candidates), Account.account_id.in_(with_balance))
            .order_by(Account.citizen_id)
        ).all()
        for account, citizen in rows:
            lots = account_lots(s, account, block)
            grouped: dict[tuple[int, int], int] = {}
            for lot, exp in due_lots(lots, validity, until):
                day = exp - (exp + 9 * 3600) % 86400  # the KST day it lapses (start of day)
                grouped[(lot.program, day)] = grouped.get((lot.program, day), 0) + lot.amount
            out += [
                ExpiringNotice(citizen, account, Program(p).name, amount, kst(day)[:10])
                for (p, day), amount in sorted(grouped.items())
            ]
    return out


def awards(factory: sessionmaker[Session], program: Program, period: str) -> list[AwardNotice]:
    """Confirmations of ``program``'s awards for ``period`` that are final and indexed."""
    with factory() as s:
        rows = s.execute(
            sa.select(Account.citizen_id, Award.account_id, Award.amount, Entry.timestamp)
            .join(Account, Account.account_id == Award.account_id)
            .join(
                Entry,
                sa.and_(
                    Entry.account_id == Award.account_id,
                    Entry.ref == Award.award_id,
                    Entry.kind == int(EntryKind.GRANT),
                ),
            )
            .outerjoin(ChainTx, ChainTx.id == Award.tx_id)
            .where(Award.program == program.name, Award.period == period)
            .where(award_state() == "final")
            .order_by(Account.citizen_id, Award.award_no)
        ).all()
    return [
        AwardNotice(str(c), str(a), program.name, period, int(amount), kst(int(ts)))
        for c, a, amount, ts in rows
    ]


def usage_rise(
    factory: sessionmaker[Session], period: str, program: Program | None = None
) -> list[UsageRiseNotice]:
    """Members whose usage rose 10 % or more in ``period``: the ``energy_saving_notice`` flags
    the feed import keeps (``award_flags``), with the member's account and citizen id."""
    q = (
        sa.select(Account.citizen_id, Member.account_id, AwardFlag)
        .join(
            Member,
            sa.and_(Member.program == AwardFlag.program, Member.member_id == AwardFlag.member_id),
        )
        .join(Account, Account.account_id == Member.account_id)
        .where(AwardFlag.period == period, AwardFlag.flag == str(Flag.ENERGY_SAVING_NOTICE))
        .order_by(Account.citizen_id, AwardFlag.program)
    )
    if program is not None:
        q = q.where(AwardFlag.program == program.name)
    with factory() as s:
        return [
            UsageRiseNotice(str(c), str(a), f.program, f.period, kst(f.created_at))
            for c, a, f in s.execute(q).all()
        ]
