"""operations index on tx_id

Every batch the submitter sends moves its transaction's operations by ``tx_id`` (sent, then
mined or final), and the receipt-lost recovery reads them the same way: without an index each of
those statements read the whole ``operations`` table, twice per batch, a cost that grew with
every conversion, deduction and refund ever requested.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_operations_tx_id", "operations", ["tx_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_operations_tx_id", table_name="operations")
