"""Corrections bound to their award, checked from chain events alone (bridge/audit_rules.py
through the verifier's replay, ``bridge.verify.verify_trail``)."""

from __future__ import annotations

import hashlib
from typing import Any

from bridge.raw_reader import ENTRY_TOPIC, ChainAccount
from bridge.verify import verify_trail
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.hashchain import ZERO_HEAD, Entry, next_head

BIKE, CAR = int(Program.BIKE), int(Program.CAR)


def acct(name: str) -> bytes:
    return hashlib.sha256(f"rules|{name}".encode()).digest()


def award(n: int) -> bytes:
    return n.to_bytes(32, "big")


class Trail:
    """Entries appended in chain order, with the contract state they imply."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []
        self.heads: dict[bytes, bytes] = {}
        self.counts: dict[bytes, int] = {}
        self.balances: dict[bytes, list[int]] = {}

    def add(self, a: bytes, kind: EntryKind, program: int, amount: int, ref: bytes) -> None:
        self.counts[a] = self.counts.get(a, 0) + 1
        reason = {
            EntryKind.CORRECTION: Reason.CORRECTION,
            EntryKind.MERGE_OUT: Reason.MERGE,
        }.get(kind, Reason.NONE)
        e = Entry(a, self.counts[a], int(kind), program, amount, int(reason), ref, 1_700_000)
        self.heads[a] = next_head(self.heads.get(a, ZERO_HEAD), e)
        bal = self.balances.setdefault(a, [0] * 8)
        bal[program] += amount if kind.is_credit else -amount
        n = len(self.logs)
        self.logs.append(
            {
                "topics": [ENTRY_TOPIC, "0x" + a.hex()],
                "data": f"0x{e.word:064x}{ref.hex()}",
                "blockNumber": hex(10 + n),
                "logIndex": "0x0",
            }
        )

    def check(self) -> list[Any]:
        states = {
            "0x" + a.hex(): ChainAccount(
                self.counts[a], self.heads[a], bytes(32), False, tuple(self.balances[a])
            )
            for a in self.counts
        }
        return verify_trail(self.logs, states)


def test_correction_within_its_award_passes() -> None:
    t, a = Trail(), acct("a")
    t.add(a, EntryKind.GRANT, BIKE, 693, award(6733))
    t.add(a, EntryKind.CORRECTION, BIKE, 400, award(6733))
    t.add(a, EntryKind.CORRECTION, BIKE, 293, award(6733))
    assert t.check() == []


def test_correction_larger_than_its_award_is_flagged() -> None:
    # Award 6733 (693) corrected by 4,439: the account's balance allowed it, the award did not.
    t, a = Trail(), acct("a")
    t.add(a, EntryKind.GRANT, BIKE, 5_000, award(6732))
    t.add(a, EntryKind.GRANT, BIKE, 693, award(6733))
    t.add(a, EntryKind.CORRECTION, BIKE, 4_439, award(6733))
    (m,) = t.check()
    assert m.account == "0x" + a.hex() and m.field == "correction"
    assert "0x" + award(6733).hex() in m.expected and "693" in m.expected
    assert m.actual == "4,439 corrected" and "this correction of 4,439" in m.detail


def test_corrections_summing_above_the_award_are_flagged() -> None:
    t, a = Trail(), acct("a")
    t.add(a, EntryKind.GRANT, CAR, 50_000, award(1))
    t.add(a, EntryKind.GRANT, CAR, 1_000, award(2))
    t.add(a, EntryKind.CORRECTION, CAR, 800, award(2))
    t.add(a, EntryKind.CORRECTION, CAR, 800, award(2))
    (m,) = t.check()
    assert m.actual == "1,600 corrected" and "left of the award (200)" in m.detail


def test_correction_naming_an_award_never_granted_is_flagged() -> None:
    t, a = Trail(), acct("a")
    t.add(a, EntryKind.GRANT, CAR, 50_000, award(1))
    t.add(a, EntryKind.CORRECTION, CAR, 10, award(999))  # a made-up award id
    (m,) = t.check()
    assert "0x" + award(999).hex() in m.actual and "never granted" in m.detail


def test_correction_before_its_grant_is_flagged() -> None:
    t, a = Trail(), acct("a")
    t.add(a, EntryKind.GRANT, CAR, 50_000, award(1))
    t.add(a, EntryKind.CORRECTION, CAR, 10, award(2))
    t.add(a, EntryKind.GRANT, CAR, 10, award(2))
    (m,) = t.check()
    assert "never granted" in m.detail


def test_correction_of_another_accounts_or_programs_award_is_flagged() -> None:
    t, a, b = Trail(), acct("a"), acct("b")
    t.add(a, EntryKind.GRANT, CAR, 50_000, award(1))
    t.add(b, EntryKind.GRANT, CAR, 50_000, award(2))
    t.add(b, EntryKind.GRANT, BIKE, 5_000, award(3))
    t.add(b, EntryKind.CORRECTION, CAR, 100, award(1))  # a's award
    t.add(b, EntryKind.CORRECTION, CAR, 100, award(3))  # b's BIKE award, debited in CAR
    found = t.check()
    assert [m.account for m in found] == ["0x" + b.hex()] * 2
    assert f"granted to 0x{a.hex()} in CAR" in found[0].actual
    assert "in BIKE" in found[1].actual


def test_correction_on_the_merge_successor_passes() -> None:
    t, old, new = Trail(), acct("old"), acct("new")
    t.add(old, EntryKind.GRANT, CAR, 50_000, award(1))
    t.add(old, EntryKind.MERGE_OUT, CAR, 50_000, new)
    t.add(new, EntryKind.MERGE_IN, CAR, 50_000, old)
    t.add(new, EntryKind.CORRECTION, CAR, 50_000, award(1))
    assert t.check() == []


def test_an_award_id_granted_twice_is_flagged() -> None:
    t, a, b = Trail(), acct("a"), acct("b")
    t.add(a, EntryKind.GRANT, CAR, 50_000, award(1))
    t.add(b, EntryKind.GRANT, CAR, 50_000, award(1))
    (m,) = t.check()
    assert m.field == "grant" and m.account == "0x" + b.hex()
