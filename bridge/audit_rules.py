"""Award rules the chain cannot enforce, checked from ``EntryRecorded`` events alone.

The contract stores no per-award data at grant time (it would break the gas goals), so
``correct()`` can only check that the award number is recorded in the program and that the
amount fits what is left of the checkpoint credited at ``grantedAt`` (contracts/README.md). What
it cannot check, :class:`AwardRules` does while the verifier (``bridge.verify.TrailChecker``)
replays the events in chain order:

- every CORRECTION names (as its ref) an award id GRANTed earlier in the same program, to the
  same account or to an account merged into it (MERGE_OUT entries name the successor);
- the corrections of one award never sum to more than its grant amount;
- an award id is GRANTed once (a second GRANT with the same ref is a double issuance).

A run over chosen accounts only (``complete=False``) sees no other account's events: a
correction on an account that took a merge, whose award was granted to the merged account, is
then left unjudged rather than flagged.

One pass, one dictionary entry per GRANT (award id → the record's account and entry word, 64
bytes: no object the garbage collector tracks, so a million grants cost no collection pauses);
:func:`bridge.award_audit.unmatched_in_grants` looks the database's awards up in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.domain.codes import Program

_MAX_MERGE_HOPS = 256


@dataclass(frozen=True)
class AwardFinding:
    """One award rule broken: the account of the entry, what, expected and actual, where."""

    account: str
    field: str
    expected: str
    actual: str
    detail: str = ""


@dataclass(frozen=True)
class Grant:
    """A GRANT entry: the award's account, program and amount."""

    account: bytes
    program: int
    amount: int


def where(pos: bytes, seq: int) -> str:
    """``block N log M seq S`` of a record position (block 8 bytes, log index 4)."""
    return f"block {int.from_bytes(pos[:8])} log {int.from_bytes(pos[8:])} seq {seq}"


def _name(program: int) -> str:
    try:
        return Program(program).name
    except ValueError:
        return str(program)


@dataclass
class AwardRules:
    """Collects GRANT, CORRECTION and MERGE_OUT entries (in chain order) and flags corrections
    that are not bound to their award. Feed with :meth:`grant`, :meth:`correction` and
    :meth:`merge`; read :meth:`take_findings` and :meth:`grant_of`."""

    complete: bool = True
    #: award id -> account (32 bytes) + entry word (32 bytes) of its GRANT; the verifier's hot
    #: loop fills it inline (``TrailChecker.feed_records``) and calls :meth:`grant` only for a
    #: second GRANT of one award id
    grants: dict[bytes, bytes] = field(default_factory=dict)
    corrected: dict[bytes, int] = field(default_factory=dict)
    successors: dict[bytes, bytes] = field(default_factory=dict)
    merged_into: set[bytes] = field(default_factory=set)
    findings: list[AwardFinding] = field(default_factory=list)

    def take_findings(self) -> list[AwardFinding]:
        """The findings so far (each returned once)."""
        out, self.findings = self.findings, []
        return out

    def grant_of(self, ref: bytes) -> Grant | None:
        """The GRANT of award id ``ref`` (the first one), if any."""
        raw = self.grants.get(ref)
        if raw is None:
            return None
        word = int.from_bytes(raw[32:])
        return Grant(raw[:32], word >> 56 & 0xFF, word >> 112)

    def grant(
        self, account: bytes, program: int, amount: int, ref: bytes, pos: bytes, seq: int
    ) -> None:
        """A GRANT entry of ``amount`` in ``program`` with award id ``ref`` (at ``pos``, ``seq``:
        see :func:`where`), given here by a caller that has not recorded it yet."""
        first = self.grant_of(ref)
        if first is not None:
            at = where(pos, seq)
            self.findings.append(
                AwardFinding(
                    "0x" + account.hex(),
                    "grant",
                    "one GRANT per award id",
                    f"award id 0x{ref.hex()} granted again ({amount:,} {_name(program)})",
                    f"{at}; first granted to 0x{first.account.hex()}: "
                    f"{first.amount:,} {_name(first.program)}",
                )
            )
            return
        word = program << 56 | amount << 112
        self.grants[ref] = account + word.to_bytes(32)

    def merge(self, account: bytes, other: bytes, out: bool) -> None:
        """A MERGE_OUT (``out``: ``account`` was merged into ``other``, its ref) or MERGE_IN
        (``other`` was merged into ``account``) entry."""
        if out:
            self.successors[account] = other
        else:
            self.merged_into.add(account)

    def _reaches(self, start: bytes, target: bytes) -> bool:
        account = start
        for _ in range(_MAX_MERGE_HOPS):
            if account == target:
                return True
            nxt = self.successors.get(account)
            if nxt is None:
                return False
            account = nxt
        return False

    def correction(
        self, account: bytes, program: int, amount: int, ref: bytes, pos: bytes, seq: int
    ) -> None:
        """A CORRECTION entry reversing ``amount`` in ``program`` of award id ``ref``."""
        at = where(pos, seq)
        who = "0x" + account.hex()
        award = f"award id 0x{ref.hex()}"
        g = self.grant_of(ref)
        if g is None:
            if not self.complete and account in self.merged_into:
                return  # granted, perhaps, to a merged account whose events were not read
            self._bad(
                who,
                "GRANT of the award before it",
                f"{award}: no GRANT (correction of {amount:,} {_name(program)})",
                f"{at}: the correction names an award never granted",
            )
            return
        if g.program != program or not self._reaches(g.account, account):
            self._bad(
                who,
                f"a GRANT to this account in {_name(program)}",
                f"{award} was granted to 0x{g.account.hex()} in {_name(g.program)}",
                f"{at}: correction of {amount:,} names another account's or program's award",
            )
            return
        total = self.corrected.get(ref, 0) + amount
        self.corrected[ref] = total
        if total > g.amount:
            self._bad(
                who,
                f"corrections of {award} <= its grant {g.amount:,}",
                f"{total:,} corrected",
                f"{at}: this correction of {amount:,} exceeds what is left of the award "
                f"({max(0, g.amount - (total - amount)):,})",
            )

    def _bad(self, account: str, expected: str, actual: str, detail: str) -> None:
        self.findings.append(AwardFinding(account, "correction", expected, actual, detail))
