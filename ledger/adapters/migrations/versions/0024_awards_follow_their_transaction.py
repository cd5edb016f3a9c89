"""awards follow their transaction's state

A claimed award stays ``signed`` with its transaction's id; its state is the transaction's
(sent, mined, final: ledger.adapters.award_state) instead of being rewritten at each step. The
rows written before that rule (``sent``, ``mined`` or ``final``, each with its transaction) are
moved to ``signed``: their state reads the same, from their transaction. Downgrade writes the
state back into the rows.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_FOLLOWED = "('sent', 'mined', 'final')"


def upgrade() -> None:
    op.execute(
        f"UPDATE awards SET status = 'signed' WHERE status IN {_FOLLOWED} AND tx_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE awards SET status = (SELECT t.status FROM chain_txs t WHERE t.id = awards.tx_id) "
        f"WHERE status = 'signed' AND tx_id IN (SELECT id FROM chain_txs WHERE status IN "
        f"{_FOLLOWED})"
    )
