"""The feed import against a real database (SQLite and PostgreSQL): BIKE's yearly cap across
feeds, from the grouped per-year lookup of what earlier feeds accrued (or awarded before
accruals existed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Award, AwardWindow, BikeAccrual, Member
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.keys import IdKeys
from ledger.feeds import FeedOptions
from ledger.feeds.formats import COLUMNS
from ledger.feeds.pipeline import EARNED_CHUNK
from ledger.feeds.reader import read_rows
from ledger.service.bike_accruals import earned_lookup
from ledger.service.feeds import FeedReport, import_feed, record_awards
from ledger.service.members import import_members
from tests.keyring import KEYS

KEY = b"feed-import-test-account-key-32b"
HEADER = "member_id,month,ride_days,ride_minutes,pass_365\n"
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
    """The BIKE months ``source`` accrued."""
    with factory() as s:
        rows = s.execute(
            sa.select(
                BikeAccrual.member_id, BikeAccrual.month, BikeAccrual.amount, BikeAccrual.source
            )
        )
        return {(m, p): a for m, p, a, src in rows if src.rpartition(":")[0] == source}


def test_bike_yearly_cap_counts_earlier_feeds(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    members = [f"B{i:04d}" for i in range(EARNED_CHUNK + 5)]  # more than one lookup chunk
    register(session_factory, tmp_path, members)
    # feed 1: seven months at the monthly cap (2,000 each) for every member: 14,000 in 2025
    months = [f"2025-{m:02d}" for m in range(1, 8)]
    rows = [(m, mo) for mo in months for m in members if (m, mo) != (members[-1], "2025-07")]
    first = HEADER + "".join(f"{m},{mo},20,1000,true\n" for m, mo in rows)
    # the last member's July was awarded before accruals existed (a monthly award), and that
    # award failed on chain: it no longer counts toward the cap
    with session_factory() as s, s.begin():
        s.add(
            Award(
                award_id="0x" + "ab" * 32,
                program="BIKE",
                member_id=members[-1],
                account_id="0x" + "cd" * 32,
                period="2025-07",
                amount=2_000,
                status="failed",
            )
        )
    rep1 = import_feed(
        session_factory, Program.BIKE, write(tmp_path / "bike-h1.csv", first), options=OPTS
    )
    assert rep1.recorded == 7 * len(members) - 1 and rep1.rejected == 0
    # feed 2: August and September; only 2,000 of the 16,000 is left (4,000 for the last member),
    # and 2026 starts from zero
    second = HEADER + "".join(
        f"{m},{mo},20,1000,true\n" for mo in ("2025-08", "2025-09", "2026-01") for m in members
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
    feed = (
        HEADER
        + "B1,2025-01,20,300,true\nB1,2025-02,20,400,true\n"
        + "B2,2025-01,20,500,true\nB3,2024-12,20,100,true\n"
    )
    import_feed(session_factory, Program.BIKE, write(tmp_path / "bike.csv", feed), options=OPTS)
    with session_factory() as s:
        lookup = earned_lookup(s)
        assert sorted(lookup(2025, ["B1", "B2", "B3", "B9"])) == [
            ("B1", 1, 900),
            ("B1", 2, 1_200),
            ("B2", 1, 1_500),
        ]
        assert list(lookup(2024, ["B3"])) == [("B3", 12, 300)]


def bike_total(factory: sessionmaker[Session], member: str, year: int) -> int:
    with factory() as s:
        rows = s.execute(
            sa.select(BikeAccrual.month, BikeAccrual.amount).where(BikeAccrual.member_id == member)
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
    first = HEADER + "".join(f"B1,2025-{m:02d},20,1000,true\n" for m in range(1, 8))
    second = HEADER + "".join(f"B1,2025-{m:02d},20,1000,true\n" for m in range(8, 13))
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
    good = HEADER + "".join(f"{m},2025-03,20,600,true\n" for m in members)
    path = tmp_path / "late.csv"
    path.write_bytes(good.encode() + b"B0001,2025-04,20,6\xff0,true\n")
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
    bad = HEADER + 'B1,2025-03,20,600,true\n"B2\nX",2025-03,20,600,true\nB2,2025-13,20,600,true\n'
    report = import_feed(
        session_factory, Program.BIKE, write(tmp_path / "bike.csv", bad), options=OPTS
    )
    # the record on lines 3-4 (a quoted line break) is reported on line 3, the next on line 5
    assert [r.line for r in report.rejects] == [3, 5]
    assert "U+000A" in report.rejects[0].reason
    assert amounts(session_factory, "bike.csv") == {}
    fixed = HEADER + "B1,2025-03,20,600,true\nB2,2025-03,20,600,true\n"
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
    re-importing it records nothing: accruals are recognised by member and month."""
    register(session_factory, tmp_path, ["B1", "B2"])
    feed = write(tmp_path / "bike.csv", HEADER + "B1,2025-01,20,300,true\nB2,2025-01,20,500,true\n")
    first = import_feed(session_factory, Program.BIKE, feed, options=OPTS)
    assert first.recorded == 2
    before = amounts(session_factory, "bike.csv")
    rotated = IdKeys.from_secrets(b"a" * 32, b"the-new-ref-key-after-rotation-0123").award
    assert awards.award_id(Program.BIKE, "B1", "2025-01", rotated) != awards.award_id(
        Program.BIKE, "B1", "2025-01", KEYS.award
    )
    again = import_feed(session_factory, Program.BIKE, feed, options=FeedOptions(award_key=rotated))
    assert (again.recorded, again.already_recorded) == (0, 2)
    assert amounts(session_factory, "bike.csv") == before


def test_the_feeds_registry_read_once_gives_what_a_batchs_member_lookup_gives(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A feed reads the BIKE registry (accounts, sign-up days) once (`windows.registry`); a
    batch naming its members looks them up per chunk (`windows.members_of`). Same rejects
    (sign-up after the month started, naming the line), same accruals, same counts."""
    lines = ["member_id,program,citizen_id,district,donation_consent,joined_at"]
    lines += ["B1,BIKE,C-B1,D01,false,2020-01-01", "B2,BIKE,C-B2,D01,false,2025-03-15"]
    lines += ["B3,BIKE,C-B3,D01,false,2025-04-01"]
    report = import_members(
        session_factory, write(tmp_path / "m.csv", "\n".join(lines) + "\n"), KEY
    )
    assert report.accounts_created == 3
    rows = ["B1,2025-03,20,100,true", "B2,2025-03,20,100,true", "B2,2025-04,20,100,true"]
    rows += ["B3,2025-03,20,100,true", "B3,2025-04,20,100,true", "B1,2025-04,20,100,true"]
    bad = write(tmp_path / "bad.csv", HEADER + "\n".join(rows) + "\n")
    columns = COLUMNS[Program.BIKE]

    def run(path: Path, batch: bool) -> FeedReport:
        return record_awards(
            session_factory,
            Program.BIKE,
            str(path),
            lambda: read_rows(path, columns),
            source=path.name,
            options=OPTS,
            members={"B1", "B2", "B3"} if batch else None,
        )

    feed, batch = run(bad, False), run(bad, True)
    assert [(r.line, r.reason) for r in feed.rejects] == [(r.line, r.reason) for r in batch.rejects]
    assert [(r.line, r.reason[:40]) for r in feed.rejects] == [
        (3, "joined_at: the member signed up on 2025-"),
        (5, "joined_at: the member signed up on 2025-"),
    ]
    assert "2025-03-15" in feed.rejects[0].reason and "2025-04-01" in feed.rejects[1].reason
    assert not feed.committed and not batch.committed
    # without the rows before sign-up: the feed records, then the batch finds it recorded
    good = [r for i, r in enumerate(rows) if i not in (1, 3)]
    first = run(write(tmp_path / "good.csv", HEADER + "\n".join(good[:2]) + "\n"), False)
    second = run(write(tmp_path / "good2.csv", HEADER + "\n".join(good) + "\n"), True)
    assert (first.recorded, first.already_recorded, first.recorded_amount) == (2, 0, 600)
    assert (second.recorded, second.already_recorded, second.recorded_amount) == (2, 2, 600)
    with session_factory() as s:
        got = {
            (m, mo): (acc, a, tier, src)
            for m, mo, acc, a, tier, src in s.execute(
                sa.select(
                    BikeAccrual.member_id,
                    BikeAccrual.month,
                    BikeAccrual.account_id,
                    BikeAccrual.amount,
                    BikeAccrual.tier,
                    BikeAccrual.source,
                )
            )
        }
        accounts = dict(s.execute(sa.select(Member.member_id, Member.account_id)).all())
    assert got == {
        ("B1", "2025-03"): (accounts["B1"], 300, "per_minute", "good.csv:2"),
        ("B2", "2025-04"): (accounts["B2"], 300, "per_minute", "good.csv:3"),
        ("B3", "2025-04"): (accounts["B3"], 300, "per_minute", "good2.csv:4"),
        ("B1", "2025-04"): (accounts["B1"], 300, "per_minute", "good2.csv:5"),
    }


def test_a_rejected_feed_leaves_no_award_window_behind(
    session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing, windows included: the first rows' chunk occupies its windows (a
    savepoint) before a later row is rejected. On SQLite that savepoint was the transaction's
    first write, so its RELEASE committed the windows on their own: the rejected feed left
    windows without awards, and the fixed file then failed on them (UNIQUE constraint)."""
    import ledger.service.feeds as feeds

    monkeypatch.setattr(feeds, "CHUNK", 1)  # the first row is recorded before the bad one
    lines = ["member_id,program,citizen_id,district,donation_consent,joined_at"]
    lines += [f"{m},CAR,C-{m},D01,false,2020-01-01" for m in ("V1", "V2")]
    import_members(session_factory, write(tmp_path / "members.csv", "\n".join(lines) + "\n"), KEY)
    header = "member_id,vehicle_id,seoul_registered,commercial,seats,"
    header += "period_start,period_end,baseline_km,actual_km\n"
    good = "V1,11-CAR,true,false,5,2025-05,2025-10,8000,6000\n"
    bad = header + good + "V2,22-CAR,true,false,5,2025-05,2025-10,8000,lots\n"
    report = import_feed(
        session_factory, Program.CAR, write(tmp_path / "car.csv", bad), options=OPTS
    )
    assert report.rejected == 1 and not report.committed
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AwardWindow)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(Award)) == 0
    fixed = header + good + "V2,22-CAR,true,false,5,2025-05,2025-10,8000,7000\n"
    report = import_feed(
        session_factory, Program.CAR, write(tmp_path / "car.csv", fixed), options=OPTS
    )
    assert report.committed and report.recorded == 2
