"""One award per member (per vehicle for cars) per window, across every feed ever imported,
and no award before the member's sign-up date (issue 14, items 1 and 2): on SQLite and
PostgreSQL, including two concurrent imports on PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.db import make_engine, make_sessionmaker
from ledger.adapters.orm import Award, AwardWindow, Member
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.feeds import FeedOptions
from ledger.feeds.model import ComputedAward
from ledger.service import windows
from ledger.service.feeds import FeedReport, import_feed
from ledger.service.members import import_members
from tests.keyring import KEYS

KEY = b"award-windows-test-account-key-32"
USAGE = (
    "member_id,window_start,window_end,electricity_kwh,electricity_kwh_prev1,"
    "electricity_kwh_prev2,gas_m3,gas_m3_prev1,gas_m3_prev2,water_m3,water_m3_prev1,"
    "water_m3_prev2,heat_mcal,heat_mcal_prev1,heat_mcal_prev2\n"
)
CAR = (
    "member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,"
    "seoul_registered,commercial,seats\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def register(
    factory: sessionmaker[Session], tmp_path: Path, rows: list[tuple[str, str, str]]
) -> None:
    """Register (member, program, joined_at) rows; joined_at '' leaves the cell empty."""
    text = "member_id,program,citizen_id,district,donation_consent,joined_at\n" + "".join(
        f"{m},{p},C-{m},D01,false,{j}\n" for m, p, j in rows
    )
    report = import_members(factory, write(tmp_path / "members.csv", text), KEY)
    assert report.committed, report.rejects


def feed_import(
    factory: sessionmaker[Session], program: Program, path: Path, **options: object
) -> FeedReport:
    """`import_feed` with the tests' award key (and `options` such as org_period)."""
    return import_feed(
        factory,
        program,
        path,
        options=FeedOptions(award_key=KEYS.award, **options),  # type: ignore[arg-type]
    )


def award_of(factory: sessionmaker[Session], member: str, period: str) -> str:
    with factory() as s:
        found = s.scalar(
            sa.select(Award.award_id).where(Award.member_id == member, Award.period == period)
        )
    assert found is not None
    return found


def usage_row(member: str, start: str, end: str) -> str:
    # 16 % less electricity and gas than the baseline: 50,000
    return f"{member},{start},{end},840,1000,1000,84,100,100,,,,,,\n"


def test_overlapping_household_windows_across_feeds_are_rejected_naming_the_award(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, [("H1", "ECO_HOUSEHOLD", "2020-01-01")])
    first = feed_import(
        session_factory,
        Program.ECO_HOUSEHOLD,
        write(tmp_path / "h1.csv", USAGE + usage_row("H1", "2024-01", "2024-06")),
    )
    assert first.recorded == 1 and first.recorded_amount == 50_000
    paid = award_of(session_factory, "H1", "2024-01..2024-06")
    second = feed_import(
        session_factory,
        Program.ECO_HOUSEHOLD,
        write(tmp_path / "h2.csv", USAGE + usage_row("H1", "2024-02", "2024-07")),
    )
    assert not second.committed and second.recorded == 0
    [reject] = second.rejects
    assert reject.line == 2
    assert reject.reason.startswith("period: ECO_HOUSEHOLD 2024-02..2024-07 of member 'H1'")
    assert f"overlaps award {paid} (2024-01..2024-06, member 'H1', from h1.csv:2)" in reject.reason
    # the next window that does not overlap is paid; the same file again records nothing twice
    third = feed_import(
        session_factory,
        Program.ECO_HOUSEHOLD,
        write(tmp_path / "h3.csv", USAGE + usage_row("H1", "2024-07", "2024-12")),
    )
    assert third.recorded == 1
    again = feed_import(session_factory, Program.ECO_HOUSEHOLD, tmp_path / "h1.csv")
    assert again.committed and again.already_recorded == 1 and again.recorded == 0
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Award)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(AwardWindow)) == 12


def test_a_vehicle_holds_its_window_whoever_claims_it(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(
        session_factory,
        tmp_path,
        [("CAR-1", "CAR", "2020-01-01"), ("CAR-2", "CAR", "2020-01-01")],
    )
    one = feed_import(
        session_factory,
        Program.CAR,
        write(tmp_path / "c1.csv", CAR + "CAR-1,12가3456,2024-01,2024-06,6000,4000,true,false,5\n"),
    )
    assert one.recorded == 1
    two = feed_import(
        session_factory,
        Program.CAR,
        write(
            tmp_path / "c2.csv",
            CAR
            # another vehicle of CAR-1: its own window
            + "CAR-1,34나5678,2024-03,2024-08,6000,4000,true,false,5\n"
            + "CAR-2,12가3456,2024-05,2024-10,6000,4000,true,false,5\n",
        ),
    )
    assert not two.committed
    assert [(r.line, r.reason.split(" overlaps")[0]) for r in two.rejects] == [
        (3, "period: CAR 2024-05..2024-10 of vehicle '12가3456'")
    ]


def test_no_award_for_a_window_before_sign_up(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(
        session_factory,
        tmp_path,
        [
            ("H1", "ECO_HOUSEHOLD", "2024-01-01"),  # on the window's first day: in time
            ("H2", "ECO_HOUSEHOLD", "2024-01-02"),
            ("H3", "ECO_SEASON", "2024-11-30"),  # the day before the season: in time
            ("H4", "ECO_SEASON", "2024-12-01"),
        ],
    )
    house = feed_import(
        session_factory,
        Program.ECO_HOUSEHOLD,
        write(
            tmp_path / "h.csv",
            USAGE + usage_row("H1", "2024-01", "2024-06") + usage_row("H2", "2024-01", "2024-06"),
        ),
    )
    assert [(r.line, r.reason) for r in house.rejects] == [
        (
            3,
            "joined_at: the member signed up on 2024-01-02, after the window 2024-01..2024-06 "
            "started (2024-01-01); no award for a window before sign-up, drop the row",
        )
    ]
    season = feed_import(
        session_factory,
        Program.ECO_SEASON,
        write(
            tmp_path / "s.csv",
            USAGE
            + "H3,2024-12,2025-03,600,1000,1000,60,100,100,,,,,,\n"
            + "H4,2024-12,2025-03,600,1000,1000,60,100,100,,,,,,\n",
        ),
    )
    assert [r.line for r in season.rejects] == [3]
    assert "not before the season starting 2024-12-01" in season.rejects[0].reason


def test_members_without_joined_at_fall_back_to_the_import_date(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    text = "member_id,program,citizen_id,district,donation_consent\nC1,CAR_SEASON,X1,D01,false\n"
    report = import_members(session_factory, write(tmp_path / "m.csv", text), KEY)
    assert report.committed and report.joined_at_fallback == 1
    with session_factory() as s:
        joined = s.scalar(sa.select(Member.joined_at))
    assert joined is not None
    # a member imported today is not paid for the 2019 season
    feed = (
        "member_id,vehicle_id,season,season_km,seoul_registered,commercial,seats,"
        "start_photo_at,end_photo_at\nC1,12가3456,2019,1200,true,false,5,2019-11-20,2020-04-05\n"
    )
    found = feed_import(session_factory, Program.CAR_SEASON, write(tmp_path / "cs.csv", feed))
    assert [r.line for r in found.rejects] == [2]
    assert "not before the season starting 2019-12-01" in found.rejects[0].reason


def test_bad_joined_at_is_rejected(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    text = (
        "member_id,program,citizen_id,district,donation_consent,joined_at\n"
        "C1,CAR,X1,D01,false,2024-13-01\n"
        "C2,CAR,X2,D01,false,2999-01-01\n"
    )
    report = import_members(session_factory, write(tmp_path / "m.csv", text), KEY)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (2, "joined_at: '2024-13-01' is not a date YYYY-MM-DD"),
        (3, "joined_at: 2999-01-01 is in the future; give the date the member signed up"),
    ]


def _computed(member: str, period: str) -> ComputedAward:
    return ComputedAward(
        line=2,
        member_id=member,
        program=Program.ECO_HOUSEHOLD,
        period=period,
        amount=50_000,
        tier="15pct_plus",
        award_id=awards.award_id(Program.ECO_HOUSEHOLD, member, period, KEYS.award),
    )


@pytest.mark.postgres
def test_two_concurrent_imports_cannot_both_pay_overlapping_windows(
    pg_db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(pg_db_url)
    factory = make_sessionmaker(engine)
    register(factory, tmp_path, [("H1", "ECO_HOUSEHOLD", "2020-01-01")])
    # Import A has checked and occupied 2024-01..2024-06 but not committed yet.
    holder = factory()
    assert windows.admit(holder, [_computed("H1", "2024-01..2024-06")], {}) == []
    result: list[FeedReport] = []
    feed = write(tmp_path / "b.csv", USAGE + usage_row("H1", "2024-03", "2024-08"))
    thread = threading.Thread(
        target=lambda: result.append(feed_import(factory, Program.ECO_HOUSEHOLD, feed))
    )
    thread.start()
    # Import B passes its check (A's rows are not visible) and waits on A's key in the index.
    with engine.connect() as probe:
        for _ in range(6000):  # a bound on polls, not a timing assertion
            waiting = probe.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
                )
            )
            if waiting:
                break
            probe.rollback()
            time.sleep(0.01)
        assert waiting, "import B never waited on import A"
    holder.commit()
    holder.close()
    thread.join()
    [report] = result
    assert not report.committed and report.recorded == 0
    [reject] = report.rejects
    paid = "0x" + awards.award_id(Program.ECO_HOUSEHOLD, "H1", "2024-01..2024-06", KEYS.award).hex()
    assert f"overlaps award {paid}" in reject.reason
    with factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Award)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(AwardWindow)) == 6
    engine.dispose()
