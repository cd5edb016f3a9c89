"""donation consent history (issue 14 item 5)

``consent_history``: append-only record of every donation consent and withdrawal (account,
consent, at, terms version, channel, source). An account's current consent
(``accounts.donation_consent``) is the consent of its latest row. Existing accounts get one row
with their current consent (channel ``migration``), so every account has a history.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(66), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms_version", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_consent_history_account", "consent_history", ["account_id", "at"])
    op.execute(
        "INSERT INTO consent_history (account_id, consent, at, terms_version, channel, source,"
        " recorded_at) SELECT account_id, donation_consent, created_at, 'unspecified',"
        " 'migration', 'accounts.donation_consent before revision 0014', created_at"
        " FROM accounts"
    )


def downgrade() -> None:
    op.drop_index("ix_consent_history_account", table_name="consent_history")
    op.drop_table("consent_history")
