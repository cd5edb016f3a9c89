"""An account's unspent lots at a block, replayed from its indexed entries (ledger.domain.lots).

A MERGE_IN brings the lots its source account held at its MERGE_OUT: the source's entries are
replayed too (up to 8 merges deep; deeper, the merged amount counts as one lot dated at the
merge).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.adapters.orm import Entry
from ledger.domain.checkpoints import EntryView
from ledger.domain.lots import Lot, SourceLots, replay_lots

MERGE_DEPTH = 8


def load_views(session: Session, account: str, max_block: int) -> list[EntryView]:
    """The entries of ``account`` up to ``max_block``, in sequence order."""
    rows = session.execute(
        sa.select(Entry.seq, Entry.kind, Entry.program, Entry.amount, Entry.ref, Entry.timestamp)
        .where(Entry.account_id == account, Entry.block_number <= max_block)
        .order_by(Entry.seq)
    ).all()
    return [
        EntryView(int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]), int(r[5])) for r in rows
    ]


def _source_for(session: Session, max_block: int, depth: int) -> SourceLots:
    """Lots a merged source account moved, replayed up to its MERGE_OUT."""

    def source(src: str, program: int) -> list[Lot] | None:
        if depth >= MERGE_DEPTH:
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
