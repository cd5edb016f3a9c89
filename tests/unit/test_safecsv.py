"""The one CSV writer: text a spreadsheet would execute is prefixed with `'`, numbers stay."""

import csv
import io

import pytest

from ledger.feeds import safecsv


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("-500", "-500"),
        ("+3", "+3"),
        ("-1.5", "-1.5"),
        (-500, -500),
        ("B-1", "B-1"),
        ("", ""),
        (None, None),
    ],
)
def test_cells(cell: object, written: object) -> None:
    assert safecsv.safe_cell(cell) == written


def test_written_file_reads_back() -> None:
    out = io.StringIO()
    safecsv.writer(out).writerow(["=1+1", -5, "-5", "a,b", None])
    assert next(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        "'=1+1",
        "-5",
        "-5",
        "a,b",
        "",
    ]


def test_writerows() -> None:
    out = io.StringIO()
    safecsv.writer(out, lineterminator="\n").writerows([["=a"], ["b"]])
    assert out.getvalue() == "'=a\nb\n"
