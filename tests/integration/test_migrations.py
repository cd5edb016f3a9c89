"""Alembic migrations from an empty database produce exactly the schema of ledger/adapters/orm.py
(on SQLite and PostgreSQL), so no table or column exists only in the models."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger.adapters.db import alembic_config, make_engine
from ledger.adapters.orm import Base


def test_migrations_match_the_models(db_url: str) -> None:
    # db_url is a fresh database already migrated to head by the fixture.
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        version = conn.execute(sa.text("select version_num from alembic_version")).scalar()
    engine.dispose()
    assert diff == [], diff
    assert version is not None


def test_award_windows_become_without_rowid_on_sqlite_and_keep_their_rows(tmp_path: Path) -> None:
    """0020 copies award_windows into a WITHOUT ROWID table (one B-tree: the primary key) and
    back on downgrade, every window kept."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    command.upgrade(alembic_config(url), "0019")
    rows = [("BIKE", "member:B1", "2025-01", "0x01"), ("CAR", "vehicle:V1", "2024-03", "0x02")]

    def table() -> tuple[str, set[tuple[str, ...]]]:
        engine = make_engine(url)
        with engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'award_windows'"
            ).scalar_one()
            found = {tuple(r) for r in conn.exec_driver_sql("SELECT * FROM award_windows")}
        engine.dispose()
        return " ".join(sql.split()), found

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO award_windows VALUES (?, ?, ?, ?)", rows)
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    sql, found = table()
    assert sql.endswith("WITHOUT ROWID") and "PRIMARY KEY (program, holder, month)" in sql
    assert found == set(rows)
    command.downgrade(alembic_config(url), "0019")
    sql, found = table()
    assert not sql.endswith("WITHOUT ROWID") and found == set(rows)
