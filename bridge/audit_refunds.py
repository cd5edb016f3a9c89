"""Audit of refunds against their deductions, from chain data alone.

A REFUND entry gives back (part of) a deduction: its ``ref`` is the deduction's ref, and the
contract credits it to the account and program the deduction debited, never more in total than
the deduction took. This check replays the ``EntryRecorded`` logs in block/log order and keeps,
per (account, program, ref), what DEDUCTION entries took and what REFUND entries gave back. A
REFUND is a :class:`~bridge.verify.Mismatch` when

- no DEDUCTION of the same account and program with its ref came before it (an unknown
  deduction, or a refund credited to another account or program), or
- it brings the refunds of its deduction above what the deduction took.

Called by :func:`bridge.verify.verify_ledger` through :func:`log_mismatches`, which runs it and
the expiry-consent check (:mod:`bridge.audit_consent`) over one read of the logs. A read that
does not start at the contract's deployment cannot know earlier deductions: then refunds of an
unseen deduction are not reported (the running total is still checked for the ones seen).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ledger.domain.codes import EntryKind, Program
from ledger.domain.errors import InvalidValue
from ledger.domain.hashchain import unpack_entry

if TYPE_CHECKING:
    from bridge.raw_reader import RawLedgerReader
    from bridge.verify.replay import Mismatch

_DEDUCTION, _REFUND = int(EntryKind.DEDUCTION), int(EntryKind.REFUND)


def _program(code: int) -> str:
    return Program(code).name if code in set(Program) else str(code)


class RefundChecker:
    """Feed ``EntryRecorded`` logs in chain order (other logs are ignored); :meth:`finish` gives
    the refunds that do not match a deduction. ``complete``: the logs start at the deployment
    (every deduction is seen before its refunds)."""

    def __init__(self, *, complete: bool = True) -> None:
        self.complete = complete
        # (account, program, ref) -> [deducted, refunded]
        self._records: dict[tuple[str, int, str], list[int]] = {}
        self._bad: list[Mismatch] = []

    def feed(self, log: Mapping[str, Any]) -> None:
        from bridge.raw_reader import ENTRY_TOPIC
        from bridge.verify.replay import Mismatch

        topics = log["topics"]
        if str(topics[0]).lower() != ENTRY_TOPIC:
            return
        data = str(log["data"])
        try:
            entry = unpack_entry(int(data[2:66], 16))
        except (InvalidValue, ValueError):
            return  # a malformed entry word: the trail check reports the entry itself
        kind = entry["kind"]
        if kind not in (_DEDUCTION, _REFUND):
            return
        account = str(topics[1]).lower()
        ref = "0x" + data[66:130].lower()
        key = (account, int(entry["program"]), ref)
        amount = int(entry["amount"])
        if kind == _DEDUCTION:
            self._records.setdefault(key, [0, 0])[0] += amount
            return
        block = int(str(log["blockNumber"]), 16)
        program = _program(key[1])
        record = self._records.get(key)
        if record is None:
            if self.complete:
                self._bad.append(
                    Mismatch(
                        account,
                        "refund",
                        f"a DEDUCTION of {program} with ref {ref} before it",
                        "none",
                        f"block {block}: REFUND of {amount} references no deduction of this "
                        "account and program",
                    )
                )
            return
        record[1] += amount
        if record[1] > record[0]:
            self._bad.append(
                Mismatch(
                    account,
                    "refund",
                    f"refunds of {ref} at most {record[0]}",
                    str(record[1]),
                    f"block {block}: REFUND of {amount} in {program} brings the refunds above "
                    "what the deduction took",
                )
            )

    def tap(self, logs: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """``logs`` passed through unchanged, each fed to this checker on the way."""
        for log in logs:
            self.feed(log)
            yield log

    def finish(self) -> list[Mismatch]:
        return list(self._bad)


def check_refunds(logs: Iterable[Mapping[str, Any]], *, complete: bool = True) -> list[Mismatch]:
    """:class:`RefundChecker` over ``logs`` (block/log order)."""
    checker = RefundChecker(complete=complete)
    for log in logs:
        checker.feed(log)
    return checker.finish()


def log_mismatches(
    rd: RawLedgerReader,
    from_block: int,
    to_block: int,
    accounts: Sequence[str] | None = None,
    chunk: int = 2_000,
    *,
    complete: bool = True,
) -> list[Mismatch]:
    """Expiry reasons against consent and refunds against deductions, over one read of the
    contract's logs in [from_block, to_block]."""
    from bridge.audit_consent import check_expiry_consent, consent_logs

    refunds = RefundChecker(complete=complete)
    logs = refunds.tap(consent_logs(rd, from_block, to_block, accounts, chunk))
    consent = check_expiry_consent(logs)
    return consent + refunds.finish()
