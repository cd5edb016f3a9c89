"""BIKE accrual and payout against a real database (SQLite and PostgreSQL), PROGRAM_RULES §2.4:
a feed accrues months, `pay` turns the closed payout periods into one award per member and
period, and re-running it never pays twice."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Award, AwardWindow, BikeAccrual
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.errors import InvalidValue
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.feeds import FeedOptions
from ledger.service.bike_accruals import accrued_total, accrued_unpaid, pay
from ledger.service.feeds import import_feed
from ledger.service.members import import_members
from tests.keyring import KEYS

KEY = b"bike-payout-test-account-key-32b"
HEADER = "member_id,month,ride_days,ride_minutes,pass_365\n"
OPTS = FeedOptions(award_key=KEYS.award)
TODAY = YearMonth(2026, 3)
M = YearMonth.parse


def feed(factory: sessionmaker[Session], tmp_path: Path, name: str, rows: list[str]) -> int:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    report = import_feed(factory, Program.BIKE, path, options=OPTS)
    assert report.committed, report.rejects
    return report.recorded


def register(factory: sessionmaker[Session], tmp_path: Path, members: list[str]) -> None:
    lines = ["member_id,program,citizen_id,district,donation_consent,joined_at"]
    lines += [f"{m},BIKE,C-{m},D01,false,2020-01-01" for m in members]
    path = tmp_path / "members.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not import_members(factory, path, KEY).rejects


def bike_awards(factory: sessionmaker[Session]) -> dict[tuple[str, str], tuple[str, int]]:
    with factory() as s:
        rows = s.execute(
            sa.select(Award.member_id, Award.period, Award.award_id, Award.amount).where(
                Award.program == "BIKE"
            )
        )
        return {(m, p): (aid, a) for m, p, aid, a in rows}


def test_import_accrues_and_yearly_payout_pays_once(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, ["B1", "B2"])
    rows = [f"B1,2025-{m:02d},20,1000,true" for m in range(1, 11)]  # 2,000 a month, capped
    rows += ["B2,2025-03,20,100,true", "B2,2025-04,20,100,false", "B2,2025-05,5,900,true"]
    # months earning 0 are not recorded
    assert feed(session_factory, tmp_path, "bike-2025a.csv", rows) == 9
    assert bike_awards(session_factory) == {}  # nothing for the chain before payout
    with session_factory() as s:
        account = s.scalar(sa.select(BikeAccrual.account_id).where(BikeAccrual.member_id == "B1"))
        assert account is not None
        assert accrued_total(s, account) == 16_000
        shown = accrued_unpaid(s, account, Cadence.YEARLY)
        assert [(a.month, a.amount, a.payout_period) for a in shown[-3:]] == [
            ("2025-06", 2_000, "2025"),
            ("2025-07", 2_000, "2025"),
            ("2025-08", 2_000, "2025"),  # the yearly cap: September and October earn 0
        ]
    # the year is not closed in November: nothing is paid
    early = pay(session_factory, Cadence.YEARLY, M("2025-11"), KEYS.award, today=TODAY)
    assert (early.awards, early.amount) == (0, 0)
    report = pay(session_factory, Cadence.YEARLY, M("2025-12"), KEYS.award, today=TODAY)
    assert (report.awards, report.amount, report.months) == (2, 16_300, 9)
    paid = bike_awards(session_factory)
    assert paid == {
        ("B1", "2025"): (
            "0x" + awards.award_id(Program.BIKE, "B1", "2025", KEYS.award).hex(),
            16_000,
        ),
        ("B2", "2025"): ("0x" + awards.award_id(Program.BIKE, "B2", "2025", KEYS.award).hex(), 300),
    }
    with session_factory() as s:
        assert accrued_total(s, account) == 0
        held = s.scalars(sa.select(AwardWindow.month).where(AwardWindow.holder == "member:B1"))
        assert sorted(held) == [f"2025-{m:02d}" for m in range(1, 9)]
    # re-running the payout, or re-importing the feed, pays nothing more
    again = pay(session_factory, Cadence.YEARLY, M("2025-12"), KEYS.award, today=TODAY)
    assert (again.awards, again.amount) == (0, 0)
    assert feed(session_factory, tmp_path, "bike-2025a.csv", rows) == 0
    assert bike_awards(session_factory) == paid
    # a later feed for the paid year: the cap still holds (B1's November earns 0)
    assert feed(session_factory, tmp_path, "bike-2025b.csv", ["B1,2025-11,20,1000,true"]) == 0
    with session_factory() as s:
        assert accrued_total(s, account) == 0


def test_quarterly_payout_and_a_late_month(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, ["B1"])
    feed(session_factory, tmp_path, "q.csv", [f"B1,2025-{m:02d},20,100,true" for m in (1, 2, 4)])
    report = pay(session_factory, Cadence.QUARTERLY, M("2025-05"), KEYS.award, today=TODAY)
    assert (report.awards, report.amount) == (1, 600)  # Q1 only: Q2 is still open
    # March arrives after Q1 was paid: it is left unpaid and reported, never paid twice
    feed(session_factory, tmp_path, "late.csv", ["B1,2025-03,20,100,true"])
    report = pay(session_factory, Cadence.QUARTERLY, M("2025-06"), KEYS.award, today=TODAY)
    assert (report.awards, report.amount, report.late) == (1, 300, [("B1", "2025-Q1")])
    assert {p: a for (_, p), (_, a) in bike_awards(session_factory).items()} == {
        "2025-Q1": 600,
        "2025-Q2": 300,
    }


def test_payout_through_an_unfinished_month_is_refused(
    session_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(InvalidValue, match=r"through: 2026-03 is not over yet .* 2026-02"):
        pay(session_factory, Cadence.MONTHLY, TODAY, KEYS.award, today=TODAY)


def test_the_payout_command(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mileage bike payout --through`: the configured cadence, or --cadence; clear errors."""
    from ledger.settings import get_settings
    from tests.integration.cli_helpers import cli
    from tests.keyring import set_key_env

    monkeypatch.setenv("MILEAGE_DATABASE_URL", db_url)
    monkeypatch.setenv("MILEAGE_BIKE_PAYOUT", "half-yearly")
    set_key_env(monkeypatch)
    get_settings.cache_clear()
    try:
        factory = runtime_sessions()
        register(factory, tmp_path, ["B1"])
        feed(factory, tmp_path, "b.csv", ["B1,2025-02,20,100,true", "B1,2025-08,20,100,true"])
        out = cli("bike", "payout", "--through", "2025-09")
        assert "BIKE payout (half-yearly) through 2025-09: recorded 1 awards (300 mileage)" in out
        assert set(bike_awards(factory)) == {("B1", "2025-H1")}
        assert "recorded 0 awards" in cli("bike", "payout", "--through", "2025-09")
        out = cli("bike", "payout", "--through", "2025-12", "--cadence", "weekly", code=1)
        assert "'weekly' is not a payout cadence; use one of yearly, half-yearly" in out
        out = cli("bike", "payout", "--through", "2025-13", code=1)
        assert "through" in out
    finally:
        get_settings.cache_clear()


def runtime_sessions() -> sessionmaker[Session]:
    from ledger.service.runtime import Runtime

    return Runtime.open().sessions
