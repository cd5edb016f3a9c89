"""What reading a feed yields: a computed award per good row, a reject per bad row."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.domain.awards import award_id
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


class ComputedAward:
    """The award computed for one good feed row (amount 0 when nothing is earned).

    The award id is given, or computed on first use from the award key (``award_key``): BIKE
    imports record accruals, which never use it (the payout keys its own ids).
    """

    __slots__ = (
        "_award_id",
        "_award_key",
        "amount",
        "flags",
        "line",
        "member_id",
        "period",
        "program",
        "savings",
        "tier",
        "vehicle_id",
    )
    line: int
    member_id: str
    program: Program
    period: str
    amount: int
    tier: str
    flags: frozenset[Flag]
    savings: tuple[tuple[str, str], ...]
    """What the member saved (e.g. ("electricity_kwh", "120.5"), ("km", "1500")), for reports."""
    vehicle_id: str | None
    """CAR, CAR_SEASON: the vehicle, which holds the award's window (ledger.domain.windows)."""
    _award_id: AwardId | None
    _award_key: bytes

    def __init__(
        self,
        line: int,
        member_id: str,
        program: Program,
        period: str,
        amount: int,
        tier: str,
        award_id: AwardId | None = None,
        flags: frozenset[Flag] = frozenset(),
        savings: tuple[tuple[str, str], ...] = (),
        vehicle_id: str | None = None,
        *,
        award_key: bytes = b"",
    ) -> None:
        if award_id is None and not award_key:
            raise TypeError("ComputedAward needs its award_id or the award_key")
        put = object.__setattr__
        put(self, "line", line)
        put(self, "member_id", member_id)
        put(self, "program", program)
        put(self, "period", period)
        put(self, "amount", amount)
        put(self, "tier", tier)
        put(self, "flags", flags)
        put(self, "savings", savings)
        put(self, "vehicle_id", vehicle_id)
        put(self, "_award_id", award_id)
        put(self, "_award_key", award_key)

    @property
    def award_id(self) -> AwardId:
        """The keyed award id of (program, member, period) (`ledger.domain.awards.award_id`)."""
        found: AwardId | None = self._award_id
        if found is None:
            found = award_id(self.program, self.member_id, self.period, self._award_key)
            object.__setattr__(self, "_award_id", found)
        return found

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ComputedAward is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ComputedAward is immutable (cannot delete {name!r})")

    def _fields(self) -> tuple[object, ...]:
        return (
            self.line,
            self.member_id,
            self.program,
            self.period,
            self.amount,
            self.tier,
            self.award_id,
            self.flags,
            self.savings,
            self.vehicle_id,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not ComputedAward:
            return NotImplemented
        assert isinstance(other, ComputedAward)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[type[ComputedAward], tuple[object, ...]]:
        return ComputedAward, self._fields()

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(_REPR, self._fields(), strict=True))
        return f"ComputedAward({shown})"


_REPR = [
    "line",
    "member_id",
    "program",
    "period",
    "amount",
    "tier",
    "award_id",
    "flags",
    "savings",
    "vehicle_id",
]
