"""BIKE accruals (issue 14 item 4, PROGRAM_RULES §2.4)

- ``bike_accruals``: a member's BIKE mileage per month, accrued at import with the caps
  applied, and the payout award that paid it (``award_id``, NULL while unpaid). BIKE awards
  recorded before this revision (one per month) stay as they are and count toward the caps.

Revision ID: 0015
Revises: 0014 (0013 in the brief; chained after main's 0014 at the merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bike_accruals",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("account_id", sa.String(length=66), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("savings", sa.Text(), nullable=True),
        sa.Column("award_id", sa.String(length=66), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_bike_accruals_amount")),
        sa.PrimaryKeyConstraint("member_id", "month", name=op.f("pk_bike_accruals")),
    )
    with op.batch_alter_table("bike_accruals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bike_accruals_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bike_accruals_award_id"), ["award_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bike_accruals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bike_accruals_award_id"))
        batch_op.drop_index(batch_op.f("ix_bike_accruals_account_id"))
    op.drop_table("bike_accruals")
