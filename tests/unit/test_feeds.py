"""Feed parsing per program: good rows go on with their awards (household, season, organisation,
car, bike with its caps)."""

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ledger.domain.codes import Flag, Program
from ledger.domain.types import YearMonth
from ledger.feeds import FeedOptions, Reject
from ledger.feeds.pipeline import EARNED_CHUNK
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
    rows = ["member_id,month,ride_days,ride_minutes,pass_365"]
    # December first, then the rest of the year: the cap must follow month order.
    rows += ["B1,2024-12,20,1000,true"] + [f"B1,2024-{m:02d},20,1000,true" for m in range(1, 12)]
    rows += ["B2,2024-01,9,1000,true", "B1,2025-01,20,1000,true"]
    rows += ["B1,2024-03,20,5,true", "B3,2024-02,30,10,true"]
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
    path = feed("member_id,month,ride_days,ride_minutes,pass_365\nB1,2024-05,20,1000,true\n")
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
    rows = [f"M{i:04d},2024-05,20,1000,true" for i in range(n)]
    rows += [f"M{i:04d},2024-06,20,1000,true" for i in range(n)]  # same member-years again
    rows += ["M0000,2025-01,20,1000,true"]
    path = feed("member_id,month,ride_days,ride_minutes,pass_365\n" + "\n".join(rows) + "\n")
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


def test_production_caps_go_through_the_domain_year_awards(
    feed: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13.5: one implementation of the yearly cap (ledger.domain.rules.bike): the
    pipeline's `ordered_year_amounts` is what `year_awards` applies once its rides are ordered."""
    from ledger.domain.rules import bike

    calls: list[int] = []
    real = bike.ordered_year_amounts

    def spy(rides: Sequence[tuple[int, int]], *rest: int) -> list[tuple[int, str]]:
        calls.append(len(rides))
        return real(rides, *rest)

    monkeypatch.setattr(bike, "ordered_year_amounts", spy)
    path = feed(
        "member_id,month,ride_days,ride_minutes,pass_365\n"
        "B1,2024-01,20,100,true\nB1,2024-02,20,1,true\n"
    )
    assert [a[2] for a in awards_of(run(Program.BIKE, path))] == [300, 3]
    assert calls == [2]
    rides = [bike.BikeMonth(YearMonth(2024, m), 20, 100) for m in (2, 1)]
    assert [r.amount for r in bike.year_awards(rides)] == [300, 300]
    assert calls == [2, 2]


def test_bike_pays_only_365_day_pass_holders(feed: Callable[..., Path]) -> None:
    """§2.4: the pilot is for holders of the 365-day pass. A non-holder's month earns 0 with
    tier `no_365_pass` and does not use up the yearly cap; the column is required."""
    rows = ["member_id,month,ride_days,ride_minutes,pass_365"]
    rows += [f"B1,2024-{m:02d},20,1000,false" for m in range(1, 5)]  # not a holder yet
    rows += [f"B1,2024-{m:02d},20,1000,true" for m in range(5, 13)]
    rows += ["B2,2024-01,20,100,maybe", "B3,2024-01,20,100,"]
    items = run(Program.BIKE, feed("\n".join(rows) + "\n"))
    got = awards_of(items)
    assert [a[2:] for a in got[:4]] == [(0, "no_365_pass")] * 4
    assert [a[2] for a in got[4:12]] == [2_000] * 8  # all 8 paid months fit the 16,000 cap
    assert rejects(items) == [
        (14, "pass_365: 'maybe' is not true or false"),
        (15, "pass_365: is empty; a value is required"),
    ]
