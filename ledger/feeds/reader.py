"""Streaming CSV reading with header checks and physical line numbers.

Files are UTF-8 (a byte-order mark is tolerated) with a header row. Rows are read one at a
time, so memory stays flat whatever the file size. Blank lines are skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from ledger.domain.errors import FeedError

# Feeds are machine-written; a cell larger than this is a broken file, not data.
csv.field_size_limit(1 << 20)


def check_header(file: str, header: Sequence[str], columns: Sequence[str]) -> list[str]:
    """The header's names stripped; raises `FeedError` on missing, extra or repeated names."""
    names = [name.strip() for name in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    missing = [c for c in columns if c not in names]
    extra = [n for n in names if n not in columns]
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
            f"header: {'; '.join(problems)}; the header must be exactly: {','.join(columns)}",
        )
    return names


class RowProblem(Exception):
    """Internal: a row that cannot be split into the header's columns."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


def read_rows(
    path: Path, columns: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]] | RowProblem]:
    """Yield (line number, {column: cell}) per data row, or a `RowProblem`.

    Raises `FeedError` when the file is missing, unreadable, not UTF-8 or has a bad header.
    """
    file = str(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise FeedError(file, 0, f"cannot open the feed: {error.strerror or error}") from error
    line = 1
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise FeedError(
                    file, 1, f"the file is empty; expected the header {','.join(columns)}"
                )
            names = check_header(file, header, columns)
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
                        f"row has {len(cells)} cells but the header has {len(names)} columns "
                        f"({more})",
                    )
                    continue
                yield start, dict(zip(names, cells, strict=True))
        except UnicodeDecodeError as error:
            raise FeedError(
                file,
                line,
                f"not valid UTF-8 near this line ({error.reason}); save the feed as UTF-8",
            ) from error
