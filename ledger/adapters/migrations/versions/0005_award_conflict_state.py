"""award conflict state

An award the contract skipped (its number already recorded) while the chain holds no GRANT of it
goes to ``conflict`` instead of ``final``: the status check accepts the new state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD = "status IN ('pending', 'signed', 'sent', 'mined', 'final', 'failed')"
NEW = "status IN ('pending', 'signed', 'sent', 'mined', 'final', 'failed', 'conflict')"


def _status_check(condition: str) -> None:
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_awards_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_awards_status"), condition)


def upgrade() -> None:
    _status_check(NEW)


def downgrade() -> None:
    # refused while awards are in conflict: an operator resolves them first
    _status_check(OLD)
