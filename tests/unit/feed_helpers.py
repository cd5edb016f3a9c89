"""What the feed tests share: the programs' headers and a run of the pipeline with the test
keys (tests/unit/test_feeds.py, test_feed_validation.py; the ``feed`` fixture: conftest.py)."""

from dataclasses import replace
from pathlib import Path

from ledger.domain.codes import Program
from ledger.feeds import ComputedAward, FeedOptions, Reject, iter_awards
from tests.keyring import KEYS

USAGE_HEADER = (
    "member_id,window_start,window_end,"
    "electricity_kwh,electricity_kwh_prev1,electricity_kwh_prev2,"
    "gas_m3,gas_m3_prev1,gas_m3_prev2,water_m3,water_m3_prev1,water_m3_prev2,"
    "heat_mcal,heat_mcal_prev1,heat_mcal_prev2"
)


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
