"""The indexer's step on a scripted chain (a fake reader), with SQLite and PostgreSQL: the checks
of the logs before anything is written (removed logs, logs of another branch, logs that are not
``EntryRecorded``), and a reorg in the middle of the indexed range rolled back and re-indexed.

The chain here is a dict of blocks and logs, so every malformed answer a node could give is easy
to serve; ``test_indexer.py`` runs the same code on anvil with genuine logs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from bridge.indexer import ChainMoved, Indexer, IndexerError, is_entry_log, log_row
from bridge.raw_reader import ENTRY_TOPIC
from ledger.adapters.orm import AccountHead, Balance, Entry, IndexCursor
from ledger.domain.hashchain import ZERO_HEAD, next_head, pack_entry
from ledger.domain.hashchain import Entry as ChainEntry


def h(text: str) -> str:
    return "0x" + hashlib.sha256(text.encode()).hexdigest()


class FakeChain:
    """Blocks 0..head of one branch (``tag`` changes every hash) and their logs."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, str]] = {}
        self.logs: dict[int, list[dict[str, Any]]] = {}
        self.seqs: dict[str, int] = {}
        self.grow(0, "main")

    def grow(self, to: int, tag: str, start: int | None = None) -> None:
        """(Re)build blocks ``start``..``to`` on branch ``tag``."""
        first = 0 if start is None else start
        for n in range(first, to + 1):
            parent = self.blocks[n - 1]["hash"] if n else "0x" + "00" * 32
            self.blocks[n] = {"hash": h(f"{tag} {n}"), "parentHash": parent}
            for lg in self.logs.get(n, []):
                lg["blockHash"] = self.blocks[n]["hash"]
        for n in [n for n in self.blocks if n > to]:
            del self.blocks[n]

    def add(self, block: int, acct: str, amount: int, **changes: Any) -> dict[str, Any]:
        seq = self.seqs[acct] = self.seqs.get(acct, 0) + 1
        word = pack_entry(seq, 1, 2, 3, 1_750_000_000 + block, amount)
        logs = self.logs.setdefault(block, [])
        lg = {
            "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
            "topics": [ENTRY_TOPIC, acct],
            "data": f"0x{word:064x}{hashlib.sha256(f'{acct}{seq}'.encode()).hexdigest()}",
            "blockHash": self.blocks[block]["hash"] if block in self.blocks else "?",
            "blockNumber": hex(block),
            "transactionHash": h(f"tx {block}"),
            "transactionIndex": "0x0",
            "logIndex": hex(len(logs)),
            "removed": False,
            **changes,
        }
        logs.append(lg)
        return lg

    def drop_logs_from(self, block: int) -> None:
        for n in [n for n in self.logs if n >= block]:
            for lg in self.logs.pop(n):
                self.seqs[lg["topics"][1]] -= 1

    # --- the RawLedgerReader interface the indexer uses --------------------------------------
    def block_number(self) -> int:
        return max(self.blocks)

    def header(self, n: int) -> dict[str, str]:
        return self.blocks[n]

    def headers(self, numbers: Any) -> dict[int, dict[str, str]]:
        return {n: self.blocks[n] for n in numbers}

    def entry_logs(self, a: int, b: int) -> list[dict[str, Any]]:
        return [dict(lg) for n in sorted(self.logs) if a <= n <= b for lg in self.logs[n]]


def indexer(session_factory: Any, chain: FakeChain, **kw: Any) -> Indexer:
    return Indexer(session_factory, None, 1, reader=chain, **kw)  # type: ignore[arg-type]


def expected_rows(chain: FakeChain) -> list[tuple[Any, ...]]:
    heads: dict[str, bytes] = {}
    rows = []
    for lg in chain.entry_logs(0, chain.block_number()):
        acct, d = lg["topics"][1], lg["data"]
        entry = ChainEntry.from_word(
            bytes.fromhex(acct[2:]), int(d[2:66], 16), bytes.fromhex(d[66:])
        )
        head = heads[acct] = next_head(heads.get(acct, ZERO_HEAD), entry)
        rows.append(log_row(lg, "0x" + head.hex()))
    return sorted(rows)


def stored(session_factory: Any) -> list[tuple[Any, ...]]:
    with session_factory() as s:
        return sorted(
            tuple(getattr(e, c.name) for c in Entry.__table__.columns)
            for e in s.scalars(sa.select(Entry))
        )


def assert_matches(session_factory: Any, chain: FakeChain) -> None:
    assert stored(session_factory) == expected_rows(chain)
    with session_factory() as s:
        heads = {a.account_id: (a.count, a.head) for a in s.scalars(sa.select(AccountHead))}
        sums = {b.account_id: b.balance for b in s.scalars(sa.select(Balance))}
    rows = expected_rows(chain)
    last = {r[0]: (r[1], r[8]) for r in sorted(rows, key=lambda r: (r[0], r[1]))}
    assert heads == last
    assert sums == {a: sum(r[4] for r in rows if r[0] == a) for a in last}


def test_indexes_a_scripted_chain_and_extends_it(session_factory: Any) -> None:
    chain = FakeChain()
    a, b = h("a"), h("b")
    chain.grow(6, "main")
    for block in (2, 3, 3, 5):
        chain.add(block, a, 100 + block)
    chain.add(5, b, 7, blockNumber="0x05")  # another spelling of the same quantity
    ix = indexer(session_factory, chain)
    assert ix.run_until_head() == 5
    assert_matches(session_factory, chain)
    chain.grow(20, "main", start=7)
    chain.add(8, a, 1)
    chain.add(17, b, 2)
    assert ix.run_until_head() == 2
    assert_matches(session_factory, chain)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"removed": True}, ChainMoved),
        ({"blockHash": h("another branch")}, ChainMoved),
        ({"topics": [ENTRY_TOPIC, h("x"), h("y")]}, IndexerError),
        ({"topics": [h("another event"), h("x")]}, IndexerError),
        ({"topics": [ENTRY_TOPIC, h("x")[:-1]]}, IndexerError),
        ({"data": "0x" + "00" * 63}, IndexerError),
    ],
    ids=["removed", "other-branch", "three-topics", "other-event", "short-topic", "short-data"],
)
def test_a_bad_log_commits_nothing(
    session_factory: Any, changes: dict[str, Any], error: type[Exception]
) -> None:
    chain = FakeChain()
    chain.grow(4, "main")
    good = chain.add(2, h("ok"), 5)
    bad = chain.add(3, h("bad"), 6, **changes)
    assert is_entry_log(good) and is_entry_log(bad) == (error is ChainMoved)  # the reference
    ix = indexer(session_factory, chain)
    if error is ChainMoved:  # step() retries later: 0 indexed
        with pytest.raises(ChainMoved, match="log of block 3 is not on the current chain"):
            ix._step()
    else:
        with pytest.raises(IndexerError, match=r"unexpected log in block 3 \(topics"):
            ix.step()
    assert stored(session_factory) == []
    assert ix.cursor() is None


def test_a_reorg_in_the_middle_is_rolled_back(session_factory: Any) -> None:
    chain = FakeChain()
    a, b = h("ra"), h("rb")
    chain.grow(8, "main")
    for block in range(2, 9):
        chain.add(block, a if block % 2 else b, block)
    ix = indexer(session_factory, chain, chunk=3)
    assert ix.run_until_head() == 7
    assert_matches(session_factory, chain)
    # blocks 5.. are replaced by another branch with other logs
    chain.drop_logs_from(5)
    chain.grow(10, "fork", start=5)
    chain.add(6, a, 1_000)
    chain.add(9, b, 2_000)
    ix.run_until_head()
    ix.run_until_head()
    assert_matches(session_factory, chain)
    with session_factory() as s:
        cursor = s.get(IndexCursor, "entries")
        assert cursor is not None and cursor.block_hash == chain.blocks[10]["hash"]


def test_a_bad_log_is_reported_before_a_parent_mismatch(session_factory: Any) -> None:
    """The logs are checked in the loop that indexes them, after the parent hash check; a range
    with both a bad log and a next block that does not follow the cursor still fails on the log
    (as when the logs were checked first), and rolls nothing back."""
    chain = FakeChain()
    chain.grow(4, "main")
    chain.add(2, h("pa"), 5)
    ix = indexer(session_factory, chain)
    assert ix.run_until_head() == 1
    chain.grow(6, "main", start=5)
    chain.add(5, h("pb"), 6, topics=[h("another event"), h("pb")])
    chain.blocks[5]["parentHash"] = h("not block 4")
    with pytest.raises(IndexerError, match=r"unexpected log in block 5 \(topics"):
        ix.step()
    cursor = ix.cursor()
    assert cursor is not None and cursor.number == 4
    chain.logs[5][0]["topics"] = [ENTRY_TOPIC, h("pb")]  # a good log: now the mismatch rolls back
    assert ix.step() == 0 and ix._rolled_back


def test_remember_blocks_as_the_orm_did(session_factory: Any) -> None:
    """The kept block hashes, written in bulk, are what the ORM's delete + insert + delete left:
    the new hashes of re-indexed numbers replace the stored ones, the old blocks go."""
    from bridge.index_reorg import remember_blocks
    from ledger.adapters.db import unit_of_work
    from ledger.adapters.orm import IndexedBlock

    def kept() -> dict[int, tuple[str, str]]:
        with session_factory() as s:
            return {b.number: (b.hash, b.parent_hash) for b in s.scalars(sa.select(IndexedBlock))}

    def headers(tag: str, numbers: range) -> dict[int, dict[str, str]]:
        return {n: {"hash": h(f"{tag} {n}"), "parentHash": h(f"{tag} {n - 1}")} for n in numbers}

    reference: dict[int, tuple[str, str]] = {}
    for tag, numbers, end, keep in (
        ("a", range(1, 8), 7, 256),
        ("b", range(5, 12), 11, 256),  # 5..7 re-indexed on another branch
        ("c", range(12, 20), 19, 10),  # 9 and lower forgotten
        ("d", range(19, 20), 19, 1),  # only 19 left
    ):
        hs = headers(tag, numbers)
        with unit_of_work(session_factory) as s:
            remember_blocks(s, end, hs, keep)
        reference.update({n: (v["hash"], v["parentHash"]) for n, v in hs.items()})
        reference = {n: v for n, v in reference.items() if n > end - keep}
        assert kept() == reference


def test_the_rollback_finds_its_accounts_by_block_number(
    session_factory: Any, engine: sa.Engine
) -> None:
    """The accounts touched by a rollback come from the ``block_number`` index, not a scan of
    every entry (SQLite's plan for a ``DISTINCT`` walked the whole primary key)."""
    from bridge.index_reorg import entries_above

    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner")
    sql = str(entries_above(5).compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as c:
        plan = " ".join(str(r[-1]) for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX ix_entries_block_number" in plan, plan
