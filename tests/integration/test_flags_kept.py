"""Flags are kept, not only printed (issue 14, items 7 and 6): the ≥ 10 % usage-rise flag is
stored with its round by the import, once, and not at all when the import is rejected; the
organisations' in-kind reward is flagged on its award and shown as such in the report."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import AwardFlag
from ledger.domain.codes import Program
from ledger.service.flags import flagged
from ledger.service.report import build_report
from tests.integration.test_award_windows import (
    USAGE,
    feed_import,
    register,
    usage_row,
    write,
)

ROSE = "H2,2024-01,2024-06,1200,1000,1000,120,100,100,,,,,,\n"  # use up 20 %: no award, a notice


def test_usage_rise_flag_is_stored_with_its_round_once(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(
        session_factory,
        tmp_path,
        [("H1", "ECO_HOUSEHOLD", "2020-01-01"), ("H2", "ECO_HOUSEHOLD", "2020-01-01")],
    )
    path = write(tmp_path / "h.csv", USAGE + usage_row("H1", "2024-01", "2024-06") + ROSE)
    report = feed_import(session_factory, Program.ECO_HOUSEHOLD, path)
    assert report.committed and report.recorded == 1 and report.zero == 1 and report.flagged == 1
    with session_factory() as s:
        assert flagged(s, "ECO_HOUSEHOLD", "2024-01..2024-06") == [("H2", "energy_saving_notice")]
        assert s.scalar(sa.select(AwardFlag.source)) == "h.csv:3"
    again = feed_import(session_factory, Program.ECO_HOUSEHOLD, path)
    assert again.committed and again.flagged == 0
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AwardFlag)) == 1


def test_a_rejected_import_keeps_no_flag(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, [("H2", "ECO_HOUSEHOLD", "2020-01-01")])
    bad = USAGE + ROSE + "H9,2024-01,2024-06,1,1,1,,,,,,,,,\n"  # H9 is not registered
    report = feed_import(session_factory, Program.ECO_HOUSEHOLD, write(tmp_path / "b.csv", bad))
    assert not report.committed and report.flagged == 0
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AwardFlag)) == 0


ORG = (
    "member_id,category,size_toe,rank,reduction_pct,electricity_registered,energy_types,"
    "saving_case\nO1,general,120,none,12,true,2,true\nO2,school,300,top,15,true,3,true\n"
)


def test_in_kind_rewards_are_flagged_and_reported_as_such(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(
        session_factory,
        tmp_path,
        [("O1", "ECO_ORG", "2020-01-01"), ("O2", "ECO_ORG", "2020-01-01")],
    )
    path = write(tmp_path / "org.csv", ORG)
    report = feed_import(session_factory, Program.ECO_ORG, path, org_period="2024-12..2025-03")
    assert report.committed and report.recorded == 2 and report.flagged == 1
    with session_factory() as s:
        assert flagged(s, "ECO_ORG", "2024-12..2025-03") == [("O1", "in_kind")]
        shown = build_report(s, year=2025)
    assert shown.in_kind == {"ECO_ORG": (1, 200_000)}
    assert "in-kind" in str(shown.to_dict()["in_kind"])
