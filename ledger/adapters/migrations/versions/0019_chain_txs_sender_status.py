"""chain_txs index on (sender, status, nonce)

The submitter reads its transactions by state on every pass (in flight, mined, landed). Through
the (sender, nonce) index SQLite reads every row of the sender, and ``status`` comes after
``raw_tx`` (64 kB for a batch of 500 awards, in overflow pages): each read walked them all, a
cost that grew with every transaction ever sent. This index finds the rows by state.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_chain_txs_sender_status", "chain_txs", ["sender", "status", "nonce"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_chain_txs_sender_status", table_name="chain_txs")
