"""Reorgs in the index: the kept hashes of recently indexed blocks, the newest of them the chain
still has (the common ancestor), and the rollback of everything indexed above it.

The indexer keeps the hashes of the range ends and of every block with entries, for the last
``keep_blocks`` block numbers (``indexed_blocks``). A rollback deletes the entries above the
ancestor, rebuilds the projections of the accounts they touched and moves the cursor there (or
removes it, when the reorg is deeper than the kept blocks), in one database transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bridge.index_tables import ChainMoved, Cursor, IndexWriter, recompute_projections
from bridge.raw_reader import RawLedgerReader
from ledger.adapters.db import unit_of_work
from ledger.adapters.orm import Entry, IndexCursor, IndexedBlock


def remember_blocks(
    s: Session, end: int, headers: dict[int, dict[str, Any]], keep_blocks: int
) -> None:
    """Keep the hashes of ``headers`` (a range just indexed, up to ``end``); forget those more than
    ``keep_blocks`` below ``end``. In bulk (:meth:`IndexWriter.keep_blocks`), in ``s``'s
    transaction: the ORM's insert of a dict per block cost a microsecond per indexed entry."""
    IndexWriter(s).keep_blocks(
        [(n, headers[n]["hash"], headers[n]["parentHash"]) for n in sorted(headers)],
        end - keep_blocks,
    )


def entries_above(block: int) -> sa.Select[str]:
    """The accounts of the entries above ``block``, one row per entry (deduplicated by the caller:
    with ``DISTINCT`` SQLite's planner walks the whole primary key index instead of the
    ``block_number`` index, a scan of every entry for a reorg of a few blocks)."""
    return sa.select(Entry.account_id).where(Entry.block_number > block)


def common_ancestor(
    sessions: sessionmaker[Session], reader: RawLedgerReader, cur: Cursor
) -> tuple[Cursor | None, int]:
    """The newest kept block at or below ``cur`` that the chain still has (None: none of them),
    and how many blocks were kept."""
    with sessions() as s:
        kept = list(
            s.execute(
                sa.select(IndexedBlock.number, IndexedBlock.hash)
                .where(IndexedBlock.number <= cur.number)
                .order_by(IndexedBlock.number.desc())
            )
        )
    head = reader.block_number()
    candidates = [(n, h) for n, h in kept if n <= head]
    chain = reader.headers(n for n, _ in candidates) if candidates else {}
    for n, h in candidates:  # newest first
        if chain[n]["hash"] == h:
            return Cursor(n, h), len(kept)
    return None, len(kept)


def roll_back(
    sessions: sessionmaker[Session],
    name: str,
    cur: Cursor,
    ancestor: Cursor | None,
    keep_to: int,
) -> tuple[int, int]:
    """Delete the entries above ``keep_to``, rebuild the projections of the accounts they touched,
    and move the cursor ``name`` from ``cur`` to ``ancestor`` (None: remove it). Returns (entries
    removed, accounts touched). Raises `ChainMoved` when another indexer moved the cursor."""
    with unit_of_work(sessions) as s:
        locked = s.execute(
            sa.select(IndexCursor).where(IndexCursor.name == name).with_for_update()
        ).scalar_one_or_none()
        if locked is None or Cursor(locked.block_number, locked.block_hash) != cur:
            raise ChainMoved("another indexer moved the cursor during the rollback")
        touched = sorted({a for (a,) in s.execute(entries_above(keep_to))})
        result = s.execute(sa.delete(Entry).where(Entry.block_number > keep_to))
        removed = int(getattr(result, "rowcount", 0))
        s.execute(sa.delete(IndexedBlock).where(IndexedBlock.number > keep_to))
        recompute_projections(s, touched)
        if ancestor is None:
            s.delete(locked)
        else:
            locked.block_number = ancestor.number
            locked.block_hash = ancestor.hash
    return removed, len(touched)
