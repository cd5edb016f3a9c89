"""Parsing the cells of one feed row, collecting every problem of the row at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from ledger.domain.errors import InvalidValue
from ledger.domain.types import YearMonth
from ledger.feeds.fields import member_id_problem, text_problem

_UNSIGNED = re.compile(r"\d+(\.\d+)?")
_SIGNED = re.compile(r"[+-]?\d+(\.\d+)?")
_INTEGER = re.compile(r"\d+")
_NEGATIVE = re.compile(r"-\d+(\.\d+)?")

MAX_NUMBER_CHARS = 30
"""Longer numbers are typos or garbage; the bound also keeps arithmetic exact and fast."""

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class RowInvalid(Exception):
    """Internal: the problems of one row, each as 'column: problem'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Cells:
    """One row's cells by column name; each getter records a problem instead of raising."""

    def __init__(self, row: Mapping[str, str]) -> None:
        self._row = row
        self.problems: list[str] = []

    def problem(self, column: str, text: str) -> None:
        """Record a problem of `column`."""
        self.problems.append(f"{column}: {text}")

    def raw(self, column: str) -> str:
        """The stripped text of `column` ('' when empty)."""
        return self._row[column].strip()

    def finish(self) -> None:
        """Raise `RowInvalid` if any problem was recorded."""
        if self.problems:
            raise RowInvalid(self.problems)

    def guard(self, action: Callable[[], T]) -> T | None:
        """Run `action`, recording an `InvalidValue` it raises as a problem."""
        try:
            return action()
        except InvalidValue as error:
            self.problem(error.field, error.problem)
            return None

    def required(self, column: str) -> str | None:
        """`column`'s text, or a problem if it is empty."""
        text = self.raw(column)
        if not text:
            self.problem(column, "is empty; a value is required")
            return None
        return text

    def member_id(self, column: str = "member_id") -> str | None:
        """The member id, checked by the one member-id rule (ledger.feeds.fields)."""
        text = self.raw(column)
        problem = member_id_problem(text)
        if problem is not None:
            self.problem(column, problem)
            return None
        return text

    def text(self, column: str, max_chars: int) -> str | None:
        """A required, printable text of at most `max_chars` characters."""
        text = self.required(column)
        if text is None:
            return None
        problem = text_problem(text, max_chars)
        if problem is not None:
            self.problem(column, problem)
            return None
        return text

    def decimal(self, column: str, signed: bool = False) -> Decimal | None:
        """A plain decimal number (`123` or `123.45`); negatives only when `signed`."""
        text = self.required(column)
        if text is None:
            return None
        if len(text) > MAX_NUMBER_CHARS:
            self.problem(
                column, f"has {len(text)} characters; numbers are at most {MAX_NUMBER_CHARS}"
            )
            return None
        if (_SIGNED if signed else _UNSIGNED).fullmatch(text):
            return Decimal(text)
        if not signed and _NEGATIVE.fullmatch(text):
            self.problem(column, f"{text!r} is negative; values must be 0 or more")
        else:
            self.problem(column, f"{text!r} is not a plain decimal number like 123 or 123.45")
        return None

    def integer(self, column: str) -> int | None:
        """A non-negative whole number."""
        text = self.required(column)
        if text is None:
            return None
        if len(text) > MAX_NUMBER_CHARS:
            self.problem(
                column, f"has {len(text)} characters; numbers are at most {MAX_NUMBER_CHARS}"
            )
            return None
        if _INTEGER.fullmatch(text):
            return int(text)
        if _NEGATIVE.fullmatch(text):
            self.problem(column, f"{text!r} is negative; values must be 0 or more")
        else:
            self.problem(column, f"{text!r} is not a whole number")
        return None

    def month(self, column: str) -> YearMonth | None:
        """A `YYYY-MM` month."""
        text = self.required(column)
        if text is None:
            return None
        return self.guard(lambda: YearMonth.parse(text, column))

    def choice(self, column: str, enum: type[E]) -> E | None:
        """One of the values of `enum` (case-insensitive)."""
        text = self.required(column)
        if text is None:
            return None
        try:
            return enum(text.lower())
        except ValueError:
            allowed = " | ".join(member.value for member in enum)
            self.problem(column, f"{text[:40]!r} is not one of {allowed}")
            return None

    def boolean(self, column: str) -> bool | None:
        """`true` or `false` (also yes/no, y/n, 1/0; case-insensitive)."""
        text = self.required(column)
        if text is None:
            return None
        value = BOOLEANS.get(text.lower())
        if value is None:
            self.problem(column, f"{text[:40]!r} is not true or false")
        return value

    def day(self, column: str) -> date | None:
        """A `YYYY-MM-DD` date."""
        text = self.required(column)
        if text is None:
            return None
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
        except ValueError:
            pass
        self.problem(column, f"{text[:40]!r} is not a date YYYY-MM-DD")
        return None


BOOLEANS = {"true": True, "yes": True, "y": True, "1": True}
BOOLEANS |= {"false": False, "no": False, "n": False, "0": False}
