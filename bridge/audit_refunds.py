"""Audit of refunds against their deductions, from chain data alone.

A REFUND entry gives back (part of) a deduction: its ``ref`` is the deduction's ref, and the
contract credits it to the account and program the deduction debited, never more in total than
the deduction took. This check replays the ``EntryRecorded`` logs in block/log order and keeps,
per (account, program, ref), what DEDUCTION entries took and what REFUND entries gave back. A
REFUND is a :class:`~bridge.verify.Mismatch` when

- no DEDUCTION of the same account and program with its ref came before it (an unknown
  deduction, or a refund credited to another account or program), or
- it brings the refunds of its deduction above what the deduction took.

Fed by the verifier's one pass over the logs (:class:`bridge.verify.replay.TrailChecker`,
alongside the trail replay, the award rules and the expiry-consent check). A read that
does not start at the contract's deployment cannot know earlier deductions: then refunds of an
unseen deduction are not reported (the running total is still checked for the ones seen).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ledger.domain.codes import EntryKind, Program
from ledger.domain.errors import InvalidValue
from ledger.domain.hashchain import unpack_entry

if TYPE_CHECKING:
    from bridge.verify.replay import Mismatch

_DEDUCTION, _REFUND = int(EntryKind.DEDUCTION), int(EntryKind.REFUND)


def _program(code: int) -> str:
    return Program(code).name if code in set(Program) else str(code)


class RefundChecker:
    """Feed ``EntryRecorded`` entries in chain order (:meth:`deduction` and :meth:`refund` from
    the verifier's replay, or raw logs with :meth:`feed`; other logs are ignored); :meth:`finish`
    gives the refunds that do not match a deduction. ``complete``: the logs start at the
    deployment (every deduction is seen before its refunds)."""

    def __init__(self, *, complete: bool = True) -> None:
        self.complete = complete
        # (account, program, ref) -> [deducted, refunded]
        self._records: dict[tuple[bytes, int, bytes], list[int]] = {}
        self._bad: list[Mismatch] = []

    def deduction(self, account: bytes, program: int, ref: bytes, amount: int) -> None:
        """A DEDUCTION entry of ``amount`` with ``ref``."""
        key = (account, program, ref)
        record = self._records.get(key)
        if record is None:
            self._records[key] = [amount, 0]
        else:
            record[0] += amount

    def refund(self, account: bytes, program: int, ref: bytes, amount: int, block: int) -> None:
        """A REFUND entry of ``amount`` with ``ref`` (its deduction's) in ``block``."""
        from bridge.verify.replay import Mismatch

        record = self._records.get((account, program, ref))
        who, ref_hex, name = "0x" + account.hex(), "0x" + ref.hex(), _program(program)
        if record is None:
            if self.complete:
                self._bad.append(
                    Mismatch(
                        who,
                        "refund",
                        f"a DEDUCTION of {name} with ref {ref_hex} before it",
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
                    who,
                    "refund",
                    f"refunds of {ref_hex} at most {record[0]}",
                    str(record[1]),
                    f"block {block}: REFUND of {amount} in {name} brings the refunds above "
                    "what the deduction took",
                )
            )

    def feed(self, log: Mapping[str, Any]) -> None:
        """One raw JSON-RPC log (only ``EntryRecorded`` DEDUCTION and REFUND entries count)."""
        from bridge.raw_reader import ENTRY_TOPIC

        topics = log["topics"]
        if str(topics[0]).lower() != ENTRY_TOPIC:
            return
        data = str(log["data"])
        try:
            entry = unpack_entry(int(data[2:66], 16))
            ref = bytes.fromhex(data[66:130])
        except (InvalidValue, ValueError):
            return  # a malformed entry word: the trail check reports the entry itself
        kind = entry["kind"]
        if kind not in (_DEDUCTION, _REFUND):
            return
        account = bytes.fromhex(str(topics[1])[2:])
        program, amount = int(entry["program"]), int(entry["amount"])
        if kind == _DEDUCTION:
            self.deduction(account, program, ref, amount)
        else:
            self.refund(account, program, ref, amount, int(str(log["blockNumber"]), 16))

    def finish(self) -> list[Mismatch]:
        return list(self._bad)


def check_refunds(logs: Iterable[Mapping[str, Any]], *, complete: bool = True) -> list[Mismatch]:
    """:class:`RefundChecker` over ``logs`` (block/log order)."""
    checker = RefundChecker(complete=complete)
    for log in logs:
        checker.feed(log)
    return checker.finish()
