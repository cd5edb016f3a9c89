"""The indexer's tables, written in bulk: ``entries`` rows, the ``balances`` and ``account_heads``
projections upserted, and the projections rebuilt from the entries (after a reorg).

Bulk reads and writes run on the session's own DBAPI connection, so in its transaction:
PostgreSQL gets ``COPY`` and ``unnest`` upserts, SQLite plain ``executemany``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bridge.errors import BridgeError
from ledger.adapters.orm import AccountHead, Balance, Entry
from ledger.domain.codes import CREDIT_CODES

_IN_CHUNK = 500  # accounts per IN (...) list


class IndexerError(BridgeError):
    """Root of the indexer's errors."""


class ChainMoved(IndexerError):
    """The chain changed while a block range was being read; the step is retried."""


@dataclass(frozen=True)
class Cursor:
    """The last fully indexed block."""

    number: int
    hash: str


ENTRY_COLUMNS = (
    "account_id",
    "seq",
    "kind",
    "program",
    "amount",
    "reason",
    "ref",
    "timestamp",
    "head",
    "block_number",
    "block_hash",
    "tx_hash",
    "log_index",
)
EntryRow = tuple[str, int, int, int, int, int, str, int, str, int, str, str, int]


def _chunks(items: Sequence[str], n: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class _BulkWriter:
    """Bulk reads and writes of the indexer's tables on the session's own DBAPI connection (so in
    its transaction): PostgreSQL gets ``COPY`` and ``unnest`` upserts, SQLite plain
    ``executemany``. The ORM's per-row bookkeeping would cost more than the database work."""

    def __init__(self, session: Session) -> None:
        conn = session.connection()
        self.dialect = conn.dialect.name
        if self.dialect not in ("postgresql", "sqlite"):
            raise IndexerError(f"database {self.dialect!r} is not supported (SQLite, PostgreSQL)")
        self.raw: Any = conn.connection.dbapi_connection

    def insert_entries(self, rows: list[EntryRow]) -> None:
        cols = ", ".join(ENTRY_COLUMNS)
        cur = self.raw.cursor()
        if self.dialect == "postgresql":
            with cur.copy(f"COPY entries ({cols}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            marks = ", ".join("?" * len(ENTRY_COLUMNS))
            cur.executemany(f"INSERT INTO entries ({cols}) VALUES ({marks})", rows)
        cur.close()

    def upsert_balances(self, rows: list[tuple[str, int, int]]) -> None:
        self._upsert(
            "balances", ("account_id", "program", "balance"), ("varchar", "int", "bigint"), 2, rows
        )

    def upsert_heads(self, rows: list[tuple[str, int, str]]) -> None:
        self._upsert(
            "account_heads",
            ("account_id", "count", "head"),
            ("varchar", "bigint", "varchar"),
            1,
            rows,
        )

    def _upsert(
        self,
        table: str,
        cols: tuple[str, ...],
        pg_types: tuple[str, ...],
        keys: int,
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        if not rows:
            return
        names = ", ".join(cols)
        conflict = ", ".join(cols[:keys])
        update = ", ".join(f"{c} = excluded.{c}" for c in cols[keys:])
        cur = self.raw.cursor()
        if self.dialect == "postgresql":
            arrays = ", ".join(f"%s::{t}[]" for t in pg_types)
            cur.execute(
                f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {update}",
                [list(col) for col in zip(*rows, strict=True)],
            )
        else:
            marks = ", ".join("?" * len(cols))
            cur.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {update}",
                rows,
            )
        cur.close()

    def select_by_account(
        self, table: str, cols: tuple[str, ...], accounts: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        names = ", ".join(cols)
        cur = self.raw.cursor()
        out: list[tuple[Any, ...]] = []
        if self.dialect == "postgresql":
            cur.execute(
                f"SELECT {names} FROM {table} WHERE account_id = ANY(%s::varchar[])",
                [list(accounts)],
            )
            out.extend(cur.fetchall())
        else:
            for part in _chunks(accounts):
                marks = ", ".join("?" * len(part))
                cur.execute(f"SELECT {names} FROM {table} WHERE account_id IN ({marks})", part)
                out.extend(cur.fetchall())
        cur.close()
        return out


def signed_amount_sql() -> Any:
    """SQL expression: the entry's amount, negative for debits."""
    return sa.case(
        (Entry.kind.in_(sorted(CREDIT_CODES)), Entry.amount),
        else_=-Entry.amount,
    )


def recompute_projections(session: Session, accounts: Sequence[str]) -> None:
    """Rebuild ``balances`` and ``account_heads`` of ``accounts`` from their ``entries``."""
    for part in _chunks(sorted(set(accounts))):
        session.execute(sa.delete(Balance).where(Balance.account_id.in_(part)))
        session.execute(sa.delete(AccountHead).where(AccountHead.account_id.in_(part)))
        sums = (
            sa.select(Entry.account_id, Entry.program, sa.func.sum(signed_amount_sql()))
            .where(Entry.account_id.in_(part))
            .group_by(Entry.account_id, Entry.program)
        )
        session.execute(
            sa.insert(Balance).from_select(
                [Balance.account_id, Balance.program, Balance.balance], sums
            )
        )
        last = (
            sa.select(Entry.account_id, sa.func.max(Entry.seq).label("m"))
            .where(Entry.account_id.in_(part))
            .group_by(Entry.account_id)
            .subquery()
        )
        heads = sa.select(Entry.account_id, Entry.seq, Entry.head).join(
            last, sa.and_(Entry.account_id == last.c.account_id, Entry.seq == last.c.m)
        )
        session.execute(
            sa.insert(AccountHead).from_select(
                [AccountHead.account_id, AccountHead.count, AccountHead.head], heads
            )
        )
