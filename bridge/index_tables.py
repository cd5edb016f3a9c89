"""The indexer's tables, written in bulk: ``entries`` rows, the ``balances`` and ``account_heads``
projections upserted, and the projections rebuilt from the entries (after a reorg).

Bulk reads and writes go through :class:`ledger.adapters.bulk.BulkWriter` (the session's own
DBAPI connection, so its transaction): PostgreSQL gets ``COPY`` and ``unnest`` upserts, SQLite
plain ``executemany``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bridge.errors import BridgeError
from ledger.adapters.bulk import BulkWriter
from ledger.adapters.orm import AccountHead, Balance, Entry, IndexedBlock
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


_MODELS = (Entry, Balance, AccountHead, IndexedBlock)
_TABLES = {t.name: t for t in (cast(sa.Table, m.__table__) for m in _MODELS)}


class IndexWriter(BulkWriter):
    """The indexer's bulk reads and writes (:class:`ledger.adapters.bulk.BulkWriter`, on the
    session's own DBAPI connection, so in its transaction): ``entries`` rows inserted, the
    ``balances`` and ``account_heads`` projections upserted and read by account."""

    def __init__(self, session: Session) -> None:
        try:
            super().__init__(session)
        except NotImplementedError as e:
            raise IndexerError(f"database not supported (SQLite, PostgreSQL): {e}") from e

    def insert_entries(self, rows: list[EntryRow]) -> None:
        self.insert(_TABLES["entries"], ENTRY_COLUMNS, rows)

    def upsert_balances(self, rows: list[tuple[str, int, int]]) -> None:
        self.upsert(_TABLES["balances"], ("account_id", "program", "balance"), 2, rows)

    def upsert_heads(self, rows: list[tuple[str, int, str]]) -> None:
        self.upsert(_TABLES["account_heads"], ("account_id", "count", "head"), 1, rows)

    def select_by_account(
        self, table: str, cols: tuple[str, ...], accounts: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        return self.select_in(_TABLES[table], cols, "account_id", accounts)

    def keep_blocks(self, rows: list[tuple[int, str, str]], below: int) -> None:
        """Store ``(number, hash, parent_hash)`` of blocks in ``indexed_blocks`` (replacing the
        stored hashes of those numbers); forget the blocks numbered ``below`` and lower."""
        self.upsert(_TABLES["indexed_blocks"], ("number", "hash", "parent_hash"), 1, rows)
        self.execute(f"DELETE FROM indexed_blocks WHERE number <= {self.mark}", [below])


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
