"""Feed parsing and validation: good rows go on, each bad row is a precise Reject."""

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from ledger.domain.codes import Flag, Program
from ledger.domain.rules.common import RuleResult
from ledger.domain.types import YearMonth
from ledger.feeds import ComputedAward, FeedOptions, Reject, iter_awards
from ledger.feeds.pipeline import EARNED_CHUNK
from tests.keyring import KEYS

USAGE_HEADER = (
    "member_id,window_start,window_end,"
    "electricity_kwh,electricity_kwh_prev1,electricity_kwh_prev2,"
    "gas_m3,gas_m3_prev1,gas_m3_prev2,water_m3,water_m3_prev1,water_m3_prev2,"
    "heat_mcal,heat_mcal_prev1,heat_mcal_prev2"
)


@pytest.fixture
def feed(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "feed.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


ORG_HEADER = (
    "member_id,category,size_toe,rank,reduction_pct,electricity_registered,energy_types,"
    "saving_case\n"
)
CAR_HEADER = (
    "member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,"
    "seoul_registered,commercial,seats\n"
)
CAR_SEASON_HEADER = (
    "member_id,vehicle_id,season,season_km,seoul_registered,commercial,seats,"
    "start_photo_at,end_photo_at\n"
)
OK_2024 = ",true,false,5,2024-11-20,2025-04-05"
"""An eligible car with its photos in time for the 2024 season."""


def run(program: Program, path: Path, **kwargs: object) -> list[ComputedAward | Reject]:
    options = kwargs.pop("options", None) or FeedOptions()
    assert isinstance(options, FeedOptions)
    keyed = replace(options, award_key=KEYS.award)
    return list(iter_awards(program, path, options=keyed, **kwargs))  # type: ignore[arg-type]


def rejects(items: list[ComputedAward | Reject]) -> list[tuple[int, str]]:
    return [(r.line, r.reason) for r in items if isinstance(r, Reject)]


def awards_of(items: list[ComputedAward | Reject]) -> list[tuple[int, str, int, str]]:
    return [(a.line, a.member_id, a.amount, a.tier) for a in items if isinstance(a, ComputedAward)]


def test_household_feed(feed: Callable[..., Path]) -> None:
    path = feed(
        USAGE_HEADER
        + "\n"
        + "H1,2024-01,2024-06,900,1000,1000,90,100,100,,,,,,\n"  # 10 % → 30,000
        + "H2,2024-01,2024-06,1200,1000,1000,,,,120,100,100,,,\n"  # +20 % → notice
        + "H3,2024-01,2024-06,1000,1000,1000,,,,,,,,,\n"  # one type only
        + "H4,2024-01,2024-05,1,1,1,1,1,1,,,,,,\n"  # window too short
        + "H5,2024-01,2024-06,,,,1,1,1,1,1,1,,,\n"  # no electricity
        + "H6,2024-01,2024-06,1,1,1,1,,1,x,1,1,,,\n"  # partial gas, bad water
        + "H1,2024-01,2024-06,1,1,1,1,1,1,,,,,,\n"  # twice
        + "H7,2024-01,2024-06,-1,1,1,1,1,1,,,,,,\n"  # negative
        + "H8,2024-01,2024-06,1,1,1,1,1,1,,,,,\n"  # missing cell
    )
    items = run(Program.ECO_HOUSEHOLD, path)
    assert [i.line for i in items] == list(range(2, 11))
    assert awards_of(items) == [
        (2, "H1", 30_000, "10_to_15pct"),
        (3, "H2", 0, "usage_rose_10pct"),
        (4, "H3", 0, "single_type"),
    ]
    assert items[1].flags == frozenset({Flag.ENERGY_SAVING_NOTICE})  # type: ignore[union-attr]
    assert items[0].period == "2024-01..2024-06"  # type: ignore[union-attr]
    assert rejects(items) == [
        (5, "window_end: window 2024-01..2024-05 spans 5 months; household windows span 6"),
        (6, "electricity_kwh: is empty; electricity must be registered (all three cells)"),
        (
            7,
            "gas_m3: gas_m3_prev1 empty; fill all three gas_m3 cells, or leave all three empty "
            "when the type is not registered; water_m3: 'x' is not a plain decimal number "
            "like 123 or 123.45",
        ),
        (
            8,
            "member_id: 'H1' already appears on line 2; a feed may list it only once per "
            "round, remove or merge the rows",
        ),
        (9, "electricity_kwh: '-1' is negative; values must be 0 or more"),
        (10, "row has 14 cells but the header has 15 columns (missing cells)"),
    ]
    assert all(r.file == str(path) for r in items if isinstance(r, Reject))
    assert str(items[3]) == f"{path}:5: " + rejects(items)[0][1]


def test_season_feed(feed: Callable[..., Path]) -> None:
    path = feed(
        USAGE_HEADER
        + "\n"
        + "H1,2024-12,2025-03,70,100,100,7,10,10,,,,,,\n"
        + "H2,2025-01,2025-04,70,100,100,7,10,10,,,,,,\n"
    )
    items = run(Program.ECO_SEASON, path)
    assert awards_of(items) == [(2, "H1", 12_000, "30pct_plus")]
    assert items[0].period == "2024"  # type: ignore[union-attr]
    assert rejects(items) == [
        (
            3,
            "window_start: window 2025-01..2025-04 is not a fine-dust season; "
            "use YYYY-12..(YYYY+1)-03",
        )
    ]


def test_org_feed(feed: Callable[..., Path]) -> None:
    path = feed(
        ORG_HEADER + "O1,general,1200,top,12.5,true,2,true\n"
        "O2,school,0,excellent,10,true,2,true\n"
        "O3,general,30,none,10,true,2,true\n"
        "O4,public,5,top,9,true,2,true\n"
        "O5,general,5,top,15,true,2,true\n"
        "O6,hospital,5,best,abc,true,2,true\n"
    )
    items = run(Program.ECO_ORG, path, options=FeedOptions(org_period="2024-12..2025-03"))
    assert awards_of(items) == [
        (2, "O1", 10_000_000, "general_1000toe_plus_top"),
        (3, "O2", 6_000_000, "school_excellent"),
        (4, "O3", 100_000, "unranked_under_50toe"),
    ]
    assert items[0].period == "2024-12..2025-03"  # type: ignore[union-attr]
    reasons = dict(rejects(items))
    assert reasons[5].startswith("rank: decision not allowed by the §2.2 table: rank top needs")
    assert "general buildings under 10 TOE cannot be ranked" in reasons[6]
    assert reasons[7] == (
        "category: 'hospital' is not one of general | public | school; "
        "rank: 'best' is not one of top | excellent | encouragement | none; "
        "reduction_pct: 'abc' is not a plain decimal number like 123 or 123.45"
    )


def test_org_feed_needs_a_round(feed: Callable[..., Path]) -> None:
    path = feed(ORG_HEADER + "O1,general,1200,top,12.5,true,2,true\n")
    items = run(Program.ECO_ORG, path)
    assert items == [
        Reject(str(path), 0, "period: ECO_ORG feeds need the round, e.g. --period 2024-12..2025-03")
    ]


def test_car_feeds(feed: Callable[..., Path]) -> None:
    path = feed(
        CAR_HEADER + ""
        "C1,12가3456,2024-01,2024-06,5000,3900,true,false,5\n"
        "C2,12가3456,2024-01,2024-06,5000,3900,true,false,5\n"
        "C3,99나9999,2024-06,2024-01,5000,3900,true,false,5\n"
        "C4,,2024-01,2024-06,5000,3900.5.1,true,false,5\n"
    )
    items = run(Program.CAR, path)
    assert awards_of(items) == [(2, "C1", 50_000, "rate_20_to_30pct")]
    assert rejects(items) == [
        (
            3,
            "vehicle_id: '12가3456' already appears on line 2; a feed may list it only once per "
            "round, remove or merge the rows",
        ),
        (4, "period_end: 2024-01 is before period_start 2024-06"),
        (
            5,
            "vehicle_id: is empty; a value is required; "
            "actual_km: '3900.5.1' is not a plain decimal number like 123 or 123.45",
        ),
    ]
    season = feed(
        CAR_SEASON_HEADER
        + "C1,V1,2024,1850"
        + OK_2024
        + "\nC2,V2,2024,1850.5"
        + OK_2024
        + "\nC3,V3,24,1"
        + OK_2024
        + "\n",
        "season.csv",
    )
    items = run(Program.CAR_SEASON, season)
    assert awards_of(items) == [(2, "C1", 10_000, "at_most_1850km"), (3, "C2", 0, "over_1850km")]
    assert rejects(items) == [(4, "season: '24' is not a 4-digit year")]


def test_unknown_members(feed: Callable[..., Path]) -> None:
    path = feed(CAR_SEASON_HEADER + "C1,V1,2024,1" + OK_2024 + "\nZZ,V2,2024,1" + OK_2024 + "\n")
    items = run(Program.CAR_SEASON, path, known_members={"C1"}.__contains__)
    assert awards_of(items) == [(2, "C1", 10_000, "at_most_1850km")]
    assert rejects(items) == [
        (3, "member_id: unknown member 'ZZ'; register the member, then import again")
    ]


def test_bike_feed_unsorted_with_caps(feed: Callable[..., Path]) -> None:
    rows = ["member_id,month,ride_days,ride_minutes"]
    # December first, then the rest of the year: the cap must follow month order.
    rows += ["B1,2024-12,20,1000"] + [f"B1,2024-{m:02d},20,1000" for m in range(1, 12)]
    rows += ["B2,2024-01,9,1000", "B1,2025-01,20,1000", "B1,2024-03,20,5", "B3,2024-02,30,10"]
    items = run(Program.BIKE, feed("\n".join(rows) + "\n"))
    got = {(a[0]): a[2] for a in awards_of(items)}
    assert got[2] == 0  # December comes after the cap is used up
    assert [got[line] for line in range(3, 14)] == [2_000] * 8 + [0] * 3
    assert got[14] == 0  # fewer than 10 days
    assert got[15] == 2_000  # a new year
    assert sum(got[line] for line in range(2, 14)) == 16_000
    assert rejects(items) == [
        (
            16,
            "month: member 'B1' already has a row for 2024-03 on line 5; a member may have "
            "one row per month, merge the rows",
        ),
        (17, "ride_days: 30 is not between 0 and 29, the number of days of 2024-02"),
    ]
    assert [i.line for i in items] == list(range(2, 18))


def test_bike_earned_before(feed: Callable[..., Path]) -> None:
    path = feed("member_id,month,ride_days,ride_minutes\nB1,2024-05,20,1000\n")
    items = run(
        Program.BIKE,
        path,
        bike_earned_before=lambda year, members: [(m, 1, 15_000) for m in members],
    )
    assert awards_of(items) == [(2, "B1", 1_000, "yearly_cap_remainder")]


def test_bike_earned_before_is_asked_per_year_in_chunks(feed: Callable[..., Path]) -> None:
    """One lookup per year and chunk of EARNED_CHUNK members, each member-year asked once;
    members the lookup leaves out earned nothing before."""
    n = EARNED_CHUNK + 3
    rows = [f"M{i:04d},2024-05,20,1000" for i in range(n)]
    rows += [f"M{i:04d},2024-06,20,1000" for i in range(n)]  # same member-years again
    rows += ["M0000,2025-01,20,1000"]
    path = feed("member_id,month,ride_days,ride_minutes\n" + "\n".join(rows) + "\n")
    calls: list[tuple[int, list[str]]] = []

    def lookup(year: int, members: Sequence[str]) -> list[tuple[str, int, int]]:
        calls.append((year, list(members)))
        return [(m, 1, 15_500) for m in members if m == "M0001" and year == 2024]

    got = awards_of(run(Program.BIKE, path, bike_earned_before=lookup))
    assert sorted((y, len(m)) for y, m in calls) == [(2024, 3), (2024, EARNED_CHUNK), (2025, 1)]
    asked = [(y, m) for y, ms in calls for m in ms]
    assert len(asked) == len(set(asked)) == n + 1
    capped = [a for a in got if a[1] == "M0001"]
    assert [a[2] for a in capped] == [500, 0]
    assert [a[2] for a in got if a[1] == "M0002"] == [2_000, 2_000]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "member_id,month,ride_days\nB1,2024-01,1\n",
            "header: missing column(s) ride_minutes; the header must be exactly: "
            "member_id,month,ride_days,ride_minutes",
        ),
        (
            "member_id,month,ride_days,ride_minutes,extra\n",
            "header: unexpected column(s) 'extra'; the header must be exactly: "
            "member_id,month,ride_days,ride_minutes",
        ),
        ("", "the file is empty; expected the header member_id,month,ride_days,ride_minutes"),
    ],
)
def test_header_problems(feed: Callable[..., Path], text: str, reason: str) -> None:
    path = feed(text)
    assert run(Program.BIKE, path) == [Reject(str(path), 1, reason)]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"member_id,month,ride_days,ride_minutes\nB\xe9,2024-01,1,1\n")
    [reject] = run(Program.BIKE, path)
    assert isinstance(reject, Reject)
    assert reject.line == 2
    assert reject.reason.startswith("not valid UTF-8 at byte 2 of this line")
    assert "save the file as UTF-8" in reject.reason


def test_bom_blank_lines_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text(
        "\ufeffmember_id, month ,ride_days,ride_minutes\n\nB1, 2024-01 ,10,100\n\n",
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
            "member_id,month,ride_days,ride_minutes\nB1,1800-01,20,100\n",
            "month: 1800-01 is before BIKE began (2021-10)",
        ),
        (
            Program.BIKE,
            "member_id,month,ride_days,ride_minutes\nB1,9999-12,20,100\n",
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
    path = feed("member_id,month,ride_days,ride_minutes\nB1,2026-12,20,100\nB1,2020-01,20,100\n")
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
        b"member_id,month,ride_days,ride_minutes\nB1,2024-01,10,100\nB2,2024-01,10,100\n"
        b"B3,2024-01,10,1\xc3(0\n"
    )
    [reject] = run(Program.BIKE, path)
    assert isinstance(reject, Reject)
    assert (reject.line, reject.reason[:38]) == (4, "not valid UTF-8 at byte 16 of this lin")


def test_production_caps_go_through_the_domain_year_awards(
    feed: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13.5: one implementation of the yearly cap (ledger.domain.rules.bike)."""
    from ledger.domain.rules import bike

    calls: list[int] = []
    real = bike.year_awards

    def spy(rides: Sequence[bike.BikeMonth], earned_before: int = 0) -> list[RuleResult]:
        calls.append(len(list(rides)))
        return real(rides, earned_before)

    monkeypatch.setattr(bike, "year_awards", spy)
    path = feed("member_id,month,ride_days,ride_minutes\nB1,2024-01,20,100\nB1,2024-02,20,1\n")
    assert [a[2] for a in awards_of(run(Program.BIKE, path))] == [300, 3]
    assert calls == [2]
