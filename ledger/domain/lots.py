"""Unspent lots and what of them lapses: the FIFO replay of an account's entries (pure, no I/O).

The one implementation of the lots: the wallet's balances and ``/expiring`` (api.services.lots,
api.services.wallet) and the expiry notices (ledger.service.notices) read them through
:mod:`ledger.service.lots`, which loads the entries.

Mileage is valid for the program's validity (5 years) from its grant date and is used
first-in-first-out (PROGRAM_RULES §3). Replaying the entries in sequence order keeps, per program,
the unspent *lots* (grant time, amount):

- GRANT, CONVERSION_IN and REFUND add a lot dated at the entry (converted or refunded mileage
  starts a new validity, as the contract credits it at that time);
- MERGE_IN adds the lots the source account held at its MERGE_OUT, keeping their grant dates
  (the contract moves checkpoints with their dates); ``source_lots`` supplies them;
- CORRECTION takes from the corrected award's lot (matched by the award id ``ref``) first;
- every other debit (conversion out, deduction, expiry, merge out) takes the oldest lots first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from ledger.domain.checkpoints import EntryLike
from ledger.domain.codes import DATED_CREDIT_KINDS, EntryKind

#: 5 years = 1,826 days (PROGRAM_RULES §3), the plan's validity when the contract is unreachable.
DEFAULT_VALIDITY = 1826 * 86400


@dataclass(frozen=True)
class Lot:
    """Unspent mileage of one credit: ``amount`` of ``program`` granted at ``granted_at`` (unix
    seconds); ``ref`` is the award id of a GRANT (a CORRECTION takes from it first)."""

    program: int
    granted_at: int
    amount: int
    ref: str | None = None


SourceLots = Callable[[str, int], list[Lot] | None]
"""(source account, program) → the lots it held at its MERGE_OUT of that program, or None."""


def _take_fifo(lots: list[Lot], amount: int) -> tuple[list[Lot], list[Lot]]:
    """Remove ``amount`` oldest-first; return (remaining lots, taken lots)."""
    remaining: list[Lot] = []
    taken: list[Lot] = []
    for lot in lots:
        if amount <= 0:
            remaining.append(lot)
            continue
        use = min(lot.amount, amount)
        amount -= use
        taken.append(replace(lot, amount=use))
        if lot.amount > use:
            remaining.append(replace(lot, amount=lot.amount - use))
    return remaining, taken


def replay_lots(
    entries: Iterable[EntryLike],
    source_lots: SourceLots | None = None,
    *,
    stop_at_merge_out: int | None = None,
) -> dict[int, list[Lot]]:
    """Unspent lots per program after ``entries`` (in seq order).

    With ``stop_at_merge_out=p`` the replay stops *before* the MERGE_OUT of program ``p`` and
    returns the lots it moves."""
    lots: dict[int, list[Lot]] = {}
    for e in entries:
        kind = EntryKind(e.kind)
        cur = lots.setdefault(e.program, [])
        if kind in DATED_CREDIT_KINDS:
            cur.append(Lot(e.program, e.timestamp, e.amount, e.ref))
        elif kind is EntryKind.MERGE_IN:
            moved = source_lots(e.ref, e.program) if source_lots is not None else None
            if moved is None or sum(m.amount for m in moved) != e.amount:
                moved = [Lot(e.program, e.timestamp, e.amount)]
            cur.extend(replace(m, program=e.program) for m in moved)
        elif kind is EntryKind.MERGE_OUT and stop_at_merge_out == e.program:
            return lots
        elif kind is EntryKind.CORRECTION:
            amount = e.amount
            for i, lot in enumerate(cur):
                if lot.ref == e.ref and amount > 0:
                    use = min(lot.amount, amount)
                    amount -= use
                    cur[i] = replace(lot, amount=lot.amount - use)
            cur = [lot for lot in cur if lot.amount > 0]
            cur, _ = _take_fifo(cur, amount)
        else:
            cur, _ = _take_fifo(cur, e.amount)
        cur.sort(key=lambda lot: lot.granted_at)
        lots[e.program] = cur
    return lots


def expiring(
    lots: dict[int, list[Lot]], validity: Callable[[int], int], until: int
) -> list[tuple[Lot, int]]:
    """Lots that will have lapsed by ``until`` (unix seconds), with their expiry times."""
    out: list[tuple[Lot, int]] = []
    for program, program_lots in sorted(lots.items()):
        v = validity(program)
        for lot in program_lots:
            expires = lot.granted_at + v
            if lot.amount > 0 and expires <= until:
                out.append((lot, expires))
    return out
