"""What reading a feed yields: a computed award per good row, a reject per bad row."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.domain.codes import Flag, Program
from ledger.domain.types import AwardId


@dataclass(frozen=True, slots=True)
class Reject:
    """A feed row (or the whole file, at line 1) that was not accepted, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ComputedAward:
    """The award computed for one good feed row (amount 0 when nothing is earned)."""

    line: int
    member_id: str
    program: Program
    period: str
    amount: int
    tier: str
    award_id: AwardId
    flags: frozenset[Flag] = field(default_factory=frozenset)
    savings: tuple[tuple[str, str], ...] = ()
    """What the member saved (e.g. ("electricity_kwh", "120.5"), ("km", "1500")), for reports."""
    vehicle_id: str | None = None
    """CAR, CAR_SEASON: the vehicle, which holds the award's window (ledger.domain.windows)."""
