"""The refund audit (bridge.audit_refunds) over hand-built logs: REFUND entries checked against
the DEDUCTION entries before them (same account, program and ref; running total bounded)."""

from __future__ import annotations

from typing import Any

from bridge.audit_consent import CONSENT_TOPIC
from bridge.audit_refunds import RefundChecker, check_refunds
from bridge.raw_reader import ENTRY_TOPIC
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.hashchain import pack_entry

A = "0x" + "aa" * 32
B = "0x" + "bb" * 32
D1 = "0x" + "d1" * 32
D2 = "0x" + "d2" * 32
CAR, SEOUL = int(Program.CAR), int(Program.SEOUL)


def entry(
    account: str, kind: EntryKind, amount: int, ref: str, block: int, program: int = CAR
) -> dict[str, Any]:
    reason = Reason.GIFT_CERTIFICATE if kind is EntryKind.DEDUCTION else Reason.NONE
    word = pack_entry(1, int(kind), program, int(reason), 1_700_000_000, amount)
    return {
        "topics": [ENTRY_TOPIC, account],
        "data": "0x" + f"{word:064x}" + ref[2:],
        "blockNumber": hex(block),
    }


def ded(account: str, amount: int, ref: str, block: int, program: int = CAR) -> dict[str, Any]:
    return entry(account, EntryKind.DEDUCTION, amount, ref, block, program)


def ref_(account: str, amount: int, ref: str, block: int, program: int = CAR) -> dict[str, Any]:
    return entry(account, EntryKind.REFUND, amount, ref, block, program)


def test_refunds_within_their_deductions_pass() -> None:
    logs = [
        ded(A, 50_000, D1, 1),
        ref_(A, 30_000, D1, 2),
        ded(B, 10_000, D2, 2),
        ref_(A, 20_000, D1, 3),  # exactly all of it
        ref_(B, 10_000, D2, 4),
        entry(A, EntryKind.GRANT, 5, "0x" + "00" * 32, 4),  # other kinds: ignored
        {"topics": [CONSENT_TOPIC, A], "data": "0x" + "00" * 31 + "01", "blockNumber": "0x5"},
    ]
    assert check_refunds(logs) == []


def test_a_forged_refund_without_deduction_is_caught() -> None:
    bad = check_refunds([ref_(A, 1_000, D1, 7)])
    assert [(m.account, m.field, m.actual) for m in bad] == [(A, "refund", "none")]
    assert "block 7: REFUND of 1000 references no deduction" in str(bad[0])


def test_a_refund_credited_to_another_account_or_program_is_caught() -> None:
    logs = [ded(A, 50_000, D1, 1), ref_(B, 1_000, D1, 2), ref_(A, 1_000, D1, 3, program=SEOUL)]
    bad = check_refunds(logs)
    assert [(m.account, m.expected.split(" ")[3]) for m in bad] == [(B, "CAR"), (A, "SEOUL")]


def test_a_refund_before_its_deduction_is_caught() -> None:
    assert len(check_refunds([ref_(A, 1, D1, 1), ded(A, 5, D1, 2)])) == 1


def test_refunds_above_the_deduction_are_caught_in_one_go_and_in_parts() -> None:
    once = check_refunds([ded(A, 10_000, D1, 1), ref_(A, 10_001, D1, 2)])
    assert [(m.expected, m.actual) for m in once] == [(f"refunds of {D1} at most 10000", "10001")]
    parts = check_refunds(
        [ded(A, 10_000, D1, 1), ref_(A, 6_000, D1, 2), ref_(A, 4_000, D1, 3), ref_(A, 1, D1, 4)]
    )
    assert [m.actual for m in parts] == ["10001"] and "block 4" in parts[0].detail


def test_a_partial_read_does_not_report_unseen_deductions() -> None:
    checker = RefundChecker(complete=False)
    for log in [ref_(A, 1_000, D1, 7), ded(B, 5, D2, 8), ref_(B, 6, D2, 9)]:
        checker.feed(log)
    assert [m.account for m in checker.finish()] == [B]  # the total of a seen one still holds
