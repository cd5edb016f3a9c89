"""Engines, sessions and migrations. SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ClauseElement, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

from ledger.adapters.private_files import narrow_existing, private_dir, private_file

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


WAL_AUTOCHECKPOINT_PAGES = 10_000
"""SQLite: pages the write-ahead log holds before a commit copies them into the database file
(SQLite's default: 1,000, 4 MB). The submitter commits a few pages per batch, the same hot pages
(the nonce, the open transactions, the claim index's tail) again and again: ten times fewer
checkpoints copy each of them once instead of ten times (the submit phase's CPU per award fell
from ~22 to ~17 µs at full scale). The log is read through its index, so readers do not slow
down; it grows to about 40 MB between checkpoints, and a bulk import's single commit grows it
to that commit's size whatever this is."""


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout, and its file is
    private (see :func:`private_sqlite_file`)."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cur.close()

        return engine
    kw.setdefault("pool_pre_ping", True)
    return create_engine(url, **kw)


def private_sqlite_file(url: str) -> None:
    """Create the SQLite database file of ``url`` with mode 0600 (in a 0700 directory if the
    directory is new) before SQLite opens it, so that its -wal and -shm, which SQLite creates
    with the database's mode, are 0600 too; narrow existing ones that others can read."""
    db_path = make_url(url).database
    if not db_path or db_path == ":memory:" or db_path.startswith("file:"):
        return  # in memory, or a URI filename SQLite resolves itself
    path = Path(db_path)
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    narrow_existing(Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal"))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One database transaction: commits on success, rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """``session.begin_nested()`` inside the session's own transaction, on SQLite too.

    Python's sqlite3 driver opens its transaction only before a data-changing statement, so a
    SAVEPOINT issued before any write starts a transaction of its own, and its RELEASE commits
    what was written under it, alone, whatever the session does next (an import that then
    rejected a row kept the award windows of its first chunk). The transaction is opened first
    here; PostgreSQL needs nothing."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        raw: Any = conn.connection.dbapi_connection
        if not raw.in_transaction:
            raw.execute("BEGIN")
    with session.begin_nested():
        yield


@dataclass(frozen=True)
class RawStatement:
    """A Core statement compiled once for an engine's DB-API driver, to run on a raw cursor:
    for a hot read path that cannot afford SQLAlchemy's per-execution work, without writing
    SQL text by hand. Its bind parameters are named (``sa.bindparam``); constants are inlined.
    """

    sql: str
    order: tuple[str, ...] | None
    """Bind names in placeholder order for a positional driver (SQLite); None: named."""

    @classmethod
    def compile(cls, engine: Engine, statement: ClauseElement) -> RawStatement:
        compiled = statement.compile(dialect=engine.dialect)
        assert isinstance(compiled, SQLCompiler)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(str(compiled), order)

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """The parameters for ``cursor.execute(self.sql, ...)``."""
        if self.order is None:
            return dict(values)
        return tuple(values[name] for name in self.order)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (Alembic ``upgrade head``)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
