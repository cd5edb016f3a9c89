"""Award ids, account ids and the entry hash chain against hand-computed vectors."""

import hashlib
import hmac

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from ledger.domain import awards
from ledger.domain.accounts import account_id
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.errors import ChainBroken, InvalidAccountKey, InvalidPeriod, InvalidValue
from ledger.domain.hashchain import ZERO_HEAD, Entry, encode_entry, next_head, verify_chain
from ledger.domain.types import YearMonth

ACCOUNT = bytes.fromhex("11" * 32)
REF = bytes.fromhex("22" * 32)


def test_award_id_vector() -> None:
    expected = "afe3cbdac78fe64e0e9a3a822fbc04228da674745ad453f552683778dd827ac2"
    assert awards.award_id(Program.BIKE, "M1", "2024-01").hex() == expected
    assert awards.award_id(Program.BIKE, "M1", "2024-01") == keccak(
        b"mileage-award|BIKE|M1|2024-01"
    )


def test_award_id_refuses_ambiguous_member_ids() -> None:
    with pytest.raises(InvalidValue, match="member_id"):
        awards.award_id(Program.CAR, "a|b", "2024-01..2024-06")
    with pytest.raises(InvalidPeriod):
        awards.award_id(Program.CAR, "a", "")


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
HEAD1 = bytes.fromhex("21a14fe26a4c9913ae8ef767f6db32a0f3b8aa5e933a9f0d0cd502c04e422122")
HEAD2 = bytes.fromhex("4b854b88a401b5e4cb304096e43016ba2c68236f4181ce8a2d8a60c541ada08d")


def test_encoding_by_hand() -> None:
    words = [
        "00" * 32,  # head
        "11" * 32,  # account
        "00" * 31 + "01",  # seq
        "00" * 31 + "01",  # kind GRANT
        "00" * 31 + "01",  # program ECO_HOUSEHOLD
        "00" * 30 + "c350",  # amount 50,000
        "00" * 32,  # reason NONE
        "22" * 32,  # ref
        "00" * 28 + "6553f100",  # timestamp 1,700,000,000
    ]
    preimage = bytes.fromhex("".join(words))
    assert encode_entry(ZERO_HEAD, FIRST) == preimage
    types = [
        "bytes32",
        "bytes32",
        "uint64",
        "uint8",
        "uint8",
        "uint96",
        "uint8",
        "bytes32",
        "uint64",
    ]
    assert preimage == encode(types, [ZERO_HEAD, ACCOUNT, 1, 1, 1, 50_000, 0, REF, 1_700_000_000])
    assert next_head(ZERO_HEAD, FIRST) == keccak(preimage) == HEAD1
    assert next_head(HEAD1, SECOND) == HEAD2


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


def test_entry_ranges() -> None:
    with pytest.raises(InvalidValue, match="uint96"):
        Entry(ACCOUNT, 1, 1, 1, 1 << 96, 0, REF, 0)
    with pytest.raises(InvalidValue, match="32 bytes"):
        Entry(b"\x01", 1, 1, 1, 1, 0, REF, 0)
