"""The storage slots documented in contracts/README.md (served by the API through eth_getProof)."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak
from ledger_helpers import CAR, ECO_HOUSEHOLD, TAX_PAYMENT, acct, award_id

ACCOUNTS_SLOT, POSITIONS_SLOT, AWARD_BITMAP_SLOT, SUCCESSORS_SLOT = 3, 4, 6, 8
M96 = (1 << 96) - 1


def account_slot(account: bytes) -> int:
    return int.from_bytes(keccak(encode(["bytes32", "uint256"], [account, ACCOUNTS_SLOT])), "big")


def position_slot(account: bytes, program: int) -> int:
    inner = keccak(encode(["bytes32", "uint256"], [account, POSITIONS_SLOT]))
    return int.from_bytes(keccak(encode(["uint256", "bytes32"], [program, inner])), "big")


def _word(ledger, slot: int) -> int:
    return int.from_bytes(ledger.w3.eth.get_storage_at(ledger.contract.address, slot), "big")


def test_slots_match_views_and_proofs(ledger):
    r = ledger.roles
    a, b = acct("slots"), acct("slots-b")
    ledger.grant(ECO_HOUSEHOLD, [(a, 300, 10_000, award_id(300))])
    ledger.grant(CAR, [(a, 301, 70_000, award_id(301))])
    ledger.tx("deduct", a, CAR, 5_000, TAX_PAYMENT, b"\x00" * 32, sender=r.spender)
    ledger.tx("setDonationConsent", a, True, sender=r.registrar)
    count, head, _succ, _don = ledger.call("accountState", a)

    word = _word(ledger, account_slot(a))
    assert (word >> 64).to_bytes(24, "big") == head
    assert word & ((1 << 48) - 1) == count == 3
    assert (word >> 48) & 1 == 1  # donation consent
    assert (word >> 49) & 1 == 0  # not merged
    for program, expected in ((ECO_HOUSEHOLD, 10_000), (CAR, 65_000)):
        w = _word(ledger, position_slot(a, program))
        assert (w & M96) - ((w >> 96) & M96) == expected == ledger.call("balanceOf", a, program)
    bitmap = _word(
        ledger,
        int.from_bytes(
            keccak(encode(["uint256", "uint256"], [300 >> 8, AWARD_BITMAP_SLOT])), "big"
        ),
    )
    assert bitmap >> (300 & 0xFF) & 1 and bitmap >> (301 & 0xFF) & 1

    ledger.tx("mergeAccounts", a, b, sender=r.registrar)
    succ = _word(
        ledger, int.from_bytes(keccak(encode(["bytes32", "uint256"], [a, SUCCESSORS_SLOT])), "big")
    )
    assert succ.to_bytes(32, "big") == b
    assert (_word(ledger, account_slot(a)) >> 49) & 1 == 1  # merged

    slots = [account_slot(b), position_slot(b, CAR)]
    proof = ledger.w3.eth.get_proof(ledger.contract.address, slots, "latest")
    values = [
        int(p["value"]) if not isinstance(p["value"], bytes) else int.from_bytes(p["value"], "big")
        for p in proof["storageProof"]
    ]
    count_b, head_b = ledger.call("accountState", b)[:2]
    assert (values[0] >> 64).to_bytes(24, "big") == head_b
    assert values[0] & ((1 << 48) - 1) == count_b
    assert (values[1] & M96) - ((values[1] >> 96) & M96) == 65_000
