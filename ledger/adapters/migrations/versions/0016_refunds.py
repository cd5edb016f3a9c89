"""Refunds of deductions (issue 15 item 5)

- ``operations.deduction_id``: for an operation of kind ``refund``, the op id of the deduction it
  gives back (its ref on chain); NULL for every other kind. Indexed: the API sums a deduction's
  refunds before queuing another one. ``operations.kind`` gets its CHECK (``refund``
  included) in 0017.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deduction_id", sa.String(length=66), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_operations_deduction_id"), ["deduction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operations_deduction_id"))
        batch_op.drop_column("deduction_id")
