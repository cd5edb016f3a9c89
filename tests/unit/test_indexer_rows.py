"""The indexer's hot loop (``Indexer._check_and_project``) against the reference decoding.

The loop builds the ``entries`` rows, the heads and the balances inline; these tests hold it to
:func:`bridge.indexer.log_row` (``decode_entry``) and to :func:`ledger.domain.hashchain.next_head`
(the chain rule, through :class:`ledger.domain.hashchain.Entry`), on edge values of every field,
and check that each refusal is still raised with its error. No database: the writer is a fake
that serves the stored projections and records the upserts.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.indexer import (
    ChainMoved,
    Indexer,
    IndexerError,
    IndexIntegrityError,
    check_logs,
    log_blocks,
    log_row,
)
from bridge.raw_reader import ENTRY_TOPIC
from ledger.domain.codes import CREDIT_CODES, EntryKind
from ledger.domain.hashchain import HEAD_BYTES, ZERO_HEAD, Entry, next_head, pack_entry

M96 = (1 << 96) - 1
CREDIT = int(EntryKind.GRANT)
DEBIT = next(int(k) for k in EntryKind if int(k) not in CREDIT_CODES)


def account(name: str) -> str:
    return "0x" + hashlib.sha256(name.encode()).hexdigest()


class FakeWriter:
    """The part of ``IndexWriter`` the loop uses: stored rows in, upserts recorded."""

    def __init__(
        self,
        heads: dict[str, tuple[int, str]] | None = None,
        balances: dict[tuple[str, int], int] | None = None,
    ) -> None:
        self.heads = heads or {}
        self.balances = balances or {}
        self.balance_rows: list[tuple[str, int, int]] = []
        self.head_rows: list[tuple[str, int, str]] = []

    def select_by_account(
        self, table: str, cols: tuple[str, ...], accounts: list[str]
    ) -> list[tuple[Any, ...]]:
        if table == "account_heads":
            return [(a, *self.heads[a]) for a in accounts if a in self.heads]
        return [(a, p, b) for (a, p), b in self.balances.items() if a in accounts]

    def upsert_balances(self, rows: list[tuple[str, int, int]]) -> None:
        self.balance_rows = rows

    def upsert_heads(self, rows: list[tuple[str, int, str]]) -> None:
        self.head_rows = rows


def make_log(
    acct: str,
    seq: int,
    *,
    kind: int = CREDIT,
    program: int = 1,
    reason: int = 0,
    timestamp: int = 1_750_000_000,
    amount: int = 1_000,
    ref: str = "00" * 32,
    block: int = 7,
    index: int = 0,
    word: int | None = None,
) -> dict[str, Any]:
    if word is None:
        word = pack_entry(seq, kind, program, reason, timestamp, amount)
    return {
        "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "topics": [ENTRY_TOPIC, acct],
        "data": f"0x{word:064x}{ref}",
        "blockHash": "0x" + hashlib.sha256(f"block {block}".encode()).hexdigest(),
        "blockNumber": hex(block),
        "transactionHash": "0x" + hashlib.sha256(f"tx {block}".encode()).hexdigest(),
        "transactionIndex": "0x0",
        "logIndex": hex(index),
        "removed": False,
    }


def check(logs: list[dict[str, Any]], writer: FakeWriter | None = None) -> FakeWriter:
    """Run the loop and compare everything it produced with the reference route."""
    writer = writer or FakeWriter()
    stored_heads = {a: (c, bytes.fromhex(h[2:])) for a, (c, h) in writer.heads.items()}
    stored_balances = dict(writer.balances)
    rows = Indexer.__new__(Indexer)._check_and_project(writer, logs)  # type: ignore[arg-type]
    heads = dict(stored_heads)
    balances = dict(stored_balances)
    expected = []
    for lg in logs:
        acct = lg["topics"][1]
        count, head = heads.get(acct, (0, ZERO_HEAD))
        entry = Entry.from_word(
            bytes.fromhex(acct[2:]), int(lg["data"][2:66], 16), bytes.fromhex(lg["data"][66:])
        )
        assert entry.seq == count + 1
        head = next_head(head, entry)
        heads[acct] = (entry.seq, head)
        row = log_row(lg, "0x" + head.hex())
        expected.append(row)
        sign = 1 if entry.kind in CREDIT_CODES else -1
        key = (acct, entry.program)
        balances[key] = balances.get(key, 0) + sign * entry.amount
    assert rows == expected
    touched = sorted({(lg["topics"][1], int(lg["data"][2:66], 16) >> 56 & 0xFF) for lg in logs})
    assert writer.balance_rows == [(a, p, balances[a, p]) for a, p in touched]
    accounts = sorted({lg["topics"][1] for lg in logs})
    assert writer.head_rows == [(a, heads[a][0], "0x" + heads[a][1].hex()) for a in accounts]
    return writer


def test_edge_values_of_every_field() -> None:
    a, b = account("a"), account("b")
    logs = [
        make_log(a, 1, amount=M96, program=255, reason=255, timestamp=(1 << 40) - 1, ref="ff" * 32),
        make_log(a, 2, kind=DEBIT, program=255, amount=M96, ref="00" * 31 + "01", index=1),
        make_log(b, 1, amount=0, program=0, reason=0, timestamp=0, ref="00" * 32, index=0xFFFF),
        make_log(b, 2, kind=255, amount=1, block=0xFFFFFFFF, index=2),  # an unknown kind: a debit
        make_log(a, 3, amount=1, ref="0" * 63 + "a", block=8, index=0),
    ]
    check(logs, FakeWriter(balances={(b, 1): 5}))


def test_extends_the_stored_heads_and_balances() -> None:
    a = account("stored")
    head = "0x" + hashlib.sha256(b"some head").hexdigest()[: 2 * HEAD_BYTES]
    writer = FakeWriter(heads={a: (41, head)}, balances={(a, 3): 700, (a, 4): 9})
    check([make_log(a, 42, kind=DEBIT, program=3, amount=700), make_log(a, 43, program=5)], writer)
    assert writer.balance_rows == [(a, 3, 0), (a, 5, 1_000)]  # program 4 untouched, not written


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # account
            st.integers(0, 255),  # kind
            st.integers(0, 255),  # program
            st.integers(0, 255),  # reason
            st.integers(0, (1 << 40) - 1),
            st.integers(0, M96),
            st.binary(min_size=32, max_size=32),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_random_logs_agree_with_the_reference(entries: list[tuple[Any, ...]]) -> None:
    seqs: dict[str, int] = {}
    balances: dict[tuple[str, int], int] = {}
    logs = []
    for i, (n, kind, program, reason, timestamp, amount, ref) in enumerate(entries):
        acct = account(f"r{n}")
        seq = seqs[acct] = seqs.get(acct, 0) + 1
        if kind not in CREDIT_CODES:  # keep balances covered: the debit check is tested below
            balances[acct, program] = balances.get((acct, program), 0) + amount
        logs.append(
            make_log(
                acct,
                seq,
                kind=kind,
                program=program,
                reason=reason,
                timestamp=timestamp,
                amount=amount,
                ref=ref.hex(),
                index=i,
            )
        )
    check(logs, FakeWriter(balances=balances))


def run(logs: list[dict[str, Any]], writer: FakeWriter | None = None) -> None:
    Indexer.__new__(Indexer)._check_and_project(writer or FakeWriter(), logs)  # type: ignore[arg-type]


def test_a_gap_in_seq_is_refused() -> None:
    a = account("gap")
    with pytest.raises(IndexIntegrityError, match="seq 3 does not extend the index: the index "):
        run([make_log(a, 1), make_log(a, 3)])
    with pytest.raises(IndexIntegrityError, match="the index holds 5 entries"):
        run([make_log(a, 5)], FakeWriter(heads={a: (5, "0x" + "11" * HEAD_BYTES)}))
    with pytest.raises(IndexIntegrityError, match=r"seq 1 .*the index holds 1 entries"):
        run([make_log(a, 1), make_log(a, 1)])  # a repeated log


def test_a_tampered_stored_head_is_refused() -> None:
    a = account("tampered")
    for bad in ("0x" + "ee" * 32, "ee" * HEAD_BYTES, "0x" + "zz" * HEAD_BYTES):
        with pytest.raises(
            IndexIntegrityError, match=rf"seq 2 .*the indexed head {re.escape(repr(bad))}"
        ):
            run([make_log(a, 2)], FakeWriter(heads={a: (1, bad)}))


def test_a_wrong_but_well_formed_head_is_extended() -> None:
    """The log carries no head: the stored one is extended (``mileage reconcile`` catches it)."""
    a = account("wrong head")
    wrong = "0x" + "ee" * HEAD_BYTES
    writer = check([make_log(a, 2)], FakeWriter(heads={a: (1, wrong)}))
    entry = Entry.from_word(
        bytes.fromhex(a[2:]), pack_entry(2, CREDIT, 1, 0, 1_750_000_000, 1_000), bytes(32)
    )
    assert writer.head_rows == [(a, 2, "0x" + next_head(bytes.fromhex(wrong[2:]), entry).hex())]


def test_bits_above_the_layout_are_refused() -> None:
    a = account("bits")
    word = pack_entry(1, CREDIT, 1, 0, 0, 1) | 1 << 208
    with pytest.raises(IndexIntegrityError, match=r"seq 1 .*sets bits above 208"):
        run([make_log(a, 1, word=word)])


def test_a_debit_beyond_the_balance_is_refused() -> None:
    a = account("overdraft")
    with pytest.raises(IndexIntegrityError, match=r"seq 2 .*balance of program 3"):
        run(
            [make_log(a, 1, program=3, amount=10), make_log(a, 2, kind=DEBIT, program=3, amount=11)]
        )


def test_a_log_that_is_not_hex_is_refused_as_before() -> None:
    a = account("hex")
    with pytest.raises(ValueError):
        run([make_log("0x" + "zz" * 32, 1)])
    bad = make_log(a, 1)
    bad["data"] = bad["data"][:66] + "zz" * 32
    with pytest.raises(ValueError):
        run([bad])


# --- the checks of the logs, inline in the loop (check_logs is their reference) ------------------


def reference(
    logs: list[dict[str, Any]], blocks: dict[str, tuple[int, str]], writer: FakeWriter
) -> list[Any]:
    """What the step did before the checks moved into the loop: every log checked first (chain,
    then shape), then the rows built by log_row and next_head, with the chain rules."""
    topic = ENTRY_TOPIC
    for lg in logs:
        bn, bh = blocks[lg["blockNumber"]]
        if lg.get("removed") or bh != lg["blockHash"]:
            raise ChainMoved(f"log of block {bn} is not on the current chain")
        t = lg["topics"]
        if not (len(t) == 2 and t[0] == topic and len(t[1]) == 66 and len(lg["data"]) == 130):
            raise IndexerError(
                f"unexpected log in block {bn} (topics {lg['topics']}): not an "
                "EntryRecorded(bytes32 indexed account, uint256 entry, bytes32 ref) log"
            )
    heads = {a: (c, bytes.fromhex(h[2:])) for a, (c, h) in writer.heads.items()}
    balances = dict(writer.balances)
    rows = []
    for lg in logs:
        acct, d = lg["topics"][1], lg["data"]
        count, head = heads.get(acct, (0, ZERO_HEAD))
        word = int(d[2:66], 16)
        seq = word & ((1 << 48) - 1)
        if seq != count + 1:
            raise IndexIntegrityError(acct, seq, f"the index holds {count} entries")
        if word >> 208:
            raise IndexIntegrityError(acct, seq, "its entry word sets bits above 208")
        entry = Entry.from_word(bytes.fromhex(acct[2:]), word, bytes.fromhex(d[66:]))
        head = next_head(head, entry)
        heads[acct] = (seq, head)
        key = (acct, entry.program)
        value = balances.get(key, 0) + (
            entry.amount if entry.kind in CREDIT_CODES else -entry.amount
        )
        if value < 0:
            raise IndexIntegrityError(
                acct, seq, f"it debits more than the indexed balance of program {entry.program}"
            )
        balances[key] = value
        row = list(log_row(lg, "0x" + head.hex()))
        row[9] = blocks[lg["blockNumber"]][0]  # the block number as the step parsed it
        rows.append(tuple(row))
    return rows


def outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "rows", fn()
    except ValueError as e:  # not hex: where fromhex stopped depends on what it was given
        return type(e).__name__, None
    except Exception as e:  # the kind and the message are compared
        return type(e).__name__, str(e)


MUTATIONS = (
    "none",
    "removed",
    "other-branch",
    "three-topics",
    "other-event",
    "short-topic",
    "short-data",
    "not-hex",
    "gap",
    "repeat",
    "swap",
    "high-bits",
    "overdraft",
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=10),
    st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 9)), min_size=0, max_size=3),
)
def test_hostile_logs_fail_as_the_reference(
    entries: list[tuple[int, int]], mutations: list[tuple[str, int]]
) -> None:
    """Any mix of bad logs (off the chain, not EntryRecorded, not hex, gaps, repeats, reorders,
    bits above the layout, overdrafts) raises what the reference raises, message included, and
    good logs give the reference rows: the first bad log of the chain and shape checks wins
    over a chain-rule failure before it, as when those checks ran first."""
    seqs: dict[str, int] = {}
    logs = []
    for i, (n, block) in enumerate(entries):
        acct = account(f"h{n}")
        seq = seqs[acct] = seqs.get(acct, 0) + 1
        logs.append(make_log(acct, seq, block=block, index=i, amount=5))
    blocks = {lg["blockNumber"]: (int(lg["blockNumber"], 16), lg["blockHash"]) for lg in logs}
    for what, at in mutations:
        i = at % len(logs)
        lg = logs[i] = dict(logs[i])
        if what == "removed":
            lg["removed"] = True
        elif what == "other-branch":
            lg["blockHash"] = "0x" + "ab" * 32
        elif what == "three-topics":
            lg["topics"] = [*lg["topics"], "0x" + "00" * 32]
        elif what == "other-event":
            lg["topics"] = ["0x" + "cd" * 32, lg["topics"][1]]
        elif what == "short-topic":
            lg["topics"] = [lg["topics"][0], lg["topics"][1][:-2]]
        elif what == "short-data":
            lg["data"] = lg["data"][:-2]
        elif what == "not-hex":
            lg["data"] = lg["data"][:100] + "zz" + lg["data"][102:]
        elif what == "gap":
            lg["data"] = f"0x{int(lg['data'][2:66], 16) + 1:064x}" + lg["data"][66:]
        elif what == "repeat":
            logs.insert(i, dict(lg))
        elif what == "swap" and i + 1 < len(logs):
            logs[i], logs[i + 1] = logs[i + 1], logs[i]
        elif what == "high-bits":
            lg["data"] = f"0x{int(lg['data'][2:66], 16) | 1 << 230:064x}" + lg["data"][66:]
        elif what == "overdraft":
            word = int(lg["data"][2:66], 16)
            lg["data"] = f"0x{word & ~(0xFF << 48) | DEBIT << 48:064x}" + lg["data"][66:]
    writer = FakeWriter()
    got = outcome(
        lambda: Indexer.__new__(Indexer)._check_and_project(writer, logs, blocks)  # type: ignore[arg-type]
    )
    assert got == outcome(lambda: reference(logs, blocks, FakeWriter()))
    if got[0] == "rows":
        check(logs)  # and the projections, through the reference of the rows


def test_a_gap_before_a_log_off_the_chain_is_a_chain_move() -> None:
    """The loop meets the gap first; the removed log after it decides (the step retries)."""
    a = account("gap then removed")
    logs = [make_log(a, 2), make_log(a, 3, index=1) | {"removed": True}]
    blocks = log_blocks(logs)
    with pytest.raises(ChainMoved, match="log of block 7 is not on the current chain"):
        Indexer.__new__(Indexer)._check_and_project(FakeWriter(), logs, blocks)  # type: ignore[arg-type]
    with pytest.raises(ChainMoved):
        check_logs(logs, blocks)
