"""awards and bike_accruals: only the index entries a query reads

Every award a payout or a feed writes went into six B-trees, and every BIKE accrual into three,
two of them keyed by random 66-character hex: most of an award's insert cost at a million rows.
Three of those entries were never read:

- ``ix_awards_account_id``: no query finds awards by account alone (the merge moves an account's
  pending awards, which the status index finds; the audit compares ``lower(account_id)``, which
  no index serves);
- ``ix_awards_tx_id`` held a NULL entry for every award not yet claimed; it now holds the claimed
  ones only (``tx_id = :id``, the only lookup, implies ``tx_id IS NOT NULL`` for SQLite's and
  PostgreSQL's planners alike);
- ``ix_bike_accruals_account_id`` and ``ix_bike_accruals_award_id``: every query of accruals
  asks for the unpaid ones (``award_id IS NULL``): the payout's, and the wallet's accrued months
  of an account. Two partial indexes of the unpaid accruals replace them: by account (the
  wallet's), and by ``award_id`` (all NULL: the payout reads and marks the unpaid rows in the
  table's order, not at random through the accounts); a month leaves both when it is paid,
  instead of being re-entered under its award.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_CLAIMED = sa.text("tx_id IS NOT NULL")
_UNPAID = sa.text("award_id IS NULL")


def upgrade() -> None:
    op.drop_index("ix_awards_account_id", table_name="awards")
    op.drop_index("ix_awards_tx_id", table_name="awards")
    op.create_index(
        "ix_awards_tx_id", "awards", ["tx_id"], sqlite_where=_CLAIMED, postgresql_where=_CLAIMED
    )
    op.drop_index("ix_bike_accruals_account_id", table_name="bike_accruals")
    op.drop_index("ix_bike_accruals_award_id", table_name="bike_accruals")
    for name, column in (
        ("ix_bike_accruals_unpaid", "award_id"),
        ("ix_bike_accruals_unpaid_account", "account_id"),
    ):
        op.create_index(
            name, "bike_accruals", [column], sqlite_where=_UNPAID, postgresql_where=_UNPAID
        )


def downgrade() -> None:
    op.drop_index("ix_bike_accruals_unpaid_account", table_name="bike_accruals")
    op.drop_index("ix_bike_accruals_unpaid", table_name="bike_accruals")
    op.create_index("ix_bike_accruals_award_id", "bike_accruals", ["award_id"])
    op.create_index("ix_bike_accruals_account_id", "bike_accruals", ["account_id"])
    op.drop_index("ix_awards_tx_id", table_name="awards")
    op.create_index("ix_awards_tx_id", "awards", ["tx_id"])
    op.create_index("ix_awards_account_id", "awards", ["account_id"])
