"""An award's state as SQL: its stored status, or its transaction's.

A claimed award's row is written once, ``signed`` with its transaction's id, and not rewritten as
the transaction is sent, mined and final: a batch's 500 rows would be updated at each step of one
transaction. Until the transaction fails or is replaced (its awards return to ``pending``) or the
chain skips one of them (``conflict``), a signed award's state is its transaction's. Every reader
of an award's state asks these expressions, never ``awards.status`` alone (migration 0024 moved
the rows written before this rule to ``signed``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledger.adapters.orm import Award, ChainTx
from ledger.domain.outbox import AwardState, TxState

FOLLOWED = (TxState.SENT.value, TxState.MINED.value, TxState.FINAL.value)
"""The transaction states a signed award takes as its own."""


def _sql(value: str) -> Any:
    """A state name as an SQL literal: the expression holds no bound parameter, so that it can
    be grouped by (PostgreSQL matches a GROUP BY expression to the selected one by its text)."""
    return sa.literal_column(f"'{value}'")


def award_state(award_status: Any = Award.status, tx_status: Any = ChainTx.status) -> Any:
    """The award's state from its stored status and its transaction's (``tx_status``: the
    transaction's column in a query joined as :func:`with_tx` joins it)."""
    return sa.case(
        (
            sa.and_(
                award_status == _sql(AwardState.SIGNED.value),
                tx_status.in_([_sql(v) for v in FOLLOWED]),
            ),
            tx_status,
        ),
        else_=award_status,
    )


def with_tx(select: Any, award: Any = Award, tx: Any = ChainTx) -> Any:
    """``select`` with the award's transaction outer-joined (for :func:`award_state`)."""
    return select.select_from(award).outerjoin(tx, tx.id == award.tx_id)


def award_state_of(award: Any = Award) -> Any:
    """The award's state without a join: a signed award's transaction state read by a
    correlated subquery (for statements that cannot take a join)."""
    signed = _sql(AwardState.SIGNED.value)
    followed = (
        sa.select(sa.case((ChainTx.status.in_([_sql(v) for v in FOLLOWED]), ChainTx.status)))
        .where(ChainTx.id == award.tx_id)
        .scalar_subquery()
    )
    return sa.case((award.status == signed, sa.func.coalesce(followed, signed)), else_=award.status)
