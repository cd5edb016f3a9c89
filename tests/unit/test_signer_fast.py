"""The bridge signs its legacy transactions without eth_account (``bridge.signer.sign_legacy``):
the raw bytes and hash are eth_account's, byte for byte, and every dict the fast path does not
take plainly is left to eth_account (same result, or the same error)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.signer import Signer, sign_legacy, signer_from_key

KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SIGNER = signer_from_key(KEY)
TO = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def reference(tx: dict[str, Any]) -> tuple[bytes, str] | BaseException:
    try:
        signed = Account.from_key(KEY).sign_transaction(tx)
    except Exception as exc:
        return exc
    return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()


def assert_same(tx: dict[str, Any]) -> None:
    want = reference(dict(tx))
    if isinstance(want, BaseException):
        with pytest.raises(type(want)) as got:
            SIGNER.sign(dict(tx))
        assert str(got.value) == str(want)
    else:
        assert SIGNER.sign(dict(tx)) == want


EDGES = [0, 1, 0x7F, 0x80, 0xFF, 0x100, (1 << 64) - 1, (1 << 256) - 1]
u256 = st.sampled_from(EDGES) | st.integers(0, (1 << 256) - 1)
data = st.sampled_from([b"", b"\x00", b"\x7f", b"\x80", b"\x01" * 55, b"\x01" * 56]) | st.binary(
    max_size=2000
)


@settings(max_examples=150)
@given(
    nonce=u256,
    gas_price=u256,
    gas=u256,
    value=u256,
    chain_id=st.sampled_from([1, 31337, 1337, 2**31 - 1, 2**40]) | st.integers(0, 2**64),
    payload=data,
    as_hex=st.booleans(),
    upper=st.booleans(),
)
def test_fast_signature_is_eth_accounts(
    nonce: int,
    gas_price: int,
    gas: int,
    value: int,
    chain_id: int,
    payload: bytes,
    as_hex: bool,
    upper: bool,
) -> None:
    hexed = payload.hex().upper() if upper else payload.hex()
    tx = {
        "to": TO,
        "value": value,
        "data": "0x" + hexed if as_hex else payload,
        "gas": gas,
        "gasPrice": gas_price,
        "nonce": nonce,
        "chainId": chain_id,
    }
    assert sign_legacy(SIGNER._curve_key, tx) is not None
    assert_same(tx)


def test_a_batch_sized_transaction() -> None:
    tx = {
        "to": TO,
        "value": 0,
        "data": "0x" + bytes(range(256)).hex() * 250,
        "gas": 30_000_000,
        "gasPrice": 0,
        "nonce": 12,
        "chainId": 31337,
    }
    assert_same(tx)


BASE: dict[str, Any] = {
    "to": TO,
    "value": 0,
    "data": "0x1234",
    "gas": 21_000,
    "gasPrice": 1,
    "nonce": 0,
    "chainId": 31337,
}
ODD = [
    {"to": TO.lower()},  # not a checksum address: eth_account refuses it
    {"to": ""},
    {"to": None},
    {"to": bytes.fromhex(TO[2:])},
    {"nonce": "0x10"},  # hex-string numbers: eth_account's formatters
    {"gas": True},
    {"value": -1},
    {"value": 1 << 256},
    {"chainId": None},
    {"chainId": "0x7a69"},
    {"data": "1234"},
    {"data": "0x123"},
    {"data": "0x12 34"},
    {"data": "0xzz"},
    {"data": bytearray(b"\x01")},
    {"type": 0},
    {"maxFeePerGas": 1},
]


@pytest.mark.parametrize("change", ODD, ids=range(len(ODD)))
def test_anything_else_is_eth_accounts_to_sign_or_refuse(change: dict[str, Any]) -> None:
    tx = {**BASE, **change}
    if "maxFeePerGas" in change:
        tx.pop("gasPrice")
    assert sign_legacy(SIGNER._curve_key, tx) is None
    assert_same(tx)


def test_missing_key_goes_to_eth_account() -> None:
    tx = dict(BASE)
    tx.pop("chainId")
    assert sign_legacy(SIGNER._curve_key, tx) is None
    assert_same(tx)


def test_repr_hides_the_key_and_signers_compare_by_account() -> None:
    s = signer_from_key(KEY)
    s.sign(dict(BASE))  # caches the native key
    assert KEY[2:] not in repr(s) and "4c0883" not in repr(s)
    assert s == Signer(Account.from_key(KEY), "dev")
