"""The outbox statements every batch runs, built once with bind parameters (``b_tx_id``,
``b_now``, ...): building an UPDATE took ~0.2 ms of CPU, more than SQLite took to run it.
:class:`bridge.outbox.txs.TxLog` executes them; each equals what the generic helper named beside
it builds for one transaction (tests/integration/test_outbox_claim_sign.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa

from bridge.outbox.rows import AWARDS, IN_FLIGHT, OPS, TXS, UNRESOLVED, claimable
from ledger.domain.outbox import AwardState, OperationState, TxState


class CLAIM:
    """:meth:`TxLog.claim_and_sign`'s statements, built once (as :class:`HOT`): the claimable
    awards (:meth:`OutboxBase._claimable`) read, the transaction stored, the batch signed by
    range (SQLite) or by number (PostgreSQL)."""

    where = claimable(sa.bindparam("b_program"), sa.bindparam("b_now"), sa.bindparam("b_worker"))
    select = (
        sa.select(
            AWARDS.c.award_no,
            AWARDS.c.award_id,
            AWARDS.c.account_id,
            AWARDS.c.amount,
            AWARDS.c.error,
        )
        .where(where)
        .order_by(AWARDS.c.award_no)
        .limit(sa.bindparam("b_limit"))
    )
    select_locked = select.with_for_update(skip_locked=True)
    insert_tx = sa.insert(TXS).returning(TXS)
    signed: ClassVar[dict[str, Any]] = {
        "status": AwardState.SIGNED,
        "tx_id": sa.bindparam("b_tx_id"),
        "claimed_by": sa.bindparam("b_claimed_by"),
        "claimed_until": sa.bindparam("b_until"),
        "updated_at": sa.bindparam("b_now"),
    }
    sign_range = (
        sa.update(AWARDS)
        .where(where, AWARDS.c.award_no.between(sa.bindparam("b_first"), sa.bindparam("b_last")))
        .values(**signed)
    )
    sign_listed = (
        sa.update(AWARDS)
        .where(
            AWARDS.c.award_no.in_(sa.bindparam("b_nos", expanding=True)),
            AWARDS.c.status == AwardState.PENDING,
        )
        .values(**signed)
    )


class HOT:
    """The statements every batch runs, built once with bind parameters (``tx_id``, ``now``,
    ...): building an UPDATE took more CPU (~0.2 ms) than SQLite took to run it. Each is what
    the generic helper named beside it builds for one transaction."""

    #: _set_txs([tx], UNRESOLVED, now, status=sent, attempts=attempts + 1)
    tx_sent = (
        sa.update(TXS)
        .where(TXS.c.id == sa.bindparam("b_tx_id"), TXS.c.status.in_(list(UNRESOLVED)))
        .values(updated_at=sa.bindparam("b_now"), status=TxState.SENT, attempts=TXS.c.attempts + 1)
    )
    #: _move_rows([tx], (signed,), sent, now, tables=(OPS,))
    ops_sent = (
        sa.update(OPS)
        .where(OPS.c.tx_id == sa.bindparam("b_tx_id"), OPS.c.status.in_([OperationState.SIGNED]))
        .values(status=OperationState.SENT, updated_at=sa.bindparam("b_now"))
    )
    #: _set_txs([tx], None, now, status=..., block_number=..., block_hash=..., gas_used=...,
    #: error=None)
    tx_landed = (
        sa.update(TXS)
        .where(TXS.c.id == sa.bindparam("b_tx_id"))
        .values(
            updated_at=sa.bindparam("b_now"),
            status=sa.bindparam("b_status"),
            block_number=sa.bindparam("b_block_number"),
            block_hash=sa.bindparam("b_block_hash"),
            gas_used=sa.bindparam("b_gas_used"),
            error=None,
        )
    )
    #: _move_rows([tx], IN_FLIGHT, to_state, now, tables=(OPS,)): the awards are not moved,
    #: they take their transaction's state (ledger.adapters.award_state)
    ops_landed = (
        sa.update(OPS)
        .where(OPS.c.tx_id == sa.bindparam("b_tx_id"), OPS.c.status.in_(list(IN_FLIGHT)))
        .values(status=sa.bindparam("b_to_state"), updated_at=sa.bindparam("b_now"))
    )
    award_count = (
        sa.select(sa.func.count())
        .select_from(AWARDS)
        .where(AWARDS.c.tx_id == sa.bindparam("b_tx_id"))
    )
