"""The feed import against a real database (SQLite and PostgreSQL): BIKE's yearly cap across
feeds, from the grouped per-year lookup of what earlier feeds awarded."""

from __future__ import annotations

from pathlib import Path

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
    lines = ["member_id,program,citizen_id,district,donation_consent"]
    lines += [f"{m},BIKE,C-{m},D01,false" for m in members]
    report = import_members(factory, write(tmp_path / "members.csv", "\n".join(lines) + "\n"), KEY)
    assert report.accounts_created == len(members)


def amounts(factory: sessionmaker[Session], source: str) -> dict[tuple[str, str], int]:
    with factory() as s:
        rows = s.execute(
            sa.select(Award.member_id, Award.period, Award.amount).where(
                Award.source.like(f"{source}:%")
            )
        )
        return {(m, p): a for m, p, a in rows}


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
    # importing feed 2 again: its own rows do not count against it, nothing is recorded twice
    again = import_feed(session_factory, Program.BIKE, path2, options=OPTS)
    assert again.recorded == 0 and again.already_recorded == rep2.recorded
    assert amounts(session_factory, "bike-h2.csv") == got


def test_earned_before_lookup_groups_per_member(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    register(session_factory, tmp_path, ["B1", "B2", "B3"])
    feed = HEADER + "B1,2025-01,20,300\nB1,2025-02,20,400\nB2,2025-01,20,500\nB3,2024-12,20,100\n"
    import_feed(session_factory, Program.BIKE, write(tmp_path / "bike.csv", feed), options=OPTS)
    lookup = bike_earned_before(session_factory)
    assert sorted(lookup(2025, ["B1", "B2", "B3", "B9"])) == [("B1", 2_100), ("B2", 1_500)]
    assert lookup(2024, ["B3"]) == [("B3", 300)]
    assert bike_earned_before(session_factory, exclude_source="bike.csv")(2025, ["B1"]) == []


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
