"""Values shared by the award rules: the rule result and exact rate helpers.

Rates are `fractions.Fraction`, built from integers and `Decimal`s without rounding, so a
reduction of exactly 10 % compares equal to 10 % (never floats: PROGRAM_RULES, unit note).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from ledger.domain.codes import Flag
from ledger.domain.errors import InvalidValue


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What a rule awards for one input.

    `amount` is whole mileage (0 when nothing is earned); `tier` is a short code naming the
    table row or the reason for 0; `flags` asks for follow-up actions (see `Flag`).
    """

    amount: int
    tier: str
    flags: frozenset[Flag] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise InvalidValue("amount", f"an award cannot be negative ({self.amount})")


def pct(value: int | str) -> Fraction:
    """`value` percent as an exact fraction: `pct(10) == Fraction(1, 10)`."""
    return Fraction(Decimal(value)) / 100


def exact(value: Decimal | int) -> Fraction:
    """An exact rational copy of a finite `Decimal` or `int`."""
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidValue("value", f"{value} is not a finite number")
    return Fraction(value)


def require_non_negative(name: str, value: Decimal | int) -> None:
    """Raise `InvalidValue` naming `name` if `value` is negative or not finite."""
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidValue(name, f"{value} is not a finite number")
    if value < 0:
        raise InvalidValue(name, f"must not be negative (got {value})")
