"""Pending operations (conversions, deductions, consents): read in order, failed for good."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from bridge.outbox.rows import OPS, OutboxBase, PendingOperation, _rows, retry_db
from ledger.adapters.orm import utcnow
from ledger.domain.outbox import OperationState


class OperationQueue(OutboxBase):
    """Pending operations; signing one is a compare-and-set (:meth:`store_signed`)."""

    def pending_operations(self, kinds: Sequence[str], limit: int) -> list[PendingOperation]:
        """Pending conversions/deductions of ``kinds``, oldest first (not claimed: signing is a
        compare-and-set, see :meth:`store_signed`)."""
        if not kinds:
            return []
        with self.factory() as s:
            rows = s.execute(
                sa.select(OPS)
                .where(OPS.c.status == OperationState.PENDING, OPS.c.kind.in_(list(kinds)))
                .order_by(OPS.c.created_at, OPS.c.op_id)
                .limit(limit)
            ).all()
        return [
            PendingOperation(
                op_id=r.op_id,
                kind=r.kind,
                account_id=r.account_id.lower(),
                program=r.program,
                to_program=r.to_program,
                amount=int(r.amount),
                reason=r.reason,
                reference=r.reference,
            )
            for r in rows
        ]

    @retry_db
    def fail_operation(self, op_id: str, reason: str) -> bool:
        with self.factory() as s, s.begin():
            n = _rows(
                s,
                sa.update(OPS)
                .where(OPS.c.op_id == op_id, OPS.c.status == OperationState.PENDING)
                .values(status=OperationState.FAILED, error=reason[:2000], updated_at=utcnow()),
            )
        return bool(n)
