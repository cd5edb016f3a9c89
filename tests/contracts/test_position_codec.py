"""PositionCodec (contracts/types/Position.sol): the named masks equal their formulas, and the
assembly of `credited` (the hot path of every grant) equals the same rule written in plain
Solidity with `unpack`, `pack` and `link` (`PositionCodecHarness.creditedReference`), for random
words whose fields are in range, skewed towards the edges: an empty, spent-out or full position,
a credit at the newest time, sums at the 40-bit limit, 65,535 live checkpoints.

The harness is compiled with the other contracts (contracts/test/) and deployed on the session's
anvil; every example is two eth_calls. POSITION_CODEC_EXAMPLES (default 300) sets the number.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from web3 import Web3

from bridge.compile import compile_contracts

M16, M32, M40, M96 = (1 << 16) - 1, (1 << 32) - 1, (1 << 40) - 1, (1 << 96) - 1


@pytest.fixture(scope="module")
def codec(w3: Web3) -> Any:
    art = compile_contracts()["PositionCodecHarness"]
    h = (
        w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        .constructor()
        .transact({"from": w3.eth.accounts[0], "gas": 5_000_000})
    )
    rcpt = w3.eth.wait_for_transaction_receipt(h)
    assert rcpt.status == 1
    return w3.eth.contract(address=rcpt.contractAddress, abi=art.abi).functions


def pack(granted: int, debited: int, last: int, oldest: int, count: int, root: int) -> int:
    """The word of contracts/types/Position.sol, packed independently of the contract."""
    return granted | debited << 40 | last << 80 | oldest << 112 | count << 144 | root << 160


def test_masks_equal_their_formulas(codec: Any) -> None:
    assert codec.constants().call() == [
        M40,
        M32,
        M16,
        M16,  # MAX_LIVE
        40,
        80,
        112,
        144,
        160,
        ((1 << 256) - 1) ^ ((1 << 160) - 1),  # ROOT_FIELD
        M40 << 40 | M32 << 112,  # DEBITED_AND_OLDEST: the fields a new date keeps
        32,
        72,
    ]


def test_pack_and_unpack_match_the_documented_layout(codec: Any) -> None:
    fields = (M40, 0x1234567890, M32, 0x01020304, M16, M96)
    word = pack(*fields)
    assert codec.pack(fields).call() == word
    assert tuple(codec.unpack(word).call()) == fields
    # Each field alone: no field leaks into another.
    for i, top in enumerate((M40, M40, M32, M32, M16, M96)):
        one = tuple(top if j == i else 0 for j in range(6))
        assert tuple(codec.unpack(pack(*one)).call()) == one


def edge(top: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from((0, 1, top - 1, top)), st.integers(0, top))


Credit = tuple[int, int, int, bytes, int, str]


@st.composite
def credits(draw: st.DrawFn) -> Credit:
    """(word, amount, time, account, program, case) with every field in range."""
    case = draw(st.sampled_from(("same time", "spent out", "new date", "full", "any")))
    granted = draw(edge(M40))
    last = draw(edge(M32))
    if case == "spent out":
        debited = draw(st.integers(granted, M40))
    elif case in ("new date", "full") and granted > 0:
        debited = draw(st.integers(0, granted - 1))
    else:
        debited = draw(edge(M40))
    oldest = draw(edge(M32))
    count = M16 if case == "full" else draw(edge(M16))
    root = draw(edge(M96))
    time = last if case == "same time" else draw(edge(M32))
    # Amounts near what would overflow the 40-bit sum, and any uint96.
    amount = draw(
        st.one_of(
            st.integers(1, 100_000),
            st.integers(max(1, M40 - granted - 2), M40 - granted + 2),
            st.integers(1, M96),
        )
    )
    account = draw(st.binary(min_size=32, max_size=32))
    program = draw(st.integers(1, 7) | st.integers(0, 255))
    return pack(granted, debited, last, oldest, count, root), amount, time, account, program, case


@settings(
    max_examples=int(os.environ.get("POSITION_CODEC_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(c=credits())
def test_credited_equals_pack_and_link(codec: Any, c: Credit) -> None:
    word, amount, time, account, program, case = c
    got = codec.credited(word, amount, time, account, program).call()
    want = codec.creditedReference(word, amount, time, account, program).call()
    event(f"{case}: {'refused' if want == 0 else 'credited'}")
    assert got == want, (hex(word), amount, time, account.hex(), program)


def test_credited_new_date_chains_the_previous_checkpoint(codec: Any) -> None:
    """One example by hand, independent of the reference: the root link of the old newest
    checkpoint (time | granted << 32), count + 1, debited and oldest kept."""
    account = bytes(range(32))
    word = pack(500, 200, 1_000, 900, 3, 0xABC)
    got = codec.credited(word, 70, 2_000, account, 4).call()
    root = codec.link(account, 4, 0xABC, 1_000 | 500 << 32).call()
    assert got == pack(570, 200, 2_000, 900, 4, root)
    # Refused: 65,535 live checkpoints already, or a 40-bit overflow of granted.
    assert codec.credited(pack(500, 200, 1_000, 900, M16, 1), 70, 2_000, account, 4).call() == 0
    assert codec.credited(word, M40 - 499, 2_000, account, 4).call() == 0
