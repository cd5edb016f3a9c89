"""The database side of the bridge: claiming outbox rows, nonces, and every state transition.

States (awards and operations alike)::

    pending ──claim+sign──▶ signed ──send──▶ sent ──receipt──▶ mined ──confirmations──▶ final
       │                                      │  ▲    │  (reverted / nonce taken by another tx:
       ▼                                      │  └────┤   back to pending, the next simulation
    failed (rejected for good; ``error`` says │  left │   isolates the cause)
    why, as the decoded custom error)         ▼  chain▼
                                            conflict (award skipped, its number holds another
                                            award on chain: not granted, never retried)

An award's row is written when it is claimed and signed (``signed``, with its transaction's id)
and not again while its transaction is sent, mined and final: a signed award's state is its
transaction's (:mod:`ledger.adapters.award_state`; every reader asks it). Operations, a few per
transaction, are moved with their transaction. A mined or final transaction that left the chain
(reorg) goes back to ``sent`` (its awards with it) and its stored bytes are sent again
(:meth:`Outbox.unmine`).

Invariants, each kept by one database transaction:

- an award is signed into at most one live transaction: claiming is a compare-and-set lease
  (``claimed_by``/``claimed_until``; on PostgreSQL also ``FOR UPDATE SKIP LOCKED``) and signing
  re-checks the lease in the transaction that stores the signed transaction;
- a nonce is allocated, the transaction signed, the raw bytes and hash stored (``ChainTx``) and the
  rows moved to ``signed`` in one transaction, before anything is sent: after a crash the identical
  bytes are sent again, never a second signature for the same rows;
- an operation (conversion/deduction) moves ``pending → signed`` with a compare-and-set in that
  same transaction, so two workers can never both sign it.

SQLite serialises writers; every transaction here starts with a write (so a stale read snapshot
can never need upgrading) and is retried when the database is briefly locked.

What every batch runs (claim and sign, sent, mined/final, the unresolved and mined transactions)
runs as prebuilt SQL on a pooled DB-API connection for ``sqlite3`` and ``psycopg``
(:mod:`bridge.outbox.fast`), the same statements in the same transactions as the SQLAlchemy path
every other driver (and ``Outbox(..., fast=False)``) takes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from bridge.outbox.awards import AwardQueue
from bridge.outbox.operations import OperationQueue
from bridge.outbox.rows import (
    AWARDS,
    OPS,
    TXS,
    UNRESOLVED,
    ClaimedAward,
    LeaseLost,
    PendingOperation,
    StoredTx,
    _aware,
    retry_db,
)
from bridge.outbox.status import QueueStatus, queue_status
from bridge.outbox.txs import TxLog
from ledger.domain.outbox import AwardState, OperationState, TxState

__all__ = [
    "UNRESOLVED",
    "ClaimedAward",
    "LeaseLost",
    "Outbox",
    "PendingOperation",
    "QueueStatus",
    "StoredTx",
    "_aware",
    "queue_status",
    "retry_db",
]


class Outbox(AwardQueue, OperationQueue, TxLog):
    """Outbox operations of one worker (``worker_id``) over one database: claiming awards
    (:class:`AwardQueue`), pending operations (:class:`OperationQueue`), nonces and signed
    transactions (:class:`TxLog`)."""

    def has_work(self, programs: Sequence[str], op_kinds: Sequence[str], sender: str) -> bool:
        """Anything left for this worker: pending rows in its lanes or unresolved transactions."""
        with self.factory() as s:
            if (
                programs
                and s.scalar(
                    sa.select(AWARDS.c.award_no)
                    .where(
                        AWARDS.c.status == AwardState.PENDING, AWARDS.c.program.in_(list(programs))
                    )
                    .limit(1)
                )
                is not None
            ):
                return True
            if (
                op_kinds
                and s.scalar(
                    sa.select(OPS.c.op_id)
                    .where(OPS.c.status == OperationState.PENDING, OPS.c.kind.in_(list(op_kinds)))
                    .limit(1)
                )
                is not None
            ):
                return True
            return (
                s.scalar(
                    sa.select(TXS.c.id)
                    .where(TXS.c.sender == sender, TXS.c.status.in_((*UNRESOLVED, TxState.MINED)))
                    .limit(1)
                )
                is not None
            )
