"""Writing CSV that a spreadsheet opens as data: the one writer for every CSV the project writes.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets ("CSV injection"): such text cells get a leading `'`, which the
spreadsheet shows as text. Numbers stay numbers: a cell that is a plain number (`-500`,
`+3`, `-1.5`) is written as it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    """`value`, with a text cell a spreadsheet would execute prefixed with `'`."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return value


class SafeWriter:
    """`csv.writer` whose rows go through `safe_cell`."""

    def __init__(self, fh: _Writable, **options: Any) -> None:
        self._writer = csv.writer(fh, **options)

    def writerow(self, row: Iterable[object]) -> Any:
        """Write one row, neutralising formula cells."""
        return self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write every row of `rows`."""
        for row in rows:
            self.writerow(row)


def writer(fh: _Writable, **options: Any) -> SafeWriter:
    """A CSV writer on `fh` (options as for `csv.writer`) that neutralises formula cells."""
    return SafeWriter(fh, **options)


def text(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV document (header first, ``\\r\\n`` line ends) written through `writer`."""
    import io

    out = io.StringIO()
    w = writer(out)
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()
