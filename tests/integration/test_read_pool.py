"""The hot read path's own pool (api/read_pool.py): autocommit on PostgreSQL, and a connection
the server dropped is replaced without a ping before every read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from api import read_pool
from api.context import AppContext
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, REF_KEY


@pytest.fixture
def ctx(db_url: str) -> Iterator[AppContext]:
    c = AppContext.build(
        Settings(
            database_url=db_url, account_key=SecretStr(ACCOUNT_KEY), ref_key=SecretStr(REF_KEY)
        )
    )
    yield c
    read_pool.dispose(c)
    c.engine.dispose()


def _backend(cur: Any) -> int:
    cur.execute("SELECT pg_backend_pid()")
    return int(cur.fetchone()[0])


def test_sqlite_reads_use_the_apps_engine(ctx: AppContext) -> None:
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert read_pool.read_engine(ctx) is ctx.engine


def test_postgres_reads_run_outside_a_transaction(ctx: AppContext) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    assert read_pool.read_engine(ctx) is not ctx.engine
    assert read_pool.run_read(ctx, lambda cur: cur.connection.autocommit) is True
    # the app's own engine still opens transactions (sessions write through it)
    with ctx.engine.connect() as conn:
        assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]


def test_a_dropped_connection_is_replaced_and_the_read_retried_once(ctx: AppContext) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    first = read_pool.run_read(ctx, _backend)
    with ctx.engine.begin() as conn:  # the server drops it (restart, idle timeout)
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    second = read_pool.run_read(ctx, _backend)
    assert second != first


def test_a_failing_read_is_not_retried(ctx: AppContext) -> None:
    calls: list[int] = []

    def bad(cur: Any) -> None:
        calls.append(1)
        cur.execute("SELECT no_such_column FROM index_cursor")

    with pytest.raises(Exception, match="no_such_column"):
        read_pool.run_read(ctx, bad)
    assert calls == [1]
