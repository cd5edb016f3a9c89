"""account_heads: the indexer's per-account (count, head) projection

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_heads",
        sa.Column("account_id", sa.String(length=66), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.String(length=66), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_account_heads_count")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_heads")),
    )


def downgrade() -> None:
    op.drop_table("account_heads")
