"""The contract's positions replayed from entries (ledger.domain.checkpoints), without a chain.

The model is checked against the contract itself in tests/contracts (every live list built there
comes from this replay and is verified against the on-chain root)."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.checkpoints import (
    CheckpointError,
    EntryView,
    PositionModel,
    chain_root,
    link,
    merge_segments,
    pack,
    replay_positions,
)
from ledger.domain.codes import EntryKind as K

A = "0x" + "aa" * 32
B = "0x" + "bb" * 32
AWARD1, AWARD2 = "0x" + "01" * 32, "0x" + "02" * 32


def entries(*rows: tuple[int, int, int, str, int]) -> list[EntryView]:
    return [EntryView(i + 1, k, p, amt, ref, t) for i, (k, p, amt, ref, t) in enumerate(rows)]


def test_credits_at_new_times_keep_the_older_checkpoints_until_spent_out() -> None:
    p = PositionModel()
    p.credit(100, 10)
    p.credit(50, 10)  # same time: same checkpoint
    assert (p.granted, p.last_time, p.checkpoints) == (150, 10, [])
    p.credit(30, 20)
    p.credit(20, 30)
    assert p.checkpoints == [(10, 150), (20, 180)]
    assert p.segments() == [(10, 150), (20, 30), (30, 20)]
    p.debit(160)
    assert p.segments() == [(20, 20), (30, 20)]
    assert p.live(1) == [pack(20, 180)]
    assert p.live(0) == []
    p.debit(40)
    p.credit(5, 40)  # spent out: the position restarts
    assert (p.granted, p.debited, p.last_time, p.checkpoints) == (5, 0, 40, [])


def test_live_is_the_suffix_the_chain_keeps_and_refuses_a_longer_one() -> None:
    p = PositionModel(granted=30, debited=5, last_time=3, checkpoints=[(1, 10), (2, 20)])
    assert p.live(2) == [pack(1, 10), pack(2, 20)]
    assert p.live(1) == [pack(2, 20)]
    with pytest.raises(CheckpointError, match="entries are missing"):
        p.live(3)


def test_correction_lowers_its_checkpoint_and_every_later_one() -> None:
    p = PositionModel(granted=60, debited=0, last_time=3, checkpoints=[(1, 10), (2, 30)])
    p.correct(2, 15)
    assert (p.granted, p.checkpoints) == (45, [(1, 10), (2, 15)])
    p.correct(3, 5)  # the inline newest checkpoint
    assert (p.granted, p.checkpoints) == (40, [(1, 10), (2, 15)])
    with pytest.raises(CheckpointError, match="no credit at 9"):
        p.correct(9, 1)


def test_rebuild_and_merge_keep_grant_dates() -> None:
    merged = merge_segments([(1, 5), (3, 7)], [(2, 4), (3, 1)])
    assert merged == [(1, 5), (2, 4), (3, 8)]
    p = PositionModel.rebuild(merged)
    assert (p.granted, p.debited, p.last_time, p.checkpoints) == (17, 0, 3, [(1, 5), (2, 9)])
    assert p.segments() == merged
    assert PositionModel.rebuild([]) == PositionModel()


def test_replay_follows_every_entry_kind() -> None:
    src = entries(
        (K.GRANT, 1, 100, AWARD1, 10),
        (K.GRANT, 1, 50, AWARD2, 20),
        (K.DEDUCTION, 1, 30, "0x00", 25),
        (K.MERGE_OUT, 1, 120, A, 30),
    )
    source = replay_positions(src)
    assert source[1].segments() == [(10, 70), (20, 50)]
    dst = entries(
        (K.GRANT, 1, 10, "0x03", 15),
        (K.MERGE_IN, 1, 120, B, 30),
        (K.CORRECTION, 1, 20, AWARD2, 40),
        (K.EXPIRY, 1, 70, "0x00", 50),
        (K.CONVERSION_OUT, 1, 5, "0x04", 60),
        (K.CONVERSION_IN, 7, 5, "0x04", 60),
    )
    got = replay_positions(
        dst,
        grant_times={AWARD1: 10, AWARD2: 20},
        source=lambda acct: {"0x" + "bb" * 32: source}[acct],
    )
    assert got[1].segments() == [(15, 5), (20, 30)]
    assert got[1].balance == 35
    assert got[7].segments() == [(60, 5)]


def test_replay_refuses_gaps_and_unknown_references() -> None:
    with pytest.raises(CheckpointError, match="entry 2 is missing"):
        replay_positions(
            [EntryView(1, K.GRANT, 1, 1, AWARD1, 1), EntryView(3, K.GRANT, 1, 1, AWARD2, 2)]
        )
    with pytest.raises(CheckpointError, match="corrected award"):
        replay_positions(entries((K.GRANT, 1, 10, AWARD1, 1), (K.CORRECTION, 1, 5, AWARD1, 2)))
    with pytest.raises(CheckpointError, match="source"):
        replay_positions(entries((K.MERGE_IN, 1, 10, B, 1)))
    with pytest.raises(CheckpointError, match="exceeds the balance"):
        replay_positions(entries((K.GRANT, 1, 10, AWARD1, 1), (K.DEDUCTION, 1, 11, "0x00", 2)))


def test_chain_root_binds_account_program_and_order() -> None:
    acct = keccak(text="acct")
    cps = [pack(1, 10), pack(2, 20)]
    root = chain_root(acct, 1, cps)
    assert root == link(acct, 1, link(acct, 1, 0, cps[0]), cps[1])
    assert 0 < root < 1 << 96
    assert chain_root(acct, 2, cps) != root
    assert chain_root(keccak(text="other"), 1, cps) != root
    assert chain_root(acct, 1, cps[::-1]) != root
    assert chain_root(acct, 1, []) == 0
    with pytest.raises(CheckpointError, match="out of range"):
        pack(1, 1 << 40)


@given(
    st.lists(st.tuples(st.sampled_from(["credit", "debit"]), st.integers(1, 1_000)), max_size=40)
)
def test_segments_always_sum_to_the_balance(ops: list[tuple[str, int]]) -> None:
    p = PositionModel()
    for t, (op, amount) in enumerate(ops, start=1):
        if op == "credit":
            p.credit(amount, t)
        elif amount <= p.balance:
            p.debit(amount)
        assert sum(a for _, a in p.segments()) == p.balance
        times = [t for t, _ in p.checkpoints]
        assert times == sorted(set(times)) and all(x < p.last_time for x in times)
