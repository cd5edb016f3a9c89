"""The verifier's one pass over the logs (bridge/verify/replay.py): ``EntryRecorded`` and
``DonationConsentSet`` logs in one answer, packed by the fast route exactly as by the reference
route, and the expiry-consent and refund checks fed by the trail replay reporting what the
checks over the raw logs report (bridge/audit_consent.py, bridge/audit_refunds.py)."""

from __future__ import annotations

import json
from typing import Any

from bridge.audit_consent import CONSENT_TOPIC, check_expiry_consent
from bridge.audit_refunds import check_refunds
from bridge.raw_reader import ENTRY_TOPIC
from bridge.verify import TrailChecker, records
from bridge.verify.records import pack_answer, pack_records
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.hashchain import pack_entry

A = "0x" + "aa" * 32
B = "0x" + "bb" * 32
D1 = "0x" + "d1" * 32
ZERO = "0x" + "00" * 32
CAR = int(Program.CAR)


class Chain:
    """Hand-built logs in chain order: one log index per log, seq per account."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []
        self.seq: dict[str, int] = {}

    def _log(self, topics: list[str], data: str, block: int) -> None:
        index = sum(1 for lg in self.logs if int(lg["blockNumber"], 16) == block)
        self.logs.append(
            {"topics": topics, "data": data, "blockNumber": hex(block), "logIndex": hex(index)}
        )

    def entry(
        self, account: str, kind: EntryKind, amount: int, block: int, ref: str = ZERO, **kw: Any
    ) -> None:
        self.seq[account] = self.seq.get(account, 0) + 1
        reason = int(kw.get("reason", Reason.NONE))
        word = pack_entry(self.seq[account], int(kind), CAR, reason, 1_700_000_000, amount)
        self._log([ENTRY_TOPIC, account], "0x" + f"{word:064x}" + ref[2:], block)

    def consent(self, account: str, value: bool, block: int) -> None:
        self._log([CONSENT_TOPIC, account], "0x" + f"{int(value):064x}", block)


def hostile_chain() -> Chain:
    c = Chain()
    c.entry(A, EntryKind.GRANT, 90_000, 1)
    c.entry(B, EntryKind.GRANT, 90_000, 1)
    c.consent(A, True, 2)
    c.entry(A, EntryKind.EXPIRY, 10, 2, reason=Reason.EXPIRY)  # consent was true: flagged
    c.entry(B, EntryKind.EXPIRY, 10, 3, reason=Reason.EXPIRY_DONATION)  # no consent: flagged
    c.entry(A, EntryKind.DEDUCTION, 5_000, 3, D1, reason=Reason.GIFT_CERTIFICATE)
    c.entry(A, EntryKind.REFUND, 3_000, 4, D1)
    c.consent(A, False, 4)
    c.entry(A, EntryKind.REFUND, 2_001, 5, D1)  # above what the deduction took: flagged
    c.entry(B, EntryKind.REFUND, 1, 5, D1)  # another account's deduction: flagged
    c.entry(A, EntryKind.EXPIRY, 10, 6, reason=Reason.EXPIRY)  # consent withdrawn: fine
    c.consent(B, True, 6)
    c.entry(B, EntryKind.EXPIRY, 10, 6, reason=Reason.EXPIRY_DONATION)  # after it: fine
    return c


def answer(logs: list[dict[str, Any]], **dump: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}, **dump).encode()


def test_a_mixed_answer_packs_as_the_reference_route_does(monkeypatch: Any) -> None:
    logs = hostile_chain().logs
    reference = pack_records(logs)
    assert reference[1] == 10 and len(reference[2]) == 3
    with monkeypatch.context() as m:  # the fast route: the JSON is never decoded

        def no_json(text: bytes) -> Any:
            raise AssertionError("took the reference route")

        m.setattr(records, "decode_logs_text", no_json)
        for dump in ({}, {"separators": (",", ":")}, {"indent": 2}):
            assert pack_answer(answer(logs, **dump)) == reference
    # a consent log without its account topic is no consent log: the reference route reports it
    broken = [*logs[:2], {**logs[2], "topics": [CONSENT_TOPIC]}, *logs[3:]]
    rec, n, odd = pack_answer(answer(broken))
    assert (rec, n) == reference[:2] and odd[0] == broken[2]


def test_the_replay_reports_what_the_checks_over_raw_logs_report() -> None:
    logs = hostile_chain().logs
    expected = check_expiry_consent(logs) + check_refunds(logs)
    assert [(m.account, m.field) for m in expected] == [
        (A, "expiry reason"),
        (B, "expiry reason"),
        (A, "refund"),
        (B, "refund"),
    ]
    one = TrailChecker()
    one.feed_records(pack_answer(answer(logs)))
    assert one.rule_mismatches() == expected
    assert one.mismatches == []  # consent logs are not odd logs of the trail
    # split into ranges anywhere: the consent at each expiry is still the one before it
    for cut in range(1, len(logs)):
        two = TrailChecker()
        two.feed_records(pack_answer(answer(logs[:cut])))
        two.feed_records(pack_answer(answer(logs[cut:])))
        assert two.rule_mismatches() == expected, cut


def test_a_partial_read_leaves_unseen_deductions_alone_in_the_replay_too() -> None:
    c = Chain()
    c.entry(A, EntryKind.GRANT, 9_000, 1)
    c.entry(A, EntryKind.REFUND, 1_000, 2, D1)
    full, partial = TrailChecker(), TrailChecker(from_deployment=False)
    for checker in (full, partial):
        checker.feed_records(pack_answer(answer(c.logs)))
    assert [m.actual for m in full.rule_mismatches()] == ["none"]
    assert partial.rule_mismatches() == []
