"""Threshold tables: the highest row whose inclusive lower bound is met wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class Tier:
    """One table row: values `>= at_least` earn `amount`, named `code`."""

    at_least: Fraction
    amount: int
    code: str


def pick(table: Sequence[Tier], value: Fraction, below: str) -> tuple[int, str]:
    """(amount, code) of the highest row of `table` that `value` reaches, else (0, `below`).

    `table` must be sorted by `at_least`, ascending.
    """
    chosen: tuple[int, str] = (0, below)
    for tier in table:
        if value >= tier.at_least:
            chosen = (tier.amount, tier.code)
        else:
            break
    return chosen
