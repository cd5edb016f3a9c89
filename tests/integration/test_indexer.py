"""The indexer (``bridge.indexer``) on a real ledger on anvil, with SQLite and PostgreSQL.

Every test compares the index with the chain itself: the decoded logs (web3's own decoding via
``LedgerClient.entry_logs``), their heads replayed with ``ledger.domain.hashchain`` (the log
carries none) and the contract's ``accountState`` / ``balancesOf``.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from indexer_helpers import LedgerDriver, acct

from bridge.indexer import Indexer, IndexIntegrityError
from bridge.raw_reader import RawLedgerReader
from bridge.reconcile import reconcile
from ledger.adapters.orm import AccountHead, Balance, Entry, IndexCursor, IndexedBlock
from ledger.domain.codes import EntryKind, Program
from ledger.domain.hashchain import HEAD_BYTES, ZERO_HEAD, next_head

pytestmark = pytest.mark.chain


def make_indexer(deployed: Any, session_factory: Any, **kw: Any) -> Indexer:
    return Indexer(session_factory, deployed.client, deployed.block_number, **kw)


def assert_index_matches_chain(deployed: Any, session_factory: Any) -> int:
    """Entries, positions and projections equal the chain at the cursor; returns entry count."""
    client = deployed.client
    with session_factory() as s:
        cur = s.get(IndexCursor, "entries")
        assert cur is not None
        assert (
            cur.block_hash
            == "0x" + bytes(deployed.w3.eth.get_block(cur.block_number)["hash"]).hex()
        )
        rows = {(e.account_id, e.seq): e for e in s.scalars(sa.select(Entry))}
        events = client.entry_logs(deployed.block_number, cur.block_number)
        assert len(rows) == len(events)
        replayed: dict[bytes, bytes] = {}
        for ev in events:
            head = replayed[ev.account] = next_head(
                replayed.get(ev.account, ZERO_HEAD), ev.chain_entry
            )
            e = rows["0x" + ev.account.hex(), ev.seq]
            assert (e.kind, e.program, e.amount, e.reason, e.timestamp) == (
                ev.kind,
                ev.program,
                ev.amount,
                ev.reason,
                ev.timestamp,
            )
            assert (e.ref, e.head) == ("0x" + ev.ref.hex(), "0x" + head.hex())
            assert len(e.head) == 2 + 2 * HEAD_BYTES
            assert (e.block_number, e.block_hash, e.tx_hash, e.log_index) == (
                ev.block_number,
                "0x" + ev.block_hash.hex(),
                "0x" + ev.tx_hash.hex(),
                ev.log_index,
            )
        heads = {h.account_id: h for h in s.scalars(sa.select(AccountHead))}
        balances: dict[str, dict[int, int]] = {}
        for b in s.scalars(sa.select(Balance)):
            balances.setdefault(b.account_id, {})[b.program] = b.balance
        for a in {"0x" + ev.account.hex() for ev in events}:
            state = client.account_state(bytes.fromhex(a[2:]), cur.block_number)
            assert (heads[a].count, heads[a].head) == (state.count, "0x" + state.head.hex())
            assert state.head == replayed[bytes.fromhex(a[2:])]
            chain = client.balances_of(bytes.fromhex(a[2:]), cur.block_number)
            assert {p: v for p, v in balances[a].items() if v} == {
                p: v for p, v in chain.items() if v
            }
        return len(rows)


def test_indexes_entries_positions_and_projections(deployed: Any, session_factory: Any) -> None:
    drv = LedgerDriver(deployed)
    ids = [acct(f"i{i}") for i in range(40)]
    drv.grant(Program.CAR, [(a, 30_000 + i) for i, a in enumerate(ids)])
    drv.grant(Program.ECO_HOUSEHOLD, [(a, 10_000) for a in ids[:10]])
    drv.deduct(ids[0], Program.CAR, 1_000)
    drv.convert(ids[1], Program.CAR, Program.SEOUL, 5_000, "conv-1")
    ix = make_indexer(deployed, session_factory)
    assert ix.run_until_head() == 40 + 10 + 1 + 2
    assert ix.caught_up and ix.cursor() is not None
    assert ix.cursor().number == drv.head()  # type: ignore[union-attr]
    assert assert_index_matches_chain(deployed, session_factory) == 53
    with session_factory() as s:
        kinds = [e.kind for e in s.scalars(sa.select(Entry).where(Entry.account_id == ids[1]))]
        assert sorted(kinds) == sorted(
            [EntryKind.GRANT, EntryKind.GRANT, EntryKind.CONVERSION_OUT, EntryKind.CONVERSION_IN]
        )
    assert ix.step() == 0  # nothing new
    drv.grant(Program.BIKE, [(ids[5], 2_000)])
    assert ix.step() == 1
    assert_index_matches_chain(deployed, session_factory)


def test_small_ranges_and_restart_resume_exactly(deployed: Any, session_factory: Any) -> None:
    drv = LedgerDriver(deployed)
    ids = [acct(f"r{i}") for i in range(6)]
    for k in range(8):
        drv.grant(Program.CAR, [(a, 100 + k) for a in ids])
    first = make_indexer(deployed, session_factory, chunk=3)
    n = first.step() + first.step()
    # a new process picks up at the committed cursor: nothing twice, nothing skipped
    second = make_indexer(deployed, session_factory, chunk=3)
    n += second.run_until_head()
    assert n == 48
    assert assert_index_matches_chain(deployed, session_factory) == 48
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(IndexedBlock)) > 2


def test_confirmations_hold_back_recent_blocks(deployed: Any, session_factory: Any) -> None:
    drv = LedgerDriver(deployed)
    a = acct("conf")
    drv.grant(Program.CAR, [(a, 1_000)])
    drv.grant(Program.CAR, [(a, 2_000)])
    ix = make_indexer(deployed, session_factory, confirmations=2)
    assert ix.run_until_head() == 0
    assert ix.cursor().number == drv.head() - 2  # type: ignore[union-attr]
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == 0
    drv.mine(1)
    assert ix.run_until_head() == 1
    drv.mine(1)
    assert ix.run_until_head() == 1
    assert ix.cursor().number == drv.head() - 2  # type: ignore[union-attr]


def test_reorg_by_snapshot_revert_is_rolled_back(deployed: Any, session_factory: Any) -> None:
    """Index a branch, replace it by a different one (evm_snapshot/evm_revert, then other
    transactions), and the index follows: old entries gone, projections recomputed."""
    drv = LedgerDriver(deployed)
    x, y, z = acct("x"), acct("y"), acct("z")
    drv.grant(Program.CAR, [(x, 10_000), (y, 10_000)])  # common ancestor part
    ix = make_indexer(deployed, session_factory, chunk=2)
    ix.run_until_head()
    with drv.snapshot() as snap:
        drv.grant(Program.CAR, [(x, 5_000)])
        drv.deduct(y, Program.CAR, 3_000)
        drv.convert(x, Program.CAR, Program.SEOUL, 1_000, "old-branch")
        assert ix.run_until_head() == 4
        old_head = drv.head()
        drv.revert(snap)
    # the new branch: other transactions, and longer than the old one
    drv.grant(Program.CAR, [(z, 7_000), (x, 1)])
    drv.deduct(x, Program.CAR, 2_500)
    drv.mine(3)
    assert drv.head() > old_head
    ix.run_until_head()
    assert assert_index_matches_chain(deployed, session_factory) == 2 + 2 + 1
    with session_factory() as s:
        x_bal = s.get(Balance, (x, int(Program.CAR)))
        assert x_bal is not None and x_bal.balance == 10_000 + 1 - 2_500
        assert s.get(Balance, (x, int(Program.SEOUL))) is None
        assert s.get(Balance, (y, int(Program.CAR))).balance == 10_000  # type: ignore[union-attr]
        assert s.get(AccountHead, y).count == 1  # type: ignore[union-attr]
    with RawLedgerReader(deployed.url, deployed.address) as rd:
        assert reconcile(session_factory, rd).ok


def test_reorg_to_a_shorter_chain(deployed: Any, session_factory: Any) -> None:
    drv = LedgerDriver(deployed)
    a = acct("short")
    drv.grant(Program.CAR, [(a, 1_000)])
    ix = make_indexer(deployed, session_factory)
    with drv.snapshot() as snap:
        for _ in range(4):
            drv.grant(Program.CAR, [(a, 10)])
        assert ix.run_until_head() == 5
        drv.revert(snap)
    assert drv.head() < ix.cursor().number  # type: ignore[union-attr]
    ix.run_until_head()
    assert assert_index_matches_chain(deployed, session_factory) == 1
    drv.grant(Program.CAR, [(a, 20)])
    assert ix.run_until_head() == 1
    assert_index_matches_chain(deployed, session_factory)


def test_reorg_by_anvil_reorg(deployed: Any, session_factory: Any) -> None:
    """``anvil_reorg``: the last blocks are replaced by new ones holding other transactions."""
    drv = LedgerDriver(deployed)
    a, b = acct("ra"), acct("rb")
    drv.grant(Program.CAR, [(a, 1_000)])
    drv.grant(Program.CAR, [(a, 2_000)])
    drv.grant(Program.CAR, [(b, 3_000)])
    ix = make_indexer(deployed, session_factory)
    assert ix.run_until_head() == 3
    from bridge.client import GrantItem

    issuer = drv.w3.eth.account.from_key(deployed.issuer_keys["CAR"]).address
    data = drv.client.grant_batch_data(
        int(Program.CAR), [GrantItem(bytes.fromhex(b[2:]), 424_242, 9_999, b"\x09" * 32)]
    )
    tx = {"from": issuer, "to": deployed.address, "data": "0x" + data.hex(), "gas": hex(500_000)}
    res = drv.w3.provider.make_request("anvil_reorg", [2, [[tx, 0]]])  # type: ignore[arg-type]
    assert "error" not in res, res
    ix.run_until_head()
    n = assert_index_matches_chain(deployed, session_factory)
    with session_factory() as s:
        amounts = sorted(e.amount for e in s.scalars(sa.select(Entry)))
    assert n == 2 and amounts == [1_000, 9_999]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"count": 3}, "the index holds 3 entries"),
        ({"head": "0x" + "ee" * 32}, "is not 24 bytes"),  # a 32-byte head of the old format
    ],
    ids=["count", "head-width"],
)
def test_a_broken_chain_commits_nothing(
    deployed: Any, session_factory: Any, edit: dict[str, Any], problem: str
) -> None:
    """An index edited by hand (head projection) makes the next event fail to extend it: the
    step raises and neither rows nor cursor move."""
    drv = LedgerDriver(deployed)
    a = acct("broken")
    drv.grant(Program.CAR, [(a, 1_000)])
    ix = make_indexer(deployed, session_factory)
    ix.run_until_head()
    before = ix.cursor()
    with session_factory.begin() as s:
        s.execute(sa.update(AccountHead).values(**edit))
    drv.grant(Program.CAR, [(a, 2_000), (acct("other"), 5)])
    with pytest.raises(IndexIntegrityError, match="seq 2") as err:
        ix.step()
    assert problem in str(err.value)
    assert ix.cursor() == before
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == 1


def test_an_edited_head_is_extended_and_reconcile_reports_it(
    deployed: Any, session_factory: Any
) -> None:
    """The log has no head to compare with, so a well-formed but wrong stored head is extended;
    reconciliation against ``accountState`` is what catches it (and the stored rows' chain)."""
    drv = LedgerDriver(deployed)
    a = acct("edited-head")
    drv.grant(Program.CAR, [(a, 1_000)])
    ix = make_indexer(deployed, session_factory)
    ix.run_until_head()
    with session_factory.begin() as s:
        s.execute(sa.update(AccountHead).values(head="0x" + "ee" * HEAD_BYTES))
    drv.grant(Program.CAR, [(a, 2_000)])
    assert ix.run_until_head() == 1
    with RawLedgerReader(deployed.url, deployed.address) as rd:
        report = reconcile(session_factory, rd)
    found = {(d.account, d.field) for d in report.discrepancies}
    assert {(a, "head"), (a, "entries.last_head"), (a, "entries.hash_chain")} <= found


def test_bulk_indexing_is_fast(deployed: Any, session_factory: Any) -> None:
    """5,000 grants (large batches) index in one step, well within the time budget."""
    import time

    drv = LedgerDriver(deployed)
    ids = [acct(f"bulk{i}") for i in range(1_000)]
    for r in range(5):
        drv.grant(Program.BIKE, [(a, 1 + r) for a in ids[:500]])
        drv.grant(Program.BIKE, [(a, 1 + r) for a in ids[500:]])
    ix = make_indexer(deployed, session_factory)
    t0 = time.perf_counter()
    assert ix.run_until_head() == 5_000
    elapsed = time.perf_counter() - t0
    assert elapsed < 20, f"indexing 5,000 entries took {elapsed:.1f}s"
    with session_factory() as s:
        total = s.scalar(sa.select(sa.func.sum(Balance.balance)))
    assert total == 1_000 * (1 + 2 + 3 + 4 + 5)


def test_step_passes_over_empty_ranges(deployed: Any, session_factory: Any) -> None:
    """``while indexer.step(): ...`` reaches the head even across many blocks without entries."""
    drv = LedgerDriver(deployed)
    drv.mine(40)
    drv.grant(Program.CAR, [(acct("late"), 1)])
    ix = make_indexer(deployed, session_factory, chunk=4)
    assert ix.step() == 1
    assert ix.step() == 0 and ix.caught_up
    assert ix.cursor().number == drv.head()  # type: ignore[union-attr]
