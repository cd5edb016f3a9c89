"""The feed import against a real database (SQLite and PostgreSQL): BIKE's yearly cap across
feeds, from the grouped per-year lookup of what earlier feeds awarded."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Award
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.keys import IdKeys
from ledger.feeds import FeedOptions
from ledger.feeds.pipeline import EARNED_CHUNK
from ledger.service.feeds import bike_earned_before, import_feed
from ledger.service.members import import_members
from tests.keyring import KEYS

KEY = b"feed-import-test-account-key-32b"
HEADER = "member_id,month,ride_days,ride_minutes\n"
OPTS = FeedOptions(award_key=KEYS.award)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def register(factory: sessionmaker[Session], tmp_path: Path, members: list[str]) -> None:
    lines = ["member_id,program,citizen_id,district,donation_consent,joined_at"]
    lines += [f"{m},BIKE,C-{m},D01,false,2020-01-01" for m in members]
    report = import_members(factory, write(tmp_path / "members.csv", "\n".join(lines) + "\n"), KEY)
    assert report.accounts_created == len(members)


def amounts(factory: sessionmaker[Session], source: str) -> dict[tuple[str, str], int]:
    with factory() as s:
        rows = s.execute(sa.select(Award.member_id, Award.period, Award.amount, Award.source))
        return {(m, p): a for m, p, a, src in rows if src.rpartition(":")[0] == source}


def test_bike_yearly_cap_counts_earlier_feeds(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    members = [f"B{i:04d}" for i in range(EARNED_CHUNK + 5)]  # more than one lookup chunk
    register(session_factory, tmp_path, members)
    # feed 1: seven months at the monthly cap (2,000 each) for every member: 14,000 in 2025
    months = [f"2025-{m:02d}" for m in range(1, 8)]
    first = HEADER + "".join(f"{m},{mo},20,1000\n" for mo in months for m in members)
    rep1 = import_feed(
        session_factory, Program.BIKE, write(tmp_path / "bike-h1.csv", first), options=OPTS
    )
    assert rep1.recorded == 7 * len(members) and rep1.rejected == 0
    # one award of feed 1 failed on chain: it no longer counts toward the cap
    with session_factory() as s, s.begin():
        s.execute(
            sa.update(Award)
            .where(Award.member_id == members[-1], Award.period == "2025-07")
            .values(status="failed")
        )
    # feed 2: August and September; only 2,000 of the 16,000 is left (4,000 for the last member),
    # and 2026 starts from zero
    second = HEADER + "".join(
        f"{m},{mo},20,1000\n" for mo in ("2025-08", "2025-09", "2026-01") for m in members
    )
    path2 = write(tmp_path / "bike-h2.csv", second)
    rep2 = import_feed(session_factory, Program.BIKE, path2, options=OPTS)
    got = amounts(session_factory, "bike-h2.csv")
    assert got[(members[0], "2025-08")] == 2_000
    assert (members[0], "2025-09") not in got  # 0: the yearly cap is reached, nothing recorded
    assert got[(members[-1], "2025-08")] == 2_000
    assert got[(members[-1], "2025-09")] == 2_000
    assert all(got[(m, "2026-01")] == 2_000 for m in members)
    assert rep2.recorded == len(got) == 2 * len(members) + 1
    # importing feed 2 again: its own rows are already recorded, nothing is recorded twice
    again = import_feed(session_factory, Program.BIKE, path2, options=OPTS)
    assert again.recorded == 0 and again.already_recorded == rep2.recorded
    assert amounts(session_factory, "bike-h2.csv") == got


def test_earned_before_lookup_groups_per_member(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, ["B1", "B2", "B3"])
    feed = HEADER + "B1,2025-01,20,300\nB1,2025-02,20,400\nB2,2025-01,20,500\nB3,2024-12,20,100\n"
    import_feed(session_factory, Program.BIKE, write(tmp_path / "bike.csv", feed), options=OPTS)
    with session_factory() as s:
        lookup = bike_earned_before(s)
        assert sorted(lookup(2025, ["B1", "B2", "B3", "B9"])) == [
            ("B1", 1, 900),
            ("B1", 2, 1_200),
            ("B2", 1, 1_500),
        ]
        assert list(lookup(2024, ["B3"])) == [("B3", 12, 300)]


def bike_total(factory: sessionmaker[Session], member: str, year: int) -> int:
    with factory() as s:
        rows = s.execute(
            sa.select(Award.period, Award.amount).where(
                Award.program == "BIKE", Award.member_id == member
            )
        )
        return sum(a for p, a in rows if p.startswith(f"{year}-"))


@pytest.mark.parametrize("name", ["bike.csv", "%.csv", "_ike.csv"])
def test_bike_cap_counts_every_earlier_award_whatever_the_file_name(
    session_factory: sessionmaker[Session], tmp_path: Path, name: str
) -> None:
    """Issue 13.5: a second feed with the same name (or a name that is a LIKE pattern) must not
    hide the first feed's awards from the yearly cap."""
    register(session_factory, tmp_path, ["B1"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = HEADER + "".join(f"B1,2025-{m:02d},20,1000\n" for m in range(1, 8))
    second = HEADER + "".join(f"B1,2025-{m:02d},20,1000\n" for m in range(8, 13))
    rep1 = import_feed(
        session_factory, Program.BIKE, write(tmp_path / "a" / "bike.csv", first), options=OPTS
    )
    assert rep1.recorded_amount == 14_000
    rep2 = import_feed(
        session_factory, Program.BIKE, write(tmp_path / "b" / name, second), options=OPTS
    )
    assert rep2.recorded_amount == 2_000
    assert bike_total(session_factory, "B1", 2025) == 16_000


def test_feed_is_all_or_nothing_on_a_late_decoding_error(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 13.7: invalid UTF-8 on the last line: one reject naming that line, nothing
    recorded (the old import had recorded the 450 rows before it)."""
    members = [f"B{i:04d}" for i in range(450)]
    register(session_factory, tmp_path, members)
    good = HEADER + "".join(f"{m},2025-03,20,600\n" for m in members)
    path = tmp_path / "late.csv"
    path.write_bytes(good.encode() + b"B0001,2025-04,20,6\xff0\n")
    report = import_feed(session_factory, Program.BIKE, path, options=OPTS)
    assert [(r.line, r.reason[:30]) for r in report.rejects] == [
        (452, "not valid UTF-8 at byte 19 of ")
    ]
    assert report.recorded == 0 and not report.committed
    assert amounts(session_factory, "late.csv") == {}


def test_feed_with_a_bad_row_records_nothing_then_the_fixed_file_records_all(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, ["B1", "B2"])
    bad = HEADER + 'B1,2025-03,20,600\n"B2\nX",2025-03,20,600\nB2,2025-13,20,600\n'
    report = import_feed(
        session_factory, Program.BIKE, write(tmp_path / "bike.csv", bad), options=OPTS
    )
    # the record on lines 3-4 (a quoted line break) is reported on line 3, the next on line 5
    assert [r.line for r in report.rejects] == [3, 5]
    assert "U+000A" in report.rejects[0].reason
    assert amounts(session_factory, "bike.csv") == {}
    fixed = HEADER + "B1,2025-03,20,600\nB2,2025-03,20,600\n"
    report = import_feed(
        session_factory, Program.BIKE, write(tmp_path / "bike.csv", fixed), options=OPTS
    )
    assert report.committed and report.recorded == 2
    assert amounts(session_factory, "bike.csv") == {
        ("B1", "2025-03"): 1800,
        ("B2", "2025-03"): 1800,
    }


def test_a_rotated_ref_key_never_grants_twice(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """docs/keys.md: after MILEAGE_REF_KEY is rotated the same feed computes new award ids, yet
    re-importing it records nothing: the database keeps the id each award was recorded with."""
    register(session_factory, tmp_path, ["B1", "B2"])
    feed = write(tmp_path / "bike.csv", HEADER + "B1,2025-01,20,300\nB2,2025-01,20,500\n")
    first = import_feed(session_factory, Program.BIKE, feed, options=OPTS)
    assert first.recorded == 2
    with session_factory() as s:
        before = {m: a for m, a in s.execute(sa.select(Award.member_id, Award.award_id))}
    rotated = IdKeys.from_secrets(b"a" * 32, b"the-new-ref-key-after-rotation-0123").award
    assert awards.award_id(Program.BIKE, "B1", "2025-01", rotated).hex() != before["B1"][2:]
    again = import_feed(session_factory, Program.BIKE, feed, options=FeedOptions(award_key=rotated))
    assert (again.recorded, again.already_recorded) == (0, 2)
    with session_factory() as s:
        assert {m: a for m, a in s.execute(sa.select(Award.member_id, Award.award_id))} == before
