"""A snapshot of the outbox for ``mileage bridge status`` and the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bridge.outbox.rows import AWARDS, OPS, TXS, UNRESOLVED, _aware
from ledger.adapters.award_state import award_state
from ledger.adapters.orm import IndexCursor, utcnow
from ledger.domain.outbox import AwardState


@dataclass
class QueueStatus:
    """A snapshot of the outbox for ``mileage bridge status`` and the metrics."""

    awards: dict[tuple[str, str], int] = field(default_factory=dict)  # (program, state) -> n
    operations: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, state) -> n
    oldest_pending_seconds: dict[str, float] = field(default_factory=dict)  # program -> age
    unresolved_txs: int = 0
    index_cursor: int | None = None
    chain_head: int | None = None

    @property
    def conflicts(self) -> int:
        """Awards in ``conflict`` (every program): each needs an operator."""
        return sum(n for (_, state), n in self.awards.items() if state == AwardState.CONFLICT)

    @property
    def indexer_lag(self) -> int | None:
        if self.chain_head is None:
            return None
        return self.chain_head - (self.index_cursor if self.index_cursor is not None else 0)


def queue_status(
    factory: sessionmaker[Session], chain_head: int | None = None, now: datetime | None = None
) -> QueueStatus:
    """Counts by state per program (awards) and per kind (operations), the oldest pending award's
    age per program, and the indexer cursor (lag = ``chain_head`` − cursor)."""
    now = now or utcnow()
    st = QueueStatus(chain_head=chain_head)
    with factory() as s:
        # a signed award's state is its transaction's (ledger.adapters.award_state)
        state = award_state(AWARDS.c.status, TXS.c.status)
        for program, state_name, n in s.execute(
            sa.select(AWARDS.c.program, state, sa.func.count())
            .select_from(AWARDS.outerjoin(TXS, TXS.c.id == AWARDS.c.tx_id))
            .group_by(AWARDS.c.program, state)
        ):
            st.awards[(program, state_name)] = st.awards.get((program, state_name), 0) + int(n)
        for kind, state, n in s.execute(
            sa.select(OPS.c.kind, OPS.c.status, sa.func.count()).group_by(OPS.c.kind, OPS.c.status)
        ):
            st.operations[(kind, state)] = int(n)
        for program, oldest in s.execute(
            sa.select(AWARDS.c.program, sa.func.min(AWARDS.c.created_at))
            .where(AWARDS.c.status == AwardState.PENDING)
            .group_by(AWARDS.c.program)
        ):
            if oldest is not None:
                st.oldest_pending_seconds[program] = max(
                    0.0, (now - _aware(oldest)).total_seconds()
                )
        st.unresolved_txs = int(
            s.scalar(
                sa.select(sa.func.count()).select_from(TXS).where(TXS.c.status.in_(UNRESOLVED))
            )
            or 0
        )
        cursor = s.scalar(sa.select(sa.func.max(IndexCursor.__table__.c.block_number)))
        st.index_cursor = int(cursor) if cursor is not None else None
    return st
