"""award_windows: a WITHOUT ROWID table on SQLite

A window is only ever found by its primary key (program, holder, month): the overlap check and
the BIKE payout's paid marks. As a rowid table, SQLite kept the rows and a separate index of the
key, so each window cost two B-tree writes and each lookup an index seek then a row fetch for
its award_id. WITHOUT ROWID keeps the rows in the key's B-tree: one write, one seek. The table is
copied (SQLite cannot change this in place). PostgreSQL: nothing changes.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _recreate(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "award_windows", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    _recreate(with_rowid=False)


def downgrade() -> None:
    _recreate(with_rowid=True)
