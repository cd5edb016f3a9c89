"""Typed vocabulary of the domain: ids, amounts and calendar months."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NewType

from ledger.domain.errors import InvalidPeriod

AwardId = NewType("AwardId", bytes)
"""Keyed (HMAC-SHA256) award id, 32 bytes (docs/DESIGN.md, "Award ids and numbers")."""

AccountId = NewType("AccountId", bytes)
"""HMAC-SHA256 pseudonymous account id, 32 bytes (docs/DESIGN.md, "Accounts")."""

_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True, order=True)
class YearMonth:
    """A calendar month, ordered chronologically; text form `YYYY-MM`."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise InvalidPeriod("month", f"month {self.month} is not between 1 and 12")
        if not 1 <= self.year <= 9999:
            raise InvalidPeriod("year", f"year {self.year} is not between 1 and 9999")

    @classmethod
    def parse(cls, text: str, field: str = "month") -> YearMonth:
        """Parse `YYYY-MM`; raise `InvalidPeriod` naming `field` otherwise."""
        match = _YEAR_MONTH.fullmatch(text)
        if match is None:
            raise InvalidPeriod(field, f"{text!r} is not a month in the form YYYY-MM")
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise InvalidPeriod(field, f"{text!r} has month {month}; use 01 to 12")
        return cls(int(match.group(1)), month)

    def plus(self, months: int) -> YearMonth:
        """The month `months` later (or earlier when negative)."""
        index = self.year * 12 + (self.month - 1) + months
        return YearMonth(index // 12, index % 12 + 1)

    def months_until(self, other: YearMonth) -> int:
        """How many months `other` lies after this month (negative if before)."""
        return (other.year - self.year) * 12 + (other.month - self.month)

    def days(self) -> int:
        """Number of days in the month (Gregorian calendar)."""
        if self.month == 2:
            leap = self.year % 4 == 0 and (self.year % 100 != 0 or self.year % 400 == 0)
            return 29 if leap else 28
        return 30 if self.month in (4, 6, 9, 11) else 31

    def __str__(self) -> str:
        index = self.year * 12 + self.month
        text = _TEXTS.get(index)
        if text is None:
            text = f"{self.year:04d}-{self.month:02d}"
            if len(_TEXTS) < _TEXTS_MAX:
                _TEXTS[index] = text
        return text


_TEXTS: dict[int, str] = {}
"""The `YYYY-MM` texts already formatted (months are few; a payout formats each many times)."""
_TEXTS_MAX = 4096
