"""Streaming CSV reading with header checks and physical line numbers.

Files are UTF-8 (a byte-order mark is tolerated) with a header row. Rows are read one at a
time, so memory stays flat whatever the file size. Blank lines are skipped. Lines are
decoded one by one, so a decoding error is reported on its own line. Feeds and members
files share this reader.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from ledger.domain.errors import FeedError

# Feeds are machine-written; a cell larger than this is a broken file, not data.
csv.field_size_limit(1 << 20)


def check_header(
    file: str, header: Sequence[str], columns: Sequence[str], optional: Sequence[str] = ()
) -> list[str]:
    """The header's names stripped; raises `FeedError` on missing, extra or repeated names
    (`optional` columns may be present or not)."""
    names = [name.strip() for name in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    missing = [c for c in columns if c not in names]
    extra = [n for n in names if n not in columns and n not in optional]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(repr(n) for n in extra)}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        raise FeedError(
            file,
            1,
            f"header: {'; '.join(problems)}; the header must be exactly: {','.join(columns)}"
            + (f" (optional: {','.join(optional)})" if optional else ""),
        )
    return names


class RowProblem(Exception):
    """Internal: a row that cannot be split into the header's columns."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


RowItem = tuple[int, dict[str, str]] | RowProblem
"""One data row: (line or row number, {column: cell}), or a `RowProblem`."""
Rows = Callable[[], Iterator[RowItem]]
"""Starts one pass over the rows of a feed."""

MAX_LINE_BYTES = 4 << 20
"""A physical line longer than this is a broken file, not data (keeps memory bounded)."""


def _lines(handle: BinaryIO, file: str) -> Iterator[str]:
    """The file's physical lines, decoded one at a time, so a decoding error names its line.

    Lines end at LF, CRLF or a lone CR (kept, as csv expects with newline=''); a leading
    byte-order mark is dropped.
    """
    number = 0
    while raw := handle.readline(MAX_LINE_BYTES):
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise FeedError(
                file,
                number + 1,
                f"line longer than {MAX_LINE_BYTES:,} bytes; this is not a feed row, "
                "check the file",
            )
        if number == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        # readline stops after LF: a CR other than the one of a final CRLF ends a line too
        cr = raw.find(b"\r")
        one = cr < 0 or (cr == len(raw) - 2 and raw.endswith(b"\n"))
        for piece in (raw,) if one else raw.splitlines(keepends=True):
            number += 1
            try:
                yield piece.decode("utf-8")
            except UnicodeDecodeError as error:
                raise FeedError(
                    file,
                    number,
                    f"not valid UTF-8 at byte {error.start + 1} of this line "
                    f"({error.reason}); save the file as UTF-8, nothing was recorded",
                ) from error


def read_rows(
    path: Path, columns: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[RowItem]:
    """Yield (line number, {column: cell}) per data row, or a `RowProblem`; an `optional`
    column absent from the header is absent from the rows.

    The line number is the physical line where the record starts (a quoted cell may span
    lines). Raises `FeedError` when the file is missing, unreadable, not UTF-8 (naming the
    line) or has a bad header.
    """
    file = str(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise FeedError(file, 0, f"cannot open the file: {error.strerror or error}") from error
    with handle:
        reader = csv.reader(_lines(handle, file), strict=True)
        header = next(reader, None)
        if header is None:
            raise FeedError(file, 1, f"the file is empty; expected the header {','.join(columns)}")
        names = check_header(file, header, columns, optional)
        line = reader.line_num + 1
        while True:
            start = line
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                line = reader.line_num + 1
                yield RowProblem(start, f"malformed CSV ({error}); check the quoting")
                continue
            line = reader.line_num + 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != len(names):
                more = "extra cells" if len(cells) > len(names) else "missing cells"
                yield RowProblem(
                    start,
                    f"row has {len(cells)} cells but the header has {len(names)} columns ({more})",
                )
                continue
            yield start, dict(zip(names, cells, strict=True))
