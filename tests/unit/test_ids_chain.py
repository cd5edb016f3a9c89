"""Award ids, account ids, the packed entry word and the entry hash chain against hand-computed
vectors."""

import hashlib
import hmac

import pytest
from Crypto.Hash import keccak as reference_keccak
from eth_abi.packed import encode_packed
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import awards
from ledger.domain.accounts import account_id
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.errors import ChainBroken, InvalidAccountKey, InvalidPeriod, InvalidValue
from ledger.domain.hashchain import (
    ENTRY_BITS,
    ENTRY_LAYOUT,
    HEAD_BYTES,
    PREIMAGE_BYTES,
    ZERO_HEAD,
    Entry,
    decode_entry,
    encode_entry,
    head_of,
    next_head,
    pack_entry,
    unpack_entry,
    verify_chain,
)
from ledger.domain.keys import IdKeys
from ledger.domain.types import YearMonth

ACCOUNT = bytes.fromhex("11" * 32)
REF = bytes.fromhex("22" * 32)


def test_award_id_vector() -> None:
    """award id = HMAC-SHA256(HMAC-SHA256(ref key, "mileage-subkey|v1|award-id"), message),
    recomputed here with the standard library alone."""
    ref_key = b"r" * 32
    subkey = hmac.new(ref_key, b"mileage-subkey|v1|award-id", hashlib.sha256).digest()
    expected = hmac.new(subkey, b"mileage-award|BIKE|M1|2024-01", hashlib.sha256).digest()
    key = IdKeys.from_secrets(b"a" * 32, ref_key).award
    assert awards.award_id(Program.BIKE, "M1", "2024-01", key) == expected
    assert expected != keccak(b"mileage-award|BIKE|M1|2024-01")  # the unkeyed id of old


def test_award_id_refuses_ambiguous_member_ids() -> None:
    key = b"k" * 32
    with pytest.raises(InvalidValue, match="member_id"):
        awards.award_id(Program.CAR, "a|b", "2024-01..2024-06", key)
    with pytest.raises(InvalidPeriod):
        awards.award_id(Program.CAR, "a", "", key)


def test_periods() -> None:
    jan, jun = YearMonth(2024, 1), YearMonth(2024, 6)
    assert awards.household_period(jan, jun) == "2024-01..2024-06"
    with pytest.raises(InvalidPeriod, match="spans 5 months"):
        awards.household_period(jan, YearMonth(2024, 5))
    assert awards.season_year(YearMonth(2024, 12), YearMonth(2025, 3)) == 2024
    assert awards.season_period(2024) == "2024"
    with pytest.raises(InvalidPeriod, match="not a fine-dust season"):
        awards.season_year(YearMonth(2024, 11), YearMonth(2025, 2))
    assert awards.org_period(YearMonth(2024, 6), YearMonth(2024, 9)) == "2024-06..2024-09"
    with pytest.raises(InvalidPeriod, match="not an organisation round"):
        awards.org_period(YearMonth(2024, 1), YearMonth(2024, 4))
    assert awards.bike_period(YearMonth(2024, 3)) == "2024-03"


def test_account_id_is_hmac_sha256() -> None:
    key = b"k" * 32
    expected = "7191c33f835de1101a79dc69790a65297c63b0259b3e38a61b10bdfa1df208ba"
    assert account_id("9001011234567", key).hex() == expected
    digest = hmac.new(key, b"9001011234567", hashlib.sha256).digest()
    assert account_id("9001011234567", key) == digest
    with pytest.raises(InvalidAccountKey, match="MILEAGE_ACCOUNT_KEY"):
        account_id("x", b"short")


FIRST = Entry(
    ACCOUNT, 1, EntryKind.GRANT, Program.ECO_HOUSEHOLD, 50_000, Reason.NONE, REF, 1_700_000_000
)
SECOND = Entry(
    ACCOUNT,
    2,
    EntryKind.DEDUCTION,
    Program.ECO_HOUSEHOLD,
    10_000,
    Reason.GIFT_CERTIFICATE,
    bytes.fromhex("33" * 32),
    1_700_000_100,
)
# The packed entry words, most significant byte first: 6 unused bytes, amount (12 bytes),
# timestamp (5), reason (1), program (1), kind (1), seq (6).
WORD1 = "".join(
    [
        "00" * 6,  # bits 208..255 unused
        "00" * 10 + "c350",  # amount 50,000
        "006553f100",  # timestamp 1,700,000,000
        "00",  # reason NONE
        "01",  # program ECO_HOUSEHOLD
        "01",  # kind GRANT
        "00" * 5 + "01",  # seq 1
    ]
)
WORD2 = "".join(
    [
        "00" * 6,
        "00" * 10 + "2710",  # amount 10,000
        "006553f164",  # timestamp 1,700,000,100
        "04",  # reason GIFT_CERTIFICATE
        "01",  # program ECO_HOUSEHOLD
        "04",  # kind DEDUCTION
        "00" * 5 + "02",  # seq 2
    ]
)
HEAD1 = bytes.fromhex("5b13a5b3396aba6eab0694129bb7774cdc315683fc449365")
HEAD2 = bytes.fromhex("03113ec53ba8b33ed7ed6ddad89528d45ff9b1cdb7adcbf3")


def test_entry_words_by_hand() -> None:
    assert len(WORD1) == len(WORD2) == 64
    assert FIRST.word == int(WORD1, 16)
    assert SECOND.word == int(WORD2, 16)
    assert pack_entry(1, 1, 1, 0, 1_700_000_000, 50_000) == int(WORD1, 16)
    assert Entry.from_word(ACCOUNT, int(WORD1, 16), REF) == FIRST
    assert unpack_entry(int(WORD2, 16)) == {
        "seq": 2,
        "kind": 4,
        "program": 1,
        "reason": 4,
        "timestamp": 1_700_000_100,
        "amount": 10_000,
    }


def test_encoding_by_hand() -> None:
    preimage = bytes.fromhex(
        "".join(
            [
                "00" * 24,  # previous head: the zero bytes24
                "11" * 32,  # account
                WORD1,  # entry word
                "22" * 32,  # ref
            ]
        )
    )
    assert len(preimage) == PREIMAGE_BYTES == 120
    assert encode_entry(ZERO_HEAD, FIRST) == preimage
    assert preimage == encode_packed(
        ["bytes24", "bytes32", "uint256", "bytes32"], [ZERO_HEAD, ACCOUNT, int(WORD1, 16), REF]
    )
    assert head_of(preimage) == next_head(ZERO_HEAD, FIRST) == keccak(preimage)[:24] == HEAD1
    second = bytes.fromhex(HEAD1.hex() + "11" * 32 + WORD2 + "33" * 32)
    assert encode_entry(HEAD1, SECOND) == second
    assert next_head(HEAD1, SECOND) == keccak(second)[:24] == HEAD2
    assert len(HEAD1) == len(ZERO_HEAD) == HEAD_BYTES == 24
    with pytest.raises(InvalidValue, match="prev_head"):
        encode_entry(bytes(32), FIRST)  # a 32-byte head of the old format


def test_verify_chain() -> None:
    assert verify_chain([FIRST, SECOND], HEAD2, 2) == HEAD2
    assert verify_chain([], ZERO_HEAD, 0) == ZERO_HEAD
    with pytest.raises(ChainBroken, match="counts 3"):
        verify_chain([FIRST, SECOND], HEAD2, 3)
    with pytest.raises(ChainBroken, match="differs from the contract's"):
        verify_chain([FIRST, SECOND], HEAD1, 2)
    with pytest.raises(ChainBroken, match="expected seq 2, got 1"):
        verify_chain([FIRST, FIRST], HEAD2, 2)
    tampered = Entry(ACCOUNT, 2, 4, 1, 10_001, 4, bytes.fromhex("33" * 32), 1_700_000_100)
    with pytest.raises(ChainBroken, match="at seq 2"):
        verify_chain([FIRST, tampered], HEAD2, 2)


@pytest.mark.parametrize(
    "fields",
    [
        {"seq": 0, "kind": 0, "program": 0, "reason": 0, "timestamp": 0, "amount": 0},
        {
            "seq": 2**48 - 1,
            "kind": 255,
            "program": 255,
            "reason": 255,
            "timestamp": 2**40 - 1,
            "amount": 2**96 - 1,
        },
        {"seq": 7, "kind": 8, "program": 7, "reason": 3, "timestamp": 1_700_000_000, "amount": 1},
    ],
    ids=["zero", "max", "typical"],
)
def test_pack_unpack_round_trip(fields: dict[str, int]) -> None:
    word = pack_entry(**fields)
    assert 0 <= word < 1 << 208
    assert unpack_entry(word) == fields
    for name, offset, bits in ENTRY_LAYOUT:
        assert (word >> offset) & ((1 << bits) - 1) == fields[name]


@pytest.mark.parametrize(
    ("name", "bits"),
    [("seq", 48), ("kind", 8), ("program", 8), ("reason", 8), ("timestamp", 40), ("amount", 96)],
)
def test_pack_refuses_out_of_range_fields(name: str, bits: int) -> None:
    fields = {"seq": 1, "kind": 1, "program": 1, "reason": 0, "timestamp": 0, "amount": 1}
    for bad in (1 << bits, -1):
        with pytest.raises(InvalidValue, match=name):
            pack_entry(**{**fields, name: bad})
    with pytest.raises(InvalidValue, match=f"uint{bits}"):
        Entry(**{**fields, name: 1 << bits, "account": ACCOUNT, "ref": REF})


def test_unpack_refuses_bits_outside_the_layout() -> None:
    for word in (1 << 208, 1 << 255, -1):
        with pytest.raises(InvalidValue, match="entry"):
            unpack_entry(word)
    with pytest.raises(InvalidValue, match="entry"):
        Entry.from_word(ACCOUNT, int(WORD1, 16) | 1 << 220, REF)


@given(st.integers(min_value=0, max_value=(1 << 256) - 1))
def test_the_one_decoder_follows_the_layout(word: int) -> None:
    """``decode_entry`` (indexer, verifier, ``unpack_entry``) reads each field where
    ``ENTRY_LAYOUT`` puts it, for any kind code (unknown ones too: 9, 255); bits at or above
    ``ENTRY_BITS`` show in ``amount``, so a check of ``amount`` against uint96 catches them."""
    fields = decode_entry(word)
    for value, (_name, offset, bits) in zip(fields[:5], ENTRY_LAYOUT[:5], strict=True):
        assert value == (word >> offset) & ((1 << bits) - 1)
    assert fields[5] == word >> 112
    assert (fields[5] >= 1 << 96) == (word >> ENTRY_BITS != 0)
    if word >> ENTRY_BITS == 0:
        assert tuple(unpack_entry(word).values()) == fields


@pytest.mark.parametrize("length", [0, 1, 119, 120, 135, 136, 137, 300])
def test_head_of_is_truncated_keccak256(length: int) -> None:
    """``head_of`` (safe-pysha3) against an independent keccak256 (pycryptodome's)."""
    data = bytes((i * 7 + length) % 256 for i in range(length))
    expected = reference_keccak.new(data=data, digest_bits=256).digest()
    assert head_of(data) == expected[:HEAD_BYTES] == keccak(data)[:HEAD_BYTES]


def test_layout_tiles_the_low_208_bits() -> None:
    covered = 0
    for _, offset, bits in ENTRY_LAYOUT:
        mask = ((1 << bits) - 1) << offset
        assert covered & mask == 0
        covered |= mask
    assert covered == (1 << 208) - 1


def test_entry_ranges() -> None:
    with pytest.raises(InvalidValue, match="uint96"):
        Entry(ACCOUNT, 1, 1, 1, 1 << 96, 0, REF, 0)
    with pytest.raises(InvalidValue, match="32 bytes"):
        Entry(b"\x01", 1, 1, 1, 1, 0, REF, 0)
    with pytest.raises(InvalidValue, match="32 bytes"):
        Entry(ACCOUNT, 1, 1, 1, 1, 0, REF[:24], 0)
