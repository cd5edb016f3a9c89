"""The contract's positions replayed from an account's entries: the `live` lists (pure, no I/O).

A position (one account, one program) keeps its newest credit inline on chain as
``(last_time, granted)``. Older credits that may still be unspent are the *live checkpoints*
``(time, cumulative credits)``: the contract stores only their count and a 96-bit hash chain
over them, and `expire`, `correct`, `mergeAccounts` (and a spend once something may have
lapsed) take them as calldata, each packed as ``time | cumulative << 32``
(`contracts/libraries/Checkpoints.sol`).

Replaying the account's entries in sequence order rebuilds them exactly as the contract does:

- GRANT, CONVERSION_IN, REFUND: a credit at the entry's time. At the newest checkpoint's time
  it adds to it; to an empty or spent-out position (``debited >= granted``) it starts afresh
  (the amounts restart, no checkpoint is kept); otherwise the newest checkpoint becomes a live
  one.
- CONVERSION_OUT, DEDUCTION, EXPIRY: ``debited += amount``.
- CORRECTION: the corrected award's checkpoint (found by the award's grant time) and every later
  one lose ``amount``, and so does ``granted``.
- MERGE_OUT: the position is gone. MERGE_IN: the position is rebuilt from the time-ordered
  unspent segments of the source's position and its own.

The contract also drops consumed checkpoints (``cumulative <= debited``) whenever it reads the
list, silently; since those are always a prefix, the chain's list is the *last ``count``*
checkpoints of the replay, ``count`` being the position's on-chain count (`positionOf`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from eth_utils.crypto import keccak

from ledger.domain.codes import DATED_CREDIT_KINDS, EntryKind
from ledger.domain.errors import LedgerError

M40 = (1 << 40) - 1
M32 = (1 << 32) - 1


class CheckpointError(LedgerError):
    """An account's entries cannot be replayed into the contract's positions (an entry is
    missing or out of order, or a merge source or corrected award is unknown): re-index the
    account's entries from the chain and retry."""


class IndexBehind(CheckpointError):
    """The indexed entries of an account do not give the chain's live checkpoints (the indexer
    has not caught up with the chain yet): let the bridge index (`mileage bridge run`) and retry."""


class EntryLike(Protocol):
    """The fields of an entry the replays read (`replay_positions`, `ledger.domain.lots`).

    Why a protocol: the replays take the database's rows as they come (ORM
    `ledger.adapters.orm.Entry`, no copy) as well as `EntryView` records; they need only these
    six fields, ``ref`` as 0x-hex."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> int: ...
    @property
    def program(self) -> int: ...
    @property
    def amount(self) -> int: ...
    @property
    def ref(self) -> str: ...
    @property
    def timestamp(self) -> int: ...


@dataclass(frozen=True)
class PositionState:
    """A position word's fields (``positionOf`` returns them in this order): ``live`` is the
    length of the live list, ``root`` its hash chain."""

    balance: int
    granted: int
    debited: int
    last_time: int
    oldest: int
    live: int
    root: int


def decode_position(word: int) -> PositionState:
    """The fields of a position word, low bits first: granted [0,40), debited [40,80), lastTime
    [80,112), oldest [112,144), live count [144,160), root [160,256)."""
    granted, debited = word & M40, (word >> 40) & M40
    return PositionState(
        balance=granted - debited,
        granted=granted,
        debited=debited,
        last_time=(word >> 80) & M32,
        oldest=(word >> 112) & M32,
        live=(word >> 144) & 0xFFFF,
        root=word >> 160,
    )


@dataclass(frozen=True)
class EntryView:
    """An entry's fields the replays read, as a plain record; ``ref`` is 0x-hex.

    Why this shape: an `EntryLike` for when there is no ORM row, i.e. entries selected column by
    column (`ledger.service.lots`, cheaper than loading ORM objects on the wallet's read path) or
    decoded from events (the contract tests' replays)."""

    seq: int
    kind: int
    program: int
    amount: int
    ref: str
    timestamp: int


Segment = tuple[int, int]
"""(time, unspent amount) of one credit date, oldest first."""


@dataclass
class PositionModel:
    """One position as the contract holds it, with every checkpoint since it last restarted."""

    granted: int = 0
    debited: int = 0
    last_time: int = 0
    checkpoints: list[tuple[int, int]] = field(default_factory=list)

    @property
    def balance(self) -> int:
        return self.granted - self.debited

    def credit(self, amount: int, time: int) -> None:
        if self.granted != 0 and self.last_time == time:
            self.granted += amount
            return
        if self.debited >= self.granted:
            self.granted, self.debited, self.checkpoints = amount, 0, []
        else:
            self.checkpoints.append((self.last_time, self.granted))
            self.granted += amount
        self.last_time = time

    def debit(self, amount: int) -> None:
        if amount > self.balance:
            raise CheckpointError(f"a debit of {amount:,} exceeds the balance {self.balance:,}")
        self.debited += amount

    def correct(self, granted_at: int, amount: int) -> None:
        """Reverse ``amount`` of the credit made at ``granted_at`` (as `Checkpoints.reverse`)."""
        if self.granted != 0 and self.last_time == granted_at:
            index = len(self.checkpoints)
        else:
            times = [t for t, _ in self.checkpoints]
            if granted_at not in times:
                raise CheckpointError(f"no credit at {granted_at} to correct")
            index = times.index(granted_at)
        self.checkpoints[index:] = [(t, c - amount) for t, c in self.checkpoints[index:]]
        self.granted -= amount

    def segments(self) -> list[Segment]:
        """The unspent amount of every credit date, oldest first (as `Checkpoints.segments`)."""
        out: list[Segment] = []
        prev = 0
        for t, cum in self.checkpoints:
            floor = max(self.debited, prev)
            if cum > floor:
                out.append((t, cum - floor))
            prev = cum
        floor = max(self.debited, prev)
        if self.granted > floor:
            out.append((self.last_time, self.granted - floor))
        return out

    @classmethod
    def rebuild(cls, segments: list[Segment]) -> PositionModel:
        """A position built afresh from segments (as `Checkpoints.rebuild`)."""
        if not segments:
            return cls()
        cum = 0
        cps: list[tuple[int, int]] = []
        for t, a in segments[:-1]:
            cum += a
            cps.append((t, cum))
        return cls(cum + segments[-1][1], 0, segments[-1][0], cps)

    def live(self, count: int) -> list[int]:
        """The packed list the contract holds when its count is ``count``."""
        if count > len(self.checkpoints):
            raise CheckpointError(
                f"the chain holds {count} live checkpoints but the entries give "
                f"{len(self.checkpoints)}: entries are missing; re-index the account"
            )
        kept = self.checkpoints[len(self.checkpoints) - count :] if count else []
        return [pack(t, c) for t, c in kept]


def merge_segments(a: list[Segment], b: list[Segment]) -> list[Segment]:
    """Two time-ordered segment lists merged, amounts of equal times added (`mergeSorted`)."""
    totals: dict[int, int] = {}
    for t, amount in (*a, *b):
        totals[t] = totals.get(t, 0) + amount
    return sorted(totals.items())


def pack(time: int, cumulative: int) -> int:
    """One list element: ``time | cumulative << 32``."""
    if not 0 <= time <= M32 or not 0 <= cumulative <= M40:
        raise CheckpointError(f"checkpoint ({time}, {cumulative}) is out of range")
    return time | (cumulative << 32)


def link(account: bytes, program: int, root: int, checkpoint: int) -> int:
    """The next root (`PositionCodec.link`): the top 96 bits of
    keccak256(account . (checkpoint | program << 72 | root << 160))."""
    word = checkpoint | (program << 72) | (root << 160)
    return int.from_bytes(keccak(account + word.to_bytes(32, "big")), "big") >> 160


def chain_root(account: bytes, program: int, live: Iterable[int]) -> int:
    """The root the contract stores for ``live`` (0 for an empty list)."""
    root = 0
    for cp in live:
        root = link(account, program, root, cp)
    return root


SourcePositions = Callable[[str], Mapping[int, PositionModel]]
"""A merged-away account (0x-hex id) → its positions as they were when it was merged."""


def replay_positions(
    entries: Iterable[EntryLike],
    *,
    grant_times: Mapping[str, int] | None = None,
    source: SourcePositions | None = None,
) -> dict[int, PositionModel]:
    """Every program's position after ``entries`` (one account, in sequence order).

    ``grant_times`` maps award ids (GRANT refs, any account) to their grant times, for
    corrections; ``source`` gives a merge source's positions, for MERGE_IN. MERGE_OUT entries
    leave the position in place (a merged account's positions are what it moved), so the
    same call gives a source's positions."""
    positions: dict[int, PositionModel] = {}
    expected = 1
    for e in entries:
        if e.seq != expected:
            raise CheckpointError(f"entry {expected} is missing (found {e.seq})")
        expected += 1
        kind = EntryKind(e.kind)
        p = positions.setdefault(e.program, PositionModel())
        if kind in DATED_CREDIT_KINDS:
            p.credit(e.amount, e.timestamp)
        elif kind is EntryKind.CORRECTION:
            granted_at = (grant_times or {}).get(e.ref.lower())
            if granted_at is None:
                raise CheckpointError(f"the grant of corrected award {e.ref} is not known")
            p.correct(granted_at, e.amount)
        elif kind is EntryKind.MERGE_IN:
            if source is None:
                raise CheckpointError("a MERGE_IN needs its source account's entries")
            moved = source(e.ref.lower()).get(e.program, PositionModel())
            if moved.balance != e.amount:
                raise CheckpointError(
                    f"merge source {e.ref} held {moved.balance:,}, the entry moved {e.amount:,}"
                )
            positions[e.program] = PositionModel.rebuild(
                merge_segments(moved.segments(), p.segments())
            )
        elif kind is not EntryKind.MERGE_OUT:
            p.debit(e.amount)
    return positions
