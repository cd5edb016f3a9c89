"""Alembic migrations from an empty database produce exactly the schema of ledger/adapters/orm.py
(on SQLite and PostgreSQL), so no table or column exists only in the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger.adapters.db import make_engine
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
