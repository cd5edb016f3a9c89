"""The expiry-reason audit (bridge.audit_consent) over hand-built logs: consent events and EXPIRY
entries replayed in the order given (block/log order)."""

from __future__ import annotations

from typing import Any

from bridge.audit_consent import CONSENT_TOPIC, check_expiry_consent
from bridge.raw_reader import ENTRY_TOPIC
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.hashchain import pack_entry

A = "0x" + "aa" * 32
B = "0x" + "bb" * 32


def consent(account: str, value: bool, block: int) -> dict[str, Any]:
    return {
        "topics": [CONSENT_TOPIC, account],
        "data": "0x" + f"{int(value):064x}",
        "blockNumber": hex(block),
    }


def entry(account: str, kind: int, reason: int, block: int, amount: int = 700) -> dict[str, Any]:
    word = pack_entry(1, kind, int(Program.BIKE), reason, 1_700_000_000, amount)
    return {
        "topics": [ENTRY_TOPIC, account],
        "data": "0x" + f"{word:064x}" + "00" * 32,
        "blockNumber": hex(block),
    }


def test_reasons_matching_the_consent_at_that_moment_pass() -> None:
    logs = [
        entry(A, EntryKind.EXPIRY, Reason.EXPIRY, 5),  # no consent event yet: false
        consent(A, True, 6),
        entry(A, EntryKind.EXPIRY, Reason.EXPIRY_DONATION, 7),
        consent(A, False, 8),
        entry(A, EntryKind.EXPIRY, Reason.EXPIRY, 9),
        entry(B, EntryKind.GRANT, 0, 9),  # not an expiry: ignored
    ]
    assert check_expiry_consent(logs) == []


def test_an_expiry_contradicting_the_consent_is_flagged_with_account_block_reason() -> None:
    logs = [
        consent(A, True, 3),
        entry(A, EntryKind.EXPIRY, Reason.EXPIRY, 4, amount=11_000),
        entry(B, EntryKind.EXPIRY, Reason.EXPIRY_DONATION, 4),
    ]
    bad = check_expiry_consent(logs)
    assert [(m.account, m.expected, m.actual) for m in bad] == [
        (A, "EXPIRY_DONATION", "EXPIRY"),
        (B, "EXPIRY", "EXPIRY_DONATION"),
    ]
    assert "block 4: EXPIRY of 11000 while the donation consent on chain was true" in str(bad[0])


def test_order_decides_a_withdrawal_after_the_expiry_does_not_excuse_it() -> None:
    logs = [
        consent(A, True, 3),
        entry(A, EntryKind.EXPIRY, Reason.EXPIRY, 4),
        consent(A, False, 4),
    ]
    assert len(check_expiry_consent(logs)) == 1
