"""An import's award rows, written in bulk on the raw connection (SQLite and PostgreSQL): every
column as the computed award says, the model defaults, and its windows; re-importing records
nothing; an award of another member, period or program is not "already recorded"."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Award, AwardWindow, Member
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.service.feeds import recorded_awards
from tests.integration.test_award_windows import USAGE, feed_import, register, usage_row, write
from tests.keyring import KEYS


def test_imported_award_rows(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    register(
        session_factory,
        tmp_path,
        [("H1", "ECO_HOUSEHOLD", "2020-01-01"), ("H2", "ECO_HOUSEHOLD", "2019-05-01")],
    )
    text = USAGE + usage_row("H1", "2024-01", "2024-06") + usage_row("H2", "2024-01", "2024-06")
    path = write(tmp_path / "eco.csv", text)
    report = feed_import(session_factory, Program.ECO_HOUSEHOLD, path)
    assert report.committed and report.recorded == 2, report.rejects
    with session_factory() as s:
        got = {a.member_id: a for a in s.scalars(sa.select(Award))}
        account = {m: acc for m, acc in s.execute(sa.select(Member.member_id, Member.account_id))}
        held = set(
            s.execute(sa.select(AwardWindow.holder, AwardWindow.month, AwardWindow.award_id))
        )
    assert sorted(got) == ["H1", "H2"]
    for line, member in ((2, "H1"), (3, "H2")):
        a = got[member]
        aid = "0x" + awards.award_id(Program.ECO_HOUSEHOLD, member, a.period, KEYS.award).hex()
        assert (a.award_id, a.program, a.period, a.status) == (
            aid,
            "ECO_HOUSEHOLD",
            "2024-01..2024-06",
            "pending",
        )
        assert a.account_id == account[member] and a.amount > 0 and a.tier
        assert a.source == f"eco.csv:{line}"
        assert a.savings is not None and json.loads(a.savings)
        assert a.created_at is not None and a.updated_at is not None and a.tx_id is None
        assert {(f"member:{member}", f"2024-{m:02d}", aid) for m in range(1, 7)} <= held
    assert len(held) == 12
    again = feed_import(session_factory, Program.ECO_HOUSEHOLD, path)
    assert (again.recorded, again.already_recorded) == (0, 2)


def test_recorded_awards_matches_program_member_and_period(
    session_factory: sessionmaker[Session],
) -> None:
    from ledger.feeds.model import ComputedAward

    with session_factory() as s, s.begin():
        for no, (program, member, period) in enumerate(
            [("ECO", "M1", "2024"), ("CAR", "M1", "2025"), ("ECO", "M2", "2025")], start=1
        ):
            s.add(
                Award(
                    award_no=no,
                    award_id=f"0x{no:02x}",
                    program=program,
                    member_id=member,
                    account_id="0xaa",
                    period=period,
                    amount=1,
                )
            )

    def item(member: str, period: str) -> ComputedAward:
        return ComputedAward(
            program=Program.ECO_HOUSEHOLD,
            member_id=member,
            period=period,
            amount=1,
            tier="t",
            line=2,
            award_id=b"\x00" * 32,
        )

    with session_factory() as s:
        found = recorded_awards(
            s, "ECO", [item("M1", "2024"), item("M1", "2025"), item("M2", "2024")]
        )
        assert found == {("M1", "2024"): 1}  # not M1 2025 (CAR), not M2 2024 (M2 has 2025)
        assert recorded_awards(s, "ECO", []) == {}
