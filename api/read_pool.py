"""Connections of the hot read path (``GET /v1/accounts/{account}/balances``).

On PostgreSQL a pooled connection of the app's engine costs three round trips per request on
top of the queries: the pool's pre-ping on checkout, the ``BEGIN`` psycopg opens before the
first query, and the ``ROLLBACK`` of the pool's reset on return. The balance read is a single
statement (the cursor row joined with the balances, one snapshot) and a second one bounded by
that statement's block, so it needs no transaction: it runs on its own small pool of
autocommit connections without pre-ping. A connection the server dropped (restart, idle
timeout) is discarded and the read retried once on a fresh one, which is what the pre-ping
bought. psycopg prepares a statement after its fifth use on a connection (``prepare_threshold``,
default 5), so the few long-lived connections of this pool run the two reads prepared.

SQLite has none of these round trips: the app's engine serves its reads as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from api.context import AppContext
from ledger.adapters.db import make_engine

T = TypeVar("T")

#: the key of the read engine in ``AppContext.cache``
CACHE_KEY = "read_engine"
#: the balance route runs on the event loop, one read at a time per worker: a few connections
#: per worker are enough (PostgreSQL's default max_connections is 100 for every worker and tool)
POOL_SIZE = 4
MAX_OVERFLOW = 8


def read_engine(ctx: AppContext) -> Engine:
    """The engine of the hot reads: the app's own on SQLite; on a server database a pool of
    autocommit connections without pre-ping (built on first use, disposed by
    :func:`dispose`)."""
    eng = ctx.cache.get(CACHE_KEY)
    if eng is None:
        if ctx.engine.dialect.name == "sqlite":
            eng = ctx.engine
        else:
            eng = make_engine(
                ctx.engine.url.render_as_string(hide_password=False),
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
            )
        eng = ctx.cache.setdefault(CACHE_KEY, eng)
    assert isinstance(eng, Engine)
    return eng


def dispose(ctx: AppContext) -> None:
    """Close the read pool's connections (at the app's shutdown)."""
    eng = ctx.cache.pop(CACHE_KEY, None)
    if isinstance(eng, Engine) and eng is not ctx.engine:
        eng.dispose()


def run_read(ctx: AppContext, read: Callable[[Any], T]) -> T:
    """``read(cursor)`` on a pooled read connection; if the server dropped the connection, it
    is discarded and ``read`` runs once more on a fresh one."""
    eng = read_engine(ctx)
    for attempt in (1, 2):
        conn = eng.raw_connection()
        cur = None
        try:
            cur = conn.cursor()
            result = read(cur)
            cur.close()
            return result
        except eng.dialect.loaded_dbapi.Error as exc:
            if attempt == 2 or not eng.dialect.is_disconnect(exc, conn.dbapi_connection, cur):
                raise
            conn.invalidate(exc)
        finally:
            conn.close()  # back to the pool (an invalidated one is replaced)
    raise AssertionError("unreachable")
