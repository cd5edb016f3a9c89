"""The storage slots documented in contracts/README.md (served by the API through eth_getProof).

`mapping(bytes32 account => uint256[8] words) _accounts` at slot 3: the account word (head, count,
flags) at `keccak256(abi.encode(account, 3)) + 0` and the position word of program `p` at that
same base + `p`. Then the award bitmap (4, keyed by `program << 56 | awardNo >> 8`), conversions
(5) and successors (6).
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak
from ledger_helpers import (
    CAR,
    ECO_HOUSEHOLD,
    PROGRAMS,
    TAX_PAYMENT,
    Position,
    acct,
    award_id,
    chain_root,
)

ACCOUNTS_SLOT, AWARD_BITMAP_SLOT, CONVERSIONS_SLOT, SUCCESSORS_SLOT = 3, 4, 5, 6
M16, M32, M40 = (1 << 16) - 1, (1 << 32) - 1, (1 << 40) - 1
DAY = 86400


def account_slot(account: bytes) -> int:
    return int.from_bytes(keccak(encode(["bytes32", "uint256"], [account, ACCOUNTS_SLOT])), "big")


def position_slot(account: bytes, program: int) -> int:
    return account_slot(account) + program


def bitmap_slot(program: int, award_no: int) -> int:
    """The bitmap word of ``program``'s award number ``award_no`` (contracts/README.md)."""
    index = program << 56 | award_no >> 8
    return int.from_bytes(keccak(encode(["uint256", "uint256"], [index, AWARD_BITMAP_SLOT])), "big")


def unpack_position(w: int) -> Position:
    """A position word decoded from its documented layout (Position.sol): granted [0,40) |
    debited [40,80) | lastTime [80,112) | oldest [112,144) | count [144,160) | root [160,256)."""
    granted, debited = w & M40, (w >> 40) & M40
    return Position(
        balance=granted - debited,
        granted=granted,
        debited=debited,
        last_time=(w >> 80) & M32,
        oldest=(w >> 112) & M32,
        live=(w >> 144) & M16,
        root=w >> 160,
    )


def _word(ledger, slot: int) -> int:
    return int.from_bytes(ledger.w3.eth.get_storage_at(ledger.contract.address, slot), "big")


def test_slots_match_views_and_proofs(ledger):
    r = ledger.roles
    a, b = acct("slots"), acct("slots-b")
    t0 = ledger.now() + 100
    ledger.set_next_time(t0)
    ledger.grant(ECO_HOUSEHOLD, [(a, 300, 10_000, award_id(300))])
    ledger.grant(CAR, [(a, 301, 70_000, award_id(301))])
    ledger.tx("deduct", a, CAR, 5_000, TAX_PAYMENT, b"\x00" * 32, [], sender=r.spender)
    ledger.tx("setDonationConsent", a, True, sender=r.registrar)
    # A second ECO_HOUSEHOLD date with the first unspent: one live checkpoint in the root.
    ledger.set_next_time(t0 + DAY)
    ledger.grant(ECO_HOUSEHOLD, [(a, 302, 2_000, award_id(302))])
    count, head, _succ, _don = ledger.call("accountState", a)

    word = _word(ledger, account_slot(a))
    assert (word >> 64).to_bytes(24, "big") == head
    assert word & ((1 << 48) - 1) == count == 4
    assert (word >> 48) & 1 == 1  # donation consent
    assert (word >> 49) & 1 == 0  # not merged
    for program, expected in ((ECO_HOUSEHOLD, 12_000), (CAR, 65_000)):
        pos = unpack_position(_word(ledger, position_slot(a, program)))
        assert pos.balance == expected == ledger.call("balanceOf", a, program)
        assert pos == ledger.position(a, program)
    eco = unpack_position(_word(ledger, position_slot(a, ECO_HOUSEHOLD)))
    assert (eco.granted, eco.debited, eco.last_time, eco.oldest, eco.live) == (
        12_000,
        0,
        t0 + DAY,
        t0,
        1,
    )
    # root = top 96 bits of keccak256(account . uint256(checkpoint | program << 72 | 0 << 160))
    cp = t0 | 10_000 << 32
    expected_root = int.from_bytes(
        keccak(a + (cp | ECO_HOUSEHOLD << 72).to_bytes(32, "big")), "big"
    )
    assert eco.root == expected_root >> 160 == chain_root(a, ECO_HOUSEHOLD, [cp])
    # Every other word of the account's array is untouched.
    for p in set(PROGRAMS) - {ECO_HOUSEHOLD, CAR}:
        assert _word(ledger, position_slot(a, p)) == 0
    assert _word(ledger, position_slot(a, 8)) == 0  # the next slot after the array
    # Award numbers are per program: the word index is program << 56 | n >> 8.
    eco_bits = _word(ledger, bitmap_slot(ECO_HOUSEHOLD, 300))
    car_bits = _word(ledger, bitmap_slot(CAR, 301))
    assert eco_bits == 1 << (300 & 0xFF) | 1 << (302 & 0xFF)  # ECO_HOUSEHOLD 300 and 302
    assert car_bits == 1 << (301 & 0xFF)
    assert _word(ledger, bitmap_slot(0, 300)) == 0  # nothing under the un-namespaced index

    cid = award_id(900)
    ledger.tx("convert", a, CAR, 7, 1_000, cid, [], sender=r.converter)
    conv_slot = int.from_bytes(
        keccak(encode(["bytes32", "uint256"], [cid, CONVERSIONS_SLOT])), "big"
    )
    assert _word(ledger, conv_slot) == 1

    ledger.tx("mergeAccounts", a, b, ledger.lives(a), ledger.lives(b), sender=r.registrar)
    succ = _word(
        ledger, int.from_bytes(keccak(encode(["bytes32", "uint256"], [a, SUCCESSORS_SLOT])), "big")
    )
    assert succ.to_bytes(32, "big") == b
    assert (_word(ledger, account_slot(a)) >> 49) & 1 == 1  # merged
    assert all(_word(ledger, position_slot(a, p)) == 0 for p in PROGRAMS)  # moved out

    slots = [account_slot(b), position_slot(b, CAR), position_slot(b, ECO_HOUSEHOLD)]
    proof = ledger.w3.eth.get_proof(ledger.contract.address, slots, "latest")
    values = [
        int(p["value"]) if not isinstance(p["value"], bytes) else int.from_bytes(p["value"], "big")
        for p in proof["storageProof"]
    ]
    count_b, head_b = ledger.call("accountState", b)[:2]
    assert (values[0] >> 64).to_bytes(24, "big") == head_b
    assert values[0] & ((1 << 48) - 1) == count_b
    assert unpack_position(values[1]).balance == 64_000
    assert unpack_position(values[2]) == ledger.position(b, ECO_HOUSEHOLD)
    assert unpack_position(values[2]).live == 1  # the merge kept both grant dates
