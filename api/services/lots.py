"""An account's unspent lots from its indexed entries, and what of them has lapsed at chain time.

The contract expires lapsed mileage before every spend (contracts/README.md, "Expiry"): mileage
granted at ``t`` is spendable while ``now < t + validity``, ``now`` being the block's timestamp.
So what a wallet can spend is ``balance - lapsed``, with ``lapsed`` the unspent lots (FIFO replay,
:mod:`api.services.expiry`) whose validity ended at or before the chain's latest block.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import InsufficientBalance, MileageLapsed
from api.schemas import utc_iso
from api.services.expiry import Lot, SourceLots, expiring, replay_lots
from ledger.adapters.orm import Entry, IndexCursor
from ledger.domain.checkpoints import EntryView
from ledger.domain.codes import EntryKind, Program

VALIDITY_WORDS = "the program's validity period (5 years)"

#: credit kinds (a MERGE_IN carries the source's older grant dates; a REFUND is a new lot)
CREDIT_KINDS = tuple(sorted(int(k) for k in EntryKind if k.is_credit))


def load_views(session: Session, account: str, max_block: int) -> list[EntryView]:
    rows = session.execute(
        sa.select(Entry.seq, Entry.kind, Entry.program, Entry.amount, Entry.ref, Entry.timestamp)
        .where(Entry.account_id == account, Entry.block_number <= max_block)
        .order_by(Entry.seq)
    ).all()
    return [
        EntryView(int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]), int(r[5])) for r in rows
    ]


def _source_for(session: Session, max_block: int, depth: int) -> SourceLots:
    """Lots a merged source account moved, replayed up to its MERGE_OUT (8 levels deep)."""

    def source(src: str, program: int) -> list[Lot] | None:
        if depth >= 8:
            return None
        views = load_views(session, src, max_block)
        lots = replay_lots(
            views, _source_for(session, max_block, depth + 1), stop_at_merge_out=program
        )
        return lots.get(program, [])

    return source


def account_lots(session: Session, account: str, max_block: int) -> dict[int, list[Lot]]:
    """Unspent lots per program of ``account`` at ``max_block``."""
    return replay_lots(load_views(session, account, max_block), _source_for(session, max_block, 0))


@dataclass(frozen=True)
class Lapse:
    """Mileage of one program that has lapsed at ``now`` but is not yet expired on chain."""

    program: int
    amount: int
    since: int | None  # when the oldest lapsed lot's validity ended (unix seconds)


def lapses(
    ctx: AppContext, session: Session, account: str, max_block: int, now: int
) -> dict[int, Lapse]:
    """Per program with something lapsed: how much and since when (FIFO over the entries)."""
    out: dict[int, Lapse] = {}
    for lot, expires in expiring(account_lots(session, account, max_block), ctx.validity, now):
        prev = out.get(lot.program)
        since = expires if prev is None or prev.since is None else min(prev.since, expires)
        out[lot.program] = Lapse(lot.program, (prev.amount if prev else 0) + lot.amount, since)
    return out


def lapse_of(ctx: AppContext, session: Session, account: str, program: int, now: int) -> Lapse:
    """What of ``program`` has lapsed at ``now`` (zero if nothing), over the indexed entries."""
    cursor = session.execute(
        sa.select(sa.func.max(IndexCursor.block_number)).where(ctx.cursor_filter())
    ).scalar_one_or_none()
    lapsed = lapses(ctx, session, account, int(cursor or 0), now)
    return lapsed.get(program, Lapse(program, 0, None))


def may_have_lapsed(ctx: AppContext, oldest: dict[int, int], now: int) -> bool:
    """Whether any program's oldest credit (``oldest``: program -> time, 0 for a merge) is old
    enough to have lapsed by ``now``: if not, nothing needs replaying."""
    return any(t + ctx.validity(p) <= now for p, t in oldest.items())


def require_spendable(
    account: str, program: int, amount: int, indexed: int, pending: int, lapse: Lapse
) -> None:
    """Refuse a debit of ``amount`` that the chain would refuse: 409 ``mileage_lapsed`` when the
    balance (less debits in flight) would cover it but for lapsed mileage, else 409
    ``insufficient_balance``. ``spendable = indexed - lapsed - pending``."""
    name = Program(program).name
    spendable = max(0, indexed - lapse.amount - pending)
    if amount <= spendable:
        return
    since = utc_iso(lapse.since) if lapse.since is not None else None
    details = {
        "account": account,
        "program": name,
        "amount": amount,
        "indexed_balance": indexed,
        "pending_debits": pending,
        "lapsed": lapse.amount,
        "lapsed_since": since,
        "spendable": spendable,
    }
    if lapse.amount > 0 and indexed - pending >= amount:
        raise MileageLapsed(
            f"{lapse.amount} {name} lapsed at {since} (valid {VALIDITY_WORDS} from the "
            f"grant) and cannot be spent: {spendable} spendable, {amount} requested; "
            "ask for at most the spendable amount",
            {**details, "balance": indexed},
        )
    raise InsufficientBalance(
        f"insufficient {name} balance: {spendable} available, {amount} requested",
        {**details, "balance": spendable},
    )
