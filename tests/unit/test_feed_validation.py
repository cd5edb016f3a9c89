"""Feed validation: each bad row or file is a precise Reject (headers, encoding, duplicates,
bounds, periods, ids, line numbers)."""

from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.domain.codes import Program
from ledger.domain.types import YearMonth
from ledger.feeds import FeedOptions, Reject
from tests.unit.feed_helpers import (
    CAR_HEADER,
    CAR_SEASON_HEADER,
    OK_2024,
    ORG_HEADER,
    USAGE_HEADER,
    awards_of,
    rejects,
    run,
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "member_id,month,ride_days\nB1,2024-01,1\n",
            "header: missing column(s) ride_minutes, pass_365; the header must be exactly: "
            "member_id,month,ride_days,ride_minutes,pass_365",
        ),
        (
            "member_id,month,ride_days,ride_minutes,pass_365,extra\n",
            "header: unexpected column(s) 'extra'; the header must be exactly: "
            "member_id,month,ride_days,ride_minutes,pass_365",
        ),
        (
            "",
            "the file is empty; expected the header "
            "member_id,month,ride_days,ride_minutes,pass_365",
        ),
    ],
)
def test_header_problems(feed: Callable[..., Path], text: str, reason: str) -> None:
    path = feed(text)
    assert run(Program.BIKE, path) == [Reject(str(path), 1, reason)]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"member_id,month,ride_days,ride_minutes,pass_365\nB\xe9,2024-01,1,1,true\n")
    [reject] = run(Program.BIKE, path)
    assert isinstance(reject, Reject)
    assert reject.line == 2
    assert reject.reason.startswith("not valid UTF-8 at byte 2 of this line")
    assert "save the file as UTF-8" in reject.reason


def test_bom_blank_lines_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text(
        "\ufeffmember_id, month ,ride_days,ride_minutes, pass_365\n\nB1, 2024-01 ,10,100,true\n\n",
        encoding="utf-8",
    )
    assert awards_of(run(Program.BIKE, path)) == [(3, "B1", 300, "per_minute")]


def test_missing_file(tmp_path: Path) -> None:
    [reject] = run(Program.BIKE, tmp_path / "nope.csv")
    assert isinstance(reject, Reject)
    assert reject.line == 0 and reject.reason.startswith("cannot open the file")


def test_rejected_duplicate_blocks_no_later_row(feed: Callable[..., Path]) -> None:
    path = feed(
        CAR_SEASON_HEADER + "C1,V1,2024,1" + OK_2024 + "\n"
        "C1,V2,2024,1" + OK_2024 + "\n"  # member twice: rejected, so V2 stays free
        "C3,V2,2024,1" + OK_2024 + "\n"
        " C4 ,V4,2024,1" + OK_2024 + "\n"  # surrounding spaces are trimmed
        "C|5,V5,2024,1" + OK_2024 + "\n"
    )
    items = run(Program.CAR_SEASON, path)
    assert [a[:2] for a in awards_of(items)] == [(2, "C1"), (4, "C3"), (5, "C4")]
    assert [r[0] for r in rejects(items)] == [3, 6]
    assert rejects(items)[1][1] == (
        "member_id: 'C|5' contains '|', which separates the parts of an award id"
    )


def test_numbers_are_bounded(feed: Callable[..., Path]) -> None:
    path = feed(CAR_SEASON_HEADER + "C1,V1,2024," + "9" * 31 + OK_2024 + "\n")
    assert rejects(run(Program.CAR_SEASON, path)) == [
        (2, "season_km: has 31 characters; numbers are at most 30")
    ]


# --- issue 13.7: precise, complete validation ----------------------------------------------------

TODAY = YearMonth(2026, 12)


@pytest.mark.parametrize(
    ("program", "text", "reason"),
    [
        (
            Program.BIKE,
            "member_id,month,ride_days,ride_minutes,pass_365\nB1,1800-01,20,100,true\n",
            "month: 1800-01 is before BIKE began (2021-10)",
        ),
        (
            Program.BIKE,
            "member_id,month,ride_days,ride_minutes,pass_365\nB1,9999-12,20,100,true\n",
            "month: the period ends in 9999-12, after the current month 2026-12",
        ),
        (
            Program.CAR_SEASON,
            CAR_SEASON_HEADER + "C1,V1,1900,1,true,false,5,1900-11-20,1901-04-05\n",
            "season: 1900-12 is before CAR_SEASON began (2019-12)",
        ),
        (
            Program.CAR_SEASON,
            CAR_SEASON_HEADER + "C1,V1,2040,1,true,false,5,2040-11-20,2041-04-05\n",
            "season: the period ends in 2041-03, after the current month 2026-12",
        ),
        (
            Program.CAR,
            CAR_HEADER + "C1,V1,2026-08,2027-01,10,5,true,false,5\n",
            "period_end: the period ends in 2027-01, after the current month 2026-12",
        ),
        (
            Program.ECO_HOUSEHOLD,
            USAGE_HEADER + "\nH1,1800-01,1800-06,900,1000,1000,90,100,100,,,,,,\n",
            "window_start: 1800-01 is before ECO_HOUSEHOLD began (2009-01)",
        ),
    ],
)
def test_periods_outside_the_programs_life_are_rejected(
    feed: Callable[..., Path], program: Program, text: str, reason: str
) -> None:
    items = run(program, feed(text), options=FeedOptions(today=TODAY))
    assert [(r[0], r[1][: len(reason)]) for r in rejects(items)] == [(2, reason)]


def test_the_current_month_is_accepted_and_starts_are_configurable(
    feed: Callable[..., Path],
) -> None:
    path = feed(
        "member_id,month,ride_days,ride_minutes,pass_365\n"
        "B1,2026-12,20,100,true\nB1,2020-01,20,100,true\n"
    )
    assert [r[0] for r in rejects(run(Program.BIKE, path, options=FeedOptions(today=TODAY)))] == [3]
    starts = {Program.BIKE: YearMonth(2019, 1)}
    options = FeedOptions(today=TODAY, starts=starts)
    assert rejects(run(Program.BIKE, path, options=options)) == []


def test_org_round_outside_the_programs_life_is_a_file_reject(feed: Callable[..., Path]) -> None:
    path = feed(ORG_HEADER + "O1,school,300,top,20,true,2,true\n")
    options = FeedOptions(org_period="2040-06..2040-09", today=TODAY)
    [reject] = run(Program.ECO_ORG, path, options=options)
    assert isinstance(reject, Reject) and reject.line == 0
    assert reject.reason.startswith("period: the period ends in 2040-09")


def test_member_and_vehicle_ids_are_bounded_and_printable(feed: Callable[..., Path]) -> None:
    path = feed(
        CAR_SEASON_HEADER
        + "M" * 65
        + ",V1,2024,1"
        + OK_2024
        + "\n"
        + "C2,"
        + "V" * 5000
        + ",2024,1"
        + OK_2024
        + "\n"
        + "C3,V\u200b3,2024,1"
        + OK_2024
        + "\n"
        + "C\u00a04,V4,2024,1"
        + OK_2024
        + "\n"  # a no-break space is printable
    )
    assert rejects(run(Program.CAR_SEASON, path)) == [
        (2, "member_id: has 65 characters; at most 64 are allowed"),
        (3, "vehicle_id: has 5000 characters; at most 32 are allowed"),
        (
            4,
            "vehicle_id: contains the control character U+200B at position 2; remove tabs, "
            "line breaks and other invisible characters",
        ),
    ]


def test_rejects_name_the_line_where_a_record_starts(feed: Callable[..., Path]) -> None:
    path = feed(
        CAR_SEASON_HEADER
        + 'C1,"V\n1\n",2024,1'
        + OK_2024
        + "\nC2,V2,2024,x"
        + OK_2024
        + '\n"C\n3",V3,2024,1'
        + OK_2024
        + "\n"
    )
    assert [r[0] for r in rejects(run(Program.CAR_SEASON, path))] == [2, 5, 6]


def test_decoding_error_names_its_own_line(tmp_path: Path) -> None:
    """A small file is decoded in one block by a text reader: the old reader blamed line 1."""
    path = tmp_path / "late.csv"
    path.write_bytes(
        b"member_id,month,ride_days,ride_minutes,pass_365\n"
        b"B1,2024-01,10,100,true\nB2,2024-01,10,100,true\n"
        b"B3,2024-01,10,1\xc3(0\n"
    )
    [reject] = run(Program.BIKE, path)
    assert isinstance(reject, Reject)
    assert (reject.line, reject.reason[:38]) == (4, "not valid UTF-8 at byte 16 of this lin")
