"""The submitter's per-batch statements as prebuilt SQL on a pooled DB-API connection.

Every batch claims and signs 500 awards, marks its transaction sent, then mined (or final), and
reads the unresolved and mined transactions in between. Through SQLAlchemy sessions each of these
cost more Python CPU (session and transaction set-up, statement cache lookup, parameter and row
processing, 500 ``Row`` objects) than the database took to run it. Here each is one SQL text built
once, run with a cursor of a connection from the engine's pool, in a transaction of its own.

Only the drivers whose behaviour is known are served (``sqlite3`` and ``psycopg``):
:meth:`RawDb.of` returns None for any other and the outbox keeps its SQLAlchemy statements (the
general path, :mod:`bridge.outbox.statements`). The two paths write the same rows
(tests/integration/test_outbox_fast.py).

Transactions behave as the session's did: on SQLite the DB-API opens one before the first write
(every transaction here starts with a write, so it holds the write lock from there on); on
PostgreSQL before the first statement. A DB-API error is raised as SQLAlchemy's wrapper of it
(:func:`bridge.outbox.rows.retry_db` retries a locked database the same way), and a connection
the error shows dead is dropped from the pool."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from ledger.domain.outbox import AwardState, OperationState, TxState


def _q(*values: str) -> str:
    """SQL string literals of state names (fixed identifiers, never user input)."""
    return ", ".join(f"'{v}'" for v in values)


_IN_FLIGHT = _q(AwardState.SIGNED, AwardState.SENT, AwardState.MINED)
_TX_COLS = (
    "id, sender, nonce, kind, program, raw_tx, tx_hash, status, block_number, block_hash, "
    "created_at"
)

#: The statements, with ``:name`` parameters (SQLite's named style; rewritten to ``%(name)s``
#: for psycopg). Each is the SQL the general path's statement compiles to.
SQL: dict[str, str] = {
    # rows.take_nonce
    "take_nonce": (
        "UPDATE signer_nonces SET next_nonce = next_nonce + 1 WHERE sender = :sender "
        "RETURNING next_nonce"
    ),
    # statements.CLAIM.select (claimable(): pending, of the program, lease free, expired or own)
    "claim_select": (
        "SELECT award_no, award_id, account_id, amount, error FROM awards "
        f"WHERE status = '{AwardState.PENDING}' AND program = :program "
        "AND (claimed_until IS NULL OR claimed_until < :now OR claimed_by = :worker) "
        "ORDER BY award_no LIMIT :limit"
    ),
    # statements.CLAIM.insert_tx
    "insert_tx": (
        "INSERT INTO chain_txs (sender, nonce, kind, program, raw_tx, tx_hash, status, "
        "attempts, created_at, updated_at) VALUES (:sender, :nonce, :kind, :program, :raw_tx, "
        f":tx_hash, '{TxState.SIGNED}', 0, :now, :now) RETURNING id"
    ),
    # statements.CLAIM.sign_range (SQLite, under the write lock)
    "sign_range": (
        f"UPDATE awards SET status = '{AwardState.SIGNED}', tx_id = :tx_id, "
        "claimed_by = :worker, claimed_until = :until, updated_at = :now "
        f"WHERE status = '{AwardState.PENDING}' AND program = :program "
        "AND (claimed_until IS NULL OR claimed_until < :now OR claimed_by = :worker) "
        "AND award_no BETWEEN :first AND :last"
    ),
    # statements.CLAIM.sign_listed (PostgreSQL: the rows locked by the SELECT)
    "sign_listed": (
        f"UPDATE awards SET status = '{AwardState.SIGNED}', tx_id = :tx_id, "
        "claimed_by = :worker, claimed_until = :until, updated_at = :now "
        f"WHERE award_no = ANY(:nos) AND status = '{AwardState.PENDING}'"
    ),
    # statements.HOT.tx_sent
    "tx_sent": (
        f"UPDATE chain_txs SET status = '{TxState.SENT}', attempts = attempts + 1, "
        f"updated_at = :now WHERE id = :tx_id AND status IN ({_q(TxState.SIGNED, TxState.SENT)})"
    ),
    # statements.HOT.ops_sent
    "ops_sent": (
        f"UPDATE operations SET status = '{OperationState.SENT}', updated_at = :now "
        f"WHERE tx_id = :tx_id AND status = '{OperationState.SIGNED}'"
    ),
    # statements.HOT.tx_landed
    "tx_landed": (
        "UPDATE chain_txs SET status = :status, block_number = :block_number, "
        "block_hash = :block_hash, gas_used = :gas_used, error = NULL, updated_at = :now "
        "WHERE id = :tx_id"
    ),
    # statements.HOT.award_count
    "award_count": "SELECT count(*) FROM awards WHERE tx_id = :tx_id",
    # statements.HOT.ops_landed (the awards take their transaction's state: not rewritten)
    "ops_landed": (
        "UPDATE operations SET status = :to_state, updated_at = :now "
        f"WHERE tx_id = :tx_id AND status IN ({_IN_FLIGHT})"
    ),
    # TxLog.unresolved_txs (sorted by the caller) and mined_txs
    "unresolved_txs": (
        f"SELECT {_TX_COLS} FROM chain_txs WHERE sender = :sender "
        f"AND status IN ({_q(TxState.SIGNED, TxState.SENT)})"
    ),
    "mined_txs": (
        f"SELECT {_TX_COLS} FROM chain_txs WHERE sender = :sender "
        f"AND status = '{TxState.MINED}' ORDER BY nonce"
    ),
}


class RawDb:
    """:data:`SQL` for one engine's driver, run on its pooled connections."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        dialect = engine.dialect
        self.postgres = dialect.name == "postgresql"
        self.sql = {
            name: re.sub(r":(\w+)", r"%(\1)s", text) if self.postgres else text
            for name, text in SQL.items()
        }
        if not self.postgres:
            self.sql["claim_select_locked"] = self.sql["claim_select"]
        else:
            self.sql["claim_select_locked"] = self.sql["claim_select"] + " FOR UPDATE SKIP LOCKED"
        stamp = sa.DateTime(timezone=True).dialect_impl(dialect)
        #: a datetime as the general path binds it (SQLite: its text form) and reads it back
        self._bind_dt = stamp.bind_processor(dialect)
        self._read_dt = stamp.result_processor(dialect, None)
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error

    @classmethod
    def of(cls, factory: sessionmaker[Session]) -> RawDb | None:
        """The raw statements of the engine ``factory`` binds, when its driver is one they are
        written for (``sqlite3``, ``psycopg``); None otherwise (the general path)."""
        engine = factory.kw.get("bind")
        if not isinstance(engine, sa.Engine):
            return None
        served = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}
        if (engine.dialect.name, engine.dialect.driver) not in served:
            return None
        return cls(engine)

    def stamp(self, value: datetime) -> Any:
        """``value`` as bound to a ``DateTime(timezone=True)`` column."""
        return value if self._bind_dt is None else self._bind_dt(value)

    def read_stamp(self, value: Any) -> Any:
        """A ``DateTime`` column's value as SQLAlchemy returns it."""
        return value if self._read_dt is None else self._read_dt(value)

    def stored_stamp(self, value: datetime) -> Any:
        """``value`` as reading it back after storing it gives it (SQLite: naive)."""
        return self.read_stamp(self.stamp(value))

    @contextmanager
    def begin(self) -> Iterator[Any]:
        """A cursor in one database transaction: committed when the block ends, rolled back if
        it raises."""
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                yield cur
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cur.close()
        except self._dbapi_error as exc:
            self._wrap(conn, exc)
        finally:
            conn.close()  # back to the pool

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A cursor for reads (the pool rolls back whatever the driver opened on return)."""
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                yield cur
            finally:
                cur.close()
        except self._dbapi_error as exc:
            self._wrap(conn, exc)
        finally:
            conn.close()

    def _wrap(self, conn: Any, exc: Exception) -> None:
        """Raise a DB-API error as SQLAlchemy does (``OperationalError``, ``IntegrityError``,
        ...); a connection the error shows dead is dropped, not returned to the pool."""
        dialect = self.engine.dialect
        dead = False
        try:
            dead = dialect.is_disconnect(exc, conn.dbapi_connection, None)  # type: ignore[arg-type]
        except Exception:  # pragma: no cover - a driver that cannot tell
            dead = False
        if dead:
            conn.invalidate(exc)
        raise sa_exc.DBAPIError.instance(
            None, None, exc, self._dbapi_error, connection_invalidated=dead, dialect=dialect
        ) from exc
