"""usage notices: members whose usage rose 10 % or more in an award round

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_notices",
        sa.Column("program", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=66), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program", "member_id", "period", name=op.f("pk_usage_notices")),
    )
    with op.batch_alter_table("usage_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_notices_program_period", ["program", "period"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_notices_program_period")
    op.drop_table("usage_notices")
