"""The payout's bulk writes (SQLite and PostgreSQL): the award and window rows it inserts on the
raw connection, and the one statement that marks the accruals paid: exactly the months it paid,
no other member's or month's, a late month left unpaid, and a stray window stops the payout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Award, AwardWindow, BikeAccrual
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.rules.bike_payout import Cadence
from ledger.service.bike_accruals import pay
from tests.integration.test_bike_payout import TODAY, M, feed, register
from tests.keyring import KEYS


def aid(member: str, period: str) -> str:
    return "0x" + awards.award_id(Program.BIKE, member, period, KEYS.award).hex()


def accruals(factory: sessionmaker[Session]) -> dict[tuple[str, str], str | None]:
    with factory() as s:
        rows = s.execute(sa.select(BikeAccrual.member_id, BikeAccrual.month, BikeAccrual.award_id))
        return {(m, mo): a for m, mo, a in rows}


def test_payout_marks_exactly_the_months_it_paid(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, ["B1", "B2", "B3"])
    rows = [f"B1,2025-{m:02d},20,{100 + m},true" for m in (1, 2, 3, 4)]
    rows += ["B2,2025-02,20,100,true", "B2,2025-07,20,100,true", "B3,2025-01,20,100,true"]
    feed(session_factory, tmp_path, "a.csv", rows)
    report = pay(session_factory, Cadence.QUARTERLY, M("2025-03"), KEYS.award, today=TODAY)
    assert (report.awards, report.months) == (3, 5)
    q1 = {m: aid(m, "2025-Q1") for m in ("B1", "B2", "B3")}
    assert accruals(session_factory) == {
        ("B1", "2025-01"): q1["B1"],
        ("B1", "2025-02"): q1["B1"],
        ("B1", "2025-03"): q1["B1"],
        ("B1", "2025-04"): None,  # after `through`
        ("B2", "2025-02"): q1["B2"],
        ("B2", "2025-07"): None,
        ("B3", "2025-01"): q1["B3"],
    }
    with session_factory() as s:
        b1 = s.scalars(sa.select(Award).where(Award.award_id == q1["B1"])).one()
        windows = set(
            s.execute(sa.select(AwardWindow.holder, AwardWindow.month, AwardWindow.award_id))
        )
        paid_amount = s.scalar(
            sa.select(sa.func.sum(BikeAccrual.amount)).where(BikeAccrual.award_id == q1["B1"])
        )
    assert (b1.program, b1.member_id, b1.period) == ("BIKE", "B1", "2025-Q1")
    assert b1.amount == paid_amount > 0
    assert (b1.tier, b1.status, b1.source) == (
        "bike_payout",
        "pending",
        "bike-payout:quarterly:2025-03",
    )
    assert b1.savings == json.dumps({"ride_minutes": str(101 + 102 + 103)})
    assert b1.created_at is not None and b1.updated_at is not None
    assert b1.account_id.startswith("0x") and len(b1.account_id) == 66
    assert windows == {
        ("member:B1", "2025-01", q1["B1"]),
        ("member:B1", "2025-02", q1["B1"]),
        ("member:B1", "2025-03", q1["B1"]),
        ("member:B2", "2025-02", q1["B2"]),
        ("member:B3", "2025-01", q1["B3"]),
    }
    # B3's February arrives after Q1 was paid: left unpaid; B1's April and B2's July are paid
    feed(session_factory, tmp_path, "late.csv", ["B3,2025-02,20,100,true"])
    report = pay(session_factory, Cadence.QUARTERLY, M("2025-09"), KEYS.award, today=TODAY)
    assert report.late == [("B3", "2025-Q1")]
    after = accruals(session_factory)
    assert after[("B3", "2025-02")] is None
    assert after[("B1", "2025-04")] == aid("B1", "2025-Q2")
    assert after[("B2", "2025-07")] == aid("B2", "2025-Q3")
    assert after[("B1", "2025-01")] == q1["B1"]  # paid marks are never rewritten
    # a re-run pays nothing and marks nothing
    again = pay(session_factory, Cadence.QUARTERLY, M("2025-09"), KEYS.award, today=TODAY)
    assert (again.awards, again.months) == (0, 0)
    assert accruals(session_factory) == after


def test_a_stray_window_stops_the_payout(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Only the months a payout pays may have a window: an unpaid month that has one (it cannot
    happen through the ledger) would be marked paid by an award that did not pay it, so the
    payout refuses and records nothing."""
    register(session_factory, tmp_path, ["B1", "B2"])
    rows = ["B1,2025-01,20,100,true", "B2,2025-02,20,100,true", "B2,2025-04,20,100,true"]
    feed(session_factory, tmp_path, "a.csv", rows)
    with session_factory() as s, s.begin():  # April: in no closed quarter through May
        s.add(AwardWindow(program="BIKE", holder="member:B2", month="2025-04", award_id="0x01"))
    before = accruals(session_factory)
    with pytest.raises(RuntimeError, match="3 unpaid accruals have a window, 2 were paid"):
        pay(session_factory, Cadence.QUARTERLY, M("2025-05"), KEYS.award, today=TODAY)
    assert accruals(session_factory) == before
    assert set(before.values()) == {None}
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Award)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(AwardWindow)) == 1


def test_accrual_lookups_count_what_is_recorded_and_refuse_before_sign_up(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A month accrued, or awarded as a BIKE month before accruals existed, is already recorded;
    another program's award of the same member id and month is not; a month before the member's
    sign-up is refused (joined_at read back on the raw connection, a str on SQLite)."""
    from ledger.service.feeds import import_feed
    from ledger.service.members import import_members
    from tests.integration.test_bike_payout import KEY, OPTS

    lines = ["member_id,program,citizen_id,district,donation_consent,joined_at"]
    lines += ["B1,BIKE,C-1,D01,false,2020-01-01", "B2,BIKE,C-2,D01,false,2025-03-01"]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not import_members(session_factory, tmp_path / "m.csv", KEY).rejects
    with session_factory() as s, s.begin():
        for program, member, period in (("BIKE", "B1", "2025-01"), ("ECO", "B1", "2025-03")):
            s.add(
                Award(
                    award_id=aid(member, period + program),
                    program=program,
                    member_id=member,
                    account_id="0x" + "cd" * 32,
                    period=period,
                    amount=1_000,
                )
            )
    feed(session_factory, tmp_path, "a.csv", ["B1,2025-02,20,100,true"])
    head = "member_id,month,ride_days,ride_minutes,pass_365\n"
    rows = ["B1,2025-01", "B1,2025-02", "B1,2025-03", "B2,2025-03"]
    path = tmp_path / "b.csv"
    path.write_text(head + "".join(f"{r},20,100,true\n" for r in rows), encoding="utf-8")
    report = import_feed(session_factory, Program.BIKE, path, options=OPTS)
    assert (report.recorded, report.already_recorded, report.rejected) == (2, 2, 0)
    assert set(accruals(session_factory)) == {
        ("B1", "2025-02"),
        ("B1", "2025-03"),
        ("B2", "2025-03"),
    }
    path.write_text(head + "B2,2025-02,20,100,true\n", encoding="utf-8")
    refused = import_feed(session_factory, Program.BIKE, path, options=OPTS)
    assert not refused.committed
    assert [r.line for r in refused.rejects] == [2]
    assert "2025-03-01" in refused.rejects[0].reason
