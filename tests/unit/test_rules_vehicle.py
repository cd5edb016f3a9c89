"""Car eligibility and the CAR_SEASON photo deadlines (issue 14, items 2 and 3): the rules and
the feed columns that carry them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ledger.domain.codes import Program
from ledger.domain.rules.vehicle import Vehicle, photo_problems, vehicle_problems
from ledger.domain.types import YearMonth
from ledger.feeds import ComputedAward, FeedOptions, Reject, iter_awards
from tests.keyring import KEYS

CAR = (
    "member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,"
    "seoul_registered,commercial,seats\n"
)
SEASON = (
    "member_id,vehicle_id,season,season_km,seoul_registered,commercial,seats,"
    "start_photo_at,end_photo_at\n"
)
OPTIONS = FeedOptions(today=YearMonth(2026, 12), award_key=KEYS.award)


def run(program: Program, path: Path) -> list[ComputedAward | Reject]:
    return list(iter_awards(program, path, options=OPTIONS))


@pytest.mark.parametrize(
    ("vehicle", "columns"),
    [
        (Vehicle(True, False, 12), []),
        (Vehicle(True, False, 1), []),
        (Vehicle(False, False, 5), ["seoul_registered"]),
        (Vehicle(True, True, 5), ["commercial"]),
        (Vehicle(True, False, 13), ["seats"]),
        (Vehicle(True, False, 0), ["seats"]),
        (Vehicle(False, True, 15), ["seoul_registered", "commercial", "seats"]),
    ],
)
def test_vehicle_eligibility(vehicle: Vehicle, columns: list[str]) -> None:
    assert [column for column, _ in vehicle_problems(vehicle)] == columns


@pytest.mark.parametrize(
    ("start", "end", "columns"),
    [
        (date(2024, 11, 30), date(2025, 4, 1), []),
        (date(2024, 6, 1), date(2025, 4, 10), []),
        (date(2024, 12, 1), date(2025, 4, 5), ["start_photo_at"]),
        (date(2024, 11, 1), date(2025, 3, 31), ["end_photo_at"]),
        (date(2024, 11, 1), date(2025, 4, 11), ["end_photo_at"]),
    ],
)
def test_season_photo_deadlines(start: date, end: date, columns: list[str]) -> None:
    assert [column for column, _ in photo_problems(2024, start, end)] == columns


def test_ineligible_cars_are_rejected_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "car.csv"
    path.write_text(
        CAR
        + "C1,11GA1111,2024-01,2024-06,6000,4000,true,false,5\n"
        + "C2,22NA2222,2024-01,2024-06,6000,4000,false,false,5\n"
        + "C3,33DA3333,2024-01,2024-06,6000,4000,true,yes,5\n"
        + "C4,44RA4444,2024-01,2024-06,6000,4000,true,false,15\n"
        + "C5,55MA5555,2024-01,2024-06,6000,4000,maybe,false,5\n",
        encoding="utf-8",
    )
    items = run(Program.CAR, path)
    assert [i.line for i in items if isinstance(i, ComputedAward)] == [2]
    assert [(r.line, r.reason) for r in items if isinstance(r, Reject)] == [
        (3, "seoul_registered: the car is not registered in Seoul; only Seoul cars take part"),
        (4, "commercial: the car is commercial (사업용); only private cars take part"),
        (5, "seats: 15 seats; cars with 1 to 12 take part"),
        (6, "seoul_registered: 'maybe' is not true or false"),
    ]


def test_car_season_needs_eligible_cars_and_photos_in_time(tmp_path: Path) -> None:
    path = tmp_path / "season.csv"
    path.write_text(
        SEASON
        + "C1,V1,2024,1200,true,false,5,2024-11-30,2025-04-10\n"
        + "C2,V2,2024,1200,true,false,5,2024-12-01,2025-04-05\n"
        + "C3,V3,2024,1200,true,false,5,2024-11-01,2025-04-11\n"
        + "C4,V4,2024,1200,true,true,5,2024-11-01,2025-04-02\n"
        + "C5,V5,2024,1200,true,false,5,2024-11-31,2025-04-02\n",
        encoding="utf-8",
    )
    items = run(Program.CAR_SEASON, path)
    assert [(i.line, i.amount) for i in items if isinstance(i, ComputedAward)] == [(2, 10_000)]
    assert [(r.line, r.reason) for r in items if isinstance(r, Reject)] == [
        (
            3,
            "start_photo_at: 2024-12-01 is not before the season starting 2024-12-01; the "
            "start photo must be registered by the day before",
        ),
        (
            4,
            "end_photo_at: 2025-04-11 is not between 2025-04-01 and 2025-04-10; the end photo "
            "is registered within the first 10 days after the season",
        ),
        (5, "commercial: the car is commercial (사업용); only private cars take part"),
        (6, "start_photo_at: '2024-11-31' is not a date YYYY-MM-DD"),
    ]
