"""Bulk inserts on a session's own DB-API connection (so in its transaction): PostgreSQL gets
``COPY``, SQLite a plain ``executemany`` of tuples. SQLAlchemy's Core ``insert(table)`` with a
list of dicts processes every parameter of every row in Python, which costs more than the
database's own work for the tens of thousands of rows of an import or a payout.

The rows are tuples of the values the driver takes as they are (strings, ints, None); a column
left out gets its model default (``utcnow`` for ``created_at`` ...), computed once per call, as
SQLAlchemy would store it. Driver errors are raised as SQLAlchemy's (``IntegrityError`` ...),
like an ``execute`` on the session, so callers catch the same exceptions.
The indexer (bridge/index_tables.py) writes its tables with it too: :meth:`BulkWriter.upsert`
(PostgreSQL ``unnest`` arrays, SQLite ``executemany``, both ``ON CONFLICT DO UPDATE``) and
:meth:`BulkWriter.select_in`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

Row = tuple[Any, ...]
_PG: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

IN_CHUNK = 500  # values per ``IN (...)`` list on SQLite (:meth:`BulkWriter.select_in`)
LARGE_CACHE_KIB = 64 * 1024
"""SQLite page cache of a connection while it writes in bulk (SQLite's default: 2 MiB)."""


class BulkWriter:
    """Inserts and statements on the session's DB-API connection, in its transaction."""

    def __init__(self, session: Session) -> None:
        conn = session.connection()
        self.dialect = conn.dialect
        if self.dialect.name not in ("postgresql", "sqlite"):
            raise NotImplementedError(f"bulk writes on {self.dialect.name!r} (SQLite, PostgreSQL)")
        self.raw: Any = conn.connection.dbapi_connection
        self.mark = "?" if self.dialect.name == "sqlite" else "%s"

    @property
    def postgres(self) -> bool:
        return self.dialect.name == "postgresql"

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert ``rows`` (values of ``columns``, in that order) into ``table``. The other
        columns get their scalar or callable model default, else NULL (or their autoincrement)."""
        if not rows:
            return
        _check(self.dialect, table, columns)
        names, extra = list(columns), []
        for col in table.c:
            if col.name in columns or col.default is None:
                continue
            default: Any = col.default
            if default.is_scalar:
                value = default.arg
            elif default.is_callable:
                value = default.arg(None)  # SQLAlchemy wraps a no-argument default in fn(ctx)
            else:
                continue
            process = col.type._cached_bind_processor(self.dialect)
            names.append(col.name)
            extra.append(process(value) if process is not None else value)
        tail = tuple(extra)
        cols = ", ".join(names)
        with self._cursor(f"INSERT INTO {table.name} ({cols})") as cur:
            if self.postgres:
                with cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r + tail)
            else:
                marks = ", ".join([self.mark] * len(names))
                sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks})"
                cur.executemany(sql, [r + tail for r in rows] if tail else rows)

    def upsert(self, table: Table, columns: Sequence[str], keys: int, rows: Sequence[Row]) -> None:
        """Insert ``rows`` (values of ``columns``) into ``table``; a row whose first ``keys``
        columns (a unique key) are already stored updates the other columns there instead.
        PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays)``; SQLite: ``executemany``."""
        if not rows:
            return
        sql = _upsert_sql(self.dialect, table, tuple(columns), keys)
        if self.postgres:
            self.execute(sql, [list(col) for col in zip(*rows, strict=True)])
            return
        with self._cursor(sql) as cur:
            cur.executemany(sql, rows)

    def select_in(
        self, table: Table, columns: Sequence[str], key: str, values: Sequence[Any]
    ) -> list[Row]:
        """The ``columns`` of the rows of ``table`` whose ``key`` is one of ``values``: one
        ``= ANY(array)`` on PostgreSQL, ``IN (...)`` lists of `IN_CHUNK` values on SQLite."""
        names = ", ".join(columns)
        if self.postgres:
            of = f"{key} = ANY(%s::{_array_type(table, key)}[])"
            sql = f"SELECT {names} FROM {table.name} WHERE {of}"
            return self.fetch(sql, [list(values)])
        out: list[Row] = []
        for i in range(0, len(values), IN_CHUNK):
            part = values[i : i + IN_CHUNK]
            where, params = self.any_of(key, part)
            out.extend(self.fetch(f"SELECT {names} FROM {table.name} WHERE {where}", params))
        return out

    def any_of(self, column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
        """SQL ``column`` is one of ``values``, and its parameters: ``= ANY(array)`` on
        PostgreSQL, ``IN (?, ...)`` on SQLite (up to 32,766 parameters a statement)."""
        if self.postgres:
            return f"{column} = ANY({self.mark})", [list(values)]
        return f"{column} IN ({', '.join([self.mark] * len(values)) or 'NULL'})", list(values)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run ``sql`` (placeholders: `mark`) once; returns the rows it changed."""
        with self._cursor(sql) as cur:
            cur.execute(sql, params)
            return int(cur.rowcount)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The rows ``sql`` (placeholders: `mark`) selects."""
        with self._cursor(sql) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    @contextmanager
    def _cursor(self, sql: str) -> Iterator[Any]:
        cur = self.raw.cursor()
        try:
            yield cur
        except self.dialect.loaded_dbapi.Error as e:
            raise sa_exc.DBAPIError.instance(
                sql, None, e, self.dialect.loaded_dbapi.Error, dialect=self.dialect
            ) from e
        finally:
            cur.close()


def _check(dialect: Dialect, table: Table, columns: Sequence[str]) -> None:
    for name in columns:
        if table.c[name].type._cached_bind_processor(dialect) is not None:
            raise TypeError(f"{table.name}.{name} needs conversion: not for bulk writes")


@lru_cache(maxsize=64)
def _array_type(table: Table, column: str) -> str:
    """The PostgreSQL element type of an array of ``column``'s values, without a length (a cast
    to ``varchar(n)`` would cut a longer value instead of refusing it)."""
    return str(table.c[column].type.compile(dialect=_PG)).split("(", 1)[0].lower()


@lru_cache(maxsize=64)
def _upsert_sql(dialect: Dialect, table: Table, columns: tuple[str, ...], keys: int) -> str:
    """The statement of :meth:`BulkWriter.upsert` (made once per table, columns and dialect)."""
    _check(dialect, table, columns)
    names = ", ".join(columns)
    conflict = ", ".join(columns[:keys])
    update = ", ".join(f"{c} = excluded.{c}" for c in columns[keys:])
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%s::{_array_type(table, c)}[]" for c in columns)
        rows = f"SELECT * FROM unnest({arrays})"
    else:
        rows = f"VALUES ({', '.join(['?'] * len(columns))})"
    return (
        f"INSERT INTO {table.name} ({names}) {rows} ON CONFLICT ({conflict}) DO UPDATE SET {update}"
    )


@contextmanager
def large_page_cache(bulk: BulkWriter) -> Iterator[None]:
    """On SQLite, the connection's page cache raised to :data:`LARGE_CACHE_KIB` while it writes
    in bulk (a payout, a feed import, an indexer step): their inserts land all over indexes on
    random keys (award, account and member ids), and with the default 2 MiB the pages of a large
    write are evicted and read back (and dirty ones spilled to the WAL) again and again. The
    size is restored after, written or not (a pooled connection, which the API's reads share);
    the cache holds only the pages used. PostgreSQL: nothing to do."""
    if bulk.postgres:
        yield
        return
    ((size,),) = bulk.fetch("PRAGMA cache_size")  # < 0: KiB, else pages
    ((page,),) = bulk.fetch("PRAGMA page_size")
    if (-int(size) if size < 0 else int(size) * int(page) // 1024) >= LARGE_CACHE_KIB:
        yield
        return
    restore = f"PRAGMA cache_size = {int(size)}"
    bulk.execute(f"PRAGMA cache_size = -{LARGE_CACHE_KIB}")
    try:
        yield
    except BaseException:
        # Unwinding: the first error is what counts. A signal or an error that cut a statement
        # short may have closed the connection (SQLAlchemy does), and its cache went with it.
        with suppress(bulk.dialect.loaded_dbapi.Error, sa_exc.DBAPIError):
            bulk.execute(restore)
        raise
    bulk.execute(restore)
