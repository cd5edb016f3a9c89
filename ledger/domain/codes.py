"""Numeric codes shared with the contract (`contracts/types/Codes.sol`).

These values are fixed by `docs/DESIGN.md`; change them only together with every consumer
(contract, Python mirror, indexer, verifier) in one commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum, StrEnum

from ledger.domain.errors import UnknownProgramName


class Program(IntEnum):
    """The mileage programs (`uint8` on chain; 0 is never a program)."""

    ECO_HOUSEHOLD = 1
    ECO_ORG = 2
    CAR = 3
    BIKE = 4
    ECO_SEASON = 5
    CAR_SEASON = 6
    SEOUL = 7

    @classmethod
    def parse(cls, text: str, among: Iterable[Program] | None = None) -> Program:
        """The program named ``text`` (any case, surrounding spaces ignored), one of ``among``
        (default: every program). Raises `UnknownProgramName` naming the allowed programs."""
        allowed = tuple(cls) if among is None else tuple(among)
        program = cls.__members__.get(text.strip().upper())
        if program is None or program not in allowed:
            names = tuple(p.name for p in allowed)
            raise UnknownProgramName(text, names, exists=program is not None)
        return program


class EntryKind(IntEnum):
    """Kinds of ledger entries (`uint8` on chain)."""

    GRANT = 1
    CONVERSION_OUT = 2
    CONVERSION_IN = 3
    DEDUCTION = 4
    EXPIRY = 5
    CORRECTION = 6
    MERGE_OUT = 7
    MERGE_IN = 8
    REFUND = 9
    """Gives back (part of) a deduction; its ref is the deduction's ref (docs/DESIGN.md)."""

    @property
    def is_credit(self) -> bool:
        """True when the entry adds to the balance (GRANT, CONVERSION_IN, MERGE_IN, REFUND)."""
        return self in _CREDIT_KINDS


_CREDIT_KINDS = frozenset(
    {EntryKind.GRANT, EntryKind.CONVERSION_IN, EntryKind.MERGE_IN, EntryKind.REFUND}
)
#: Kinds that credit at the entry's own time (a new lot that ages from then): MERGE_IN instead
#: carries the source's lots with their dates.
DATED_CREDIT_KINDS = frozenset({EntryKind.GRANT, EntryKind.CONVERSION_IN, EntryKind.REFUND})


class Reason(IntEnum):
    """Deduction reasons (PROGRAM_RULES §3; `uint8` on chain, NONE=0 for credits)."""

    NONE = 0
    CONVERSION = 1
    TAX_PAYMENT = 2
    CASH = 3
    GIFT_CERTIFICATE = 4
    APARTMENT_FEE = 5
    TRANSIT_CARD = 6
    ECO_PRODUCT = 7
    BIKE_PASS = 8
    DONATION = 9
    EXPIRY = 10
    EXPIRY_DONATION = 11
    CORRECTION = 12
    MERGE = 13
    CARD_POINTS = 14
    """Conversion into credit-card points (the 2018 plan): a spend like the others."""


class Flag(StrEnum):
    """Follow-up actions a rule asks for besides the award itself."""

    ENERGY_SAVING_NOTICE = "energy_saving_notice"
    """Usage rose by 10 % or more: send the member an energy-saving notice (PROGRAM_RULES §2.1)."""
    IN_KIND = "in_kind"
    """ECO_ORG unranked reward: given in kind (보상품), recorded at its value (rules.md §2.2)."""


#: Reasons a deduction (SPENDER key) may carry: TAX_PAYMENT..DONATION and CARD_POINTS.
SPEND_REASONS: tuple[Reason, ...] = (
    *(r for r in Reason if Reason.TAX_PAYMENT <= r <= Reason.DONATION),
    Reason.CARD_POINTS,
)

#: Programs that are awarded from feeds (SEOUL mileage only arrives by conversion).
#: Every program code in order (1..7): the contract's program indexes, e.g. the order in which
#: ``mergeAccounts`` takes its live lists (index program - 1).
PROGRAM_CODES: tuple[int, ...] = tuple(int(p) for p in Program)

AWARDED_PROGRAMS: tuple[Program, ...] = (
    Program.ECO_HOUSEHOLD,
    Program.ECO_ORG,
    Program.CAR,
    Program.BIKE,
    Program.ECO_SEASON,
    Program.CAR_SEASON,
)

#: The ``kind`` codes of credit entries (:attr:`EntryKind.is_credit`) as plain ints: what the
#: indexer's SQL and the verifier's replay compare a decoded entry word with.
CREDIT_CODES: frozenset[int] = frozenset(int(k) for k in EntryKind if k.is_credit)
