"""Bulk inserts on a session's own DB-API connection (so in its transaction): PostgreSQL gets
``COPY``, SQLite a plain ``executemany`` of tuples. SQLAlchemy's Core ``insert(table)`` with a
list of dicts processes every parameter of every row in Python, which costs more than the
database's own work for the tens of thousands of rows of an import or a payout.

The rows are tuples of the values the driver takes as they are (strings, ints, None); a column
left out gets its model default (``utcnow`` for ``created_at`` ...), computed once per call, as
SQLAlchemy would store it. Driver errors are raised as SQLAlchemy's (``IntegrityError`` ...),
like an ``execute`` on the session, so callers catch the same exceptions.
(bridge/index_tables.py's writer does the same for the indexer's tables and could use this.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

Row = tuple[Any, ...]


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
        for name in columns:
            if table.c[name].type._cached_bind_processor(self.dialect) is not None:
                raise TypeError(f"{table.name}.{name} needs conversion: not for bulk writes")
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
