"""remove award windows that no award holds

Before ``ledger.adapters.db.savepoint``, an import on SQLite committed the first chunk's award
windows on their own (the savepoint that wrote them was the transaction's first write, and its
RELEASE committed it): a feed rejected afterwards, or an import stopped midway, left windows
whose award was never recorded, and every later import of that award failed on the windows'
primary key. A window is written with its award, in one transaction, so a window whose award
id names no award is such a leftover: removed, the award can be recorded again. Nothing else is
touched (on PostgreSQL there are none).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM award_windows "
        "WHERE NOT EXISTS (SELECT 1 FROM awards WHERE awards.award_id = award_windows.award_id)"
    )


def downgrade() -> None:
    pass  # the leftovers held nothing: there is nothing to put back
