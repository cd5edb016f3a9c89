"""award_windows: drop the index on award_id

No query looks a window up by its award (the overlap check and the BIKE payout's paid marks go
by the primary key: program, holder, month), so the index only cost a write per window.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("award_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_award_windows_award_id"))


def downgrade() -> None:
    with op.batch_alter_table("award_windows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_award_windows_award_id"), ["award_id"], unique=False)
