"""Claiming awards for a batch: leases, releases, and awards the contract rejects for good."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from bridge.outbox.rows import AWARDS, ClaimedAward, OutboxBase, _rows, retry_db
from ledger.adapters.orm import utcnow
from ledger.domain.outbox import AwardState


class AwardQueue(OutboxBase):
    """Pending awards, leased to this worker in batches."""

    @retry_db
    def claim_awards(self, program: str, limit: int) -> list[ClaimedAward]:
        """Lease up to ``limit`` pending awards of ``program`` (oldest number first).

        A worker re-claims its own leases at once (a restarted process keeps its worker id),
        another worker's only after they expire."""
        now = utcnow()
        candidates = (
            sa.select(AWARDS.c.award_no)
            .where(self._claimable(program, now))
            .order_by(AWARDS.c.award_no)
            .limit(limit)
        )
        if self.postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            sa.update(AWARDS)
            .where(AWARDS.c.award_no.in_(candidates.scalar_subquery()))
            .values(claimed_by=self.worker_id, claimed_until=now + self.lease, updated_at=now)
            .returning(
                AWARDS.c.award_no,
                AWARDS.c.award_id,
                AWARDS.c.account_id,
                AWARDS.c.amount,
                AWARDS.c.program,
                AWARDS.c.error,
            )
        )
        with self.factory() as s, s.begin():
            rows = s.execute(stmt).all()
        return sorted(
            (
                ClaimedAward(
                    r.award_no,
                    r.award_id,
                    r.account_id.lower(),
                    int(r.amount),
                    r.program,
                    r.error is not None,
                )
                for r in rows
            ),
            key=lambda a: a.award_no,
        )

    @retry_db
    def release_awards(self, award_nos: Iterable[int]) -> None:
        """Give up this worker's lease on awards that stay pending (e.g. the program is paused)."""
        nos = list(award_nos)
        if not nos:
            return
        with self.factory() as s, s.begin():
            _rows(
                s,
                sa.update(AWARDS)
                .where(
                    AWARDS.c.award_no.in_(nos),
                    AWARDS.c.claimed_by == self.worker_id,
                    AWARDS.c.status == AwardState.PENDING,
                )
                .values(claimed_by=None, claimed_until=None, updated_at=utcnow()),
            )

    @retry_db
    def fail_awards(self, failures: dict[int, str]) -> int:
        """Mark awards failed for good with their decoded reason. Returns how many changed."""
        n = 0
        with self.factory() as s, s.begin():
            for no, reason in failures.items():
                n += _rows(
                    s,
                    sa.update(AWARDS)
                    .where(AWARDS.c.award_no == no, AWARDS.c.status == AwardState.PENDING)
                    .values(
                        status=AwardState.FAILED,
                        error=reason[:2000],
                        claimed_by=None,
                        claimed_until=None,
                        updated_at=utcnow(),
                    ),
                )
        return n
