"""The submitter's ``grantBatch`` calldata from outbox rows (``encode_grant_batch_hex``) is
eth_abi's encoding byte for byte, and anything malformed gets exactly what the bytes encoder
(``encode_grant_batch`` over ``to_bytes32``) gives: the same calldata or the same error."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from hypothesis import given
from hypothesis import strategies as st

from bridge.client import (
    GRANT_BATCH,
    GrantItem,
    encode_grant_batch,
    encode_grant_batch_hex,
    to_bytes32,
)
from bridge.outbox import ClaimedAward

SELECTOR = function_signature_to_4byte_selector(GRANT_BATCH)
U64, U96 = (1 << 64) - 1, (1 << 96) - 1


class Row(NamedTuple):
    """Any object with the four attributes (values of any type, for the malformed cases)."""

    account_id: object
    award_no: object
    amount: object
    award_id: object


def eth_abi_data(program: int, rows: list[ClaimedAward]) -> bytes:
    grants = [
        (bytes.fromhex(r.account_id[2:]), r.award_no, r.amount, bytes.fromhex(r.award_id[2:]))
        for r in rows
    ]
    return SELECTOR + abi_encode(["uint8", "(bytes32,uint64,uint96,bytes32)[]"], [program, grants])


def slow(program: int, rows: list[object]) -> bytes:
    """The reference: the bytes encoder over ``to_bytes32``."""
    return encode_grant_batch(
        program,
        [
            GrantItem(to_bytes32(r.account_id), r.award_no, r.amount, to_bytes32(r.award_id))  # type: ignore[attr-defined]
            for r in rows
        ],
    )


def hex32(raw: bytes, upper: bool) -> str:
    h = raw.hex()
    return "0x" + (h.upper() if upper else h)


edge_u64 = st.sampled_from([0, 1, 255, 256, U64 - 1, U64]) | st.integers(0, U64)
edge_u96 = st.sampled_from([0, 1, U64 + 1, U96 - 1, U96]) | st.integers(0, U96)
raw32 = st.sampled_from([b"\x00" * 32, b"\xff" * 32, b"\x00" * 31 + b"\x01"]) | st.binary(
    min_size=32, max_size=32
)
awards = st.builds(
    lambda no, acct, aid, amount, up1, up2: ClaimedAward(
        no, hex32(aid, up2), hex32(acct, up1), amount, "BIKE"
    ),
    edge_u64,
    raw32,
    raw32,
    edge_u96,
    st.booleans(),
    st.booleans(),
)


@given(st.integers(0, 255), st.lists(awards, max_size=40))
def test_hex_encoder_equals_eth_abi(program: int, rows: list[ClaimedAward]) -> None:
    data = encode_grant_batch_hex(program, rows)
    assert data == eth_abi_data(program, rows)
    assert data == slow(program, list(rows))


def test_edge_values_and_empty_batch() -> None:
    rows = [
        ClaimedAward(U64, "0x" + "ff" * 32, "0x" + "ff" * 32, U96, "BIKE"),
        ClaimedAward(0, "0x" + "00" * 32, "0x" + "00" * 32, 0, "BIKE"),
        ClaimedAward(1, "0x" + "00" * 31 + "01", "0x" + "00" * 31 + "01", 1, "BIKE"),
    ]
    assert encode_grant_batch_hex(255, rows) == eth_abi_data(255, rows)
    assert encode_grant_batch_hex(0, []) == eth_abi_data(0, [])


GOOD = "0x" + "ab" * 32
MALFORMED = [
    Row(GOOD, U64 + 1, 1, GOOD),  # award number too large
    Row(GOOD, -1, 1, GOOD),
    Row(GOOD, 1, U96 + 1, GOOD),  # amount too large
    Row(GOOD, 1, -1, GOOD),
    Row("0x" + "ab" * 31, 1, 1, GOOD),  # 31 bytes
    Row(GOOD, 1, 1, "0x" + "ab" * 33),  # 33 bytes
    Row("0x" + "zz" * 32, 1, 1, GOOD),  # not hex
    Row("0X" + "ab" * 32, 1, 1, GOOD),  # capital prefix: to_bytes32 refuses it
    Row("0x" + "ab" * 31 + " a", 1, 1, GOOD),  # whitespace, fromhex would skip it
    Row("0x" + "a" * 63 + " ", 1, 1, "0x " + "b" * 63),
    Row("0x" + "ab" * 31 + "  ", 1, 1, GOOD),  # two spaces: even, but a byte short
    Row("ab" * 33, 1, 1, GOOD),  # 66 characters without the prefix: 33 bytes
    Row(b"\x01" * 32, 1, 1, GOOD),  # bytes, not hex
    Row(GOOD, 1.0, 1, GOOD),  # not ints
    Row(GOOD, 1, 2.5, GOOD),
    Row(None, 1, 1, GOOD),
]


@pytest.mark.parametrize("bad", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_rows_behave_as_the_bytes_encoder(bad: Row) -> None:
    """Each bad row, alone and after a good one: the same exception type and message as the
    bytes encoder, or (where that one accepts it) the same calldata."""
    good = Row(GOOD, 7, 5, GOOD)
    for rows in ([bad], [good, bad]):
        try:
            want: bytes | BaseException = slow(3, list(rows))
        except Exception as exc:
            want = exc
        if isinstance(want, bytes):
            assert encode_grant_batch_hex(3, rows) == want  # type: ignore[arg-type]
        else:
            with pytest.raises(type(want)) as got:
                encode_grant_batch_hex(3, rows)  # type: ignore[arg-type]
            assert str(got.value) == str(want)


def test_a_valid_id_without_prefix_is_encoded_as_before() -> None:
    """to_bytes32 accepts 64 hex digits without ``0x``: so does the hex encoder (slow path)."""
    rows = [Row("ab" * 32, 1, 2, "cd" * 32)]
    assert encode_grant_batch_hex(3, rows) == slow(3, list(rows))  # type: ignore[arg-type]


def test_program_out_of_range() -> None:
    for program in (256, -1):
        with pytest.raises(ValueError, match="uint8"):
            encode_grant_batch_hex(program, [])
