"""Property (issue 13.5): whatever the sequence of BIKE feeds (file names with `%` and `_`, the
same name twice, overlapping members and months), the production import never pays a member
more than 2,000 in a month or 16,000 in a calendar year, on a real SQLite database."""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.adapters.db import make_engine, make_sessionmaker
from ledger.adapters.orm import Award
from ledger.domain.codes import Program
from ledger.domain.rules.bike import MONTHLY_CAP, YEARLY_CAP
from ledger.feeds import FeedOptions
from ledger.service.feeds import import_feed
from ledger.service.members import import_members
from tests.keyring import KEYS

KEY = b"feed-caps-property-account-key-32"
MEMBERS = ["B1", "B2"]

names = st.text(alphabet="%_a.", min_size=1, max_size=2).map(lambda s: s + ".csv")
rides = st.tuples(
    st.sampled_from(MEMBERS),
    st.sampled_from([2024, 2025, 2025, 2025, 2025, 2025]),
    st.integers(1, 12),
    st.sampled_from([9, 10, 25, 25]),  # ride days (under 10 earns nothing)
    st.sampled_from(
        [0, 400, 700, 2_000, 2_000, 2_000]
    ),  # minutes: 3 per minute, capped at 2,000 a month
)
feeds = st.lists(st.tuples(names, st.lists(rides, min_size=4, max_size=30)), min_size=2, max_size=6)

OPTS = FeedOptions(award_key=KEYS.award)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(feeds=feeds)
def test_bike_caps_hold_over_any_sequence_of_feeds(
    _sqlite_template: Path, feeds: list[tuple[str, list[tuple[str, int, int, int, int]]]]
) -> None:
    with tempfile.TemporaryDirectory(prefix="caps-") as tmp:
        root = Path(tmp)
        shutil.copyfile(_sqlite_template, root / "ledger.db")
        engine = make_engine(f"sqlite:///{root / 'ledger.db'}")
        try:
            factory = make_sessionmaker(engine)
            members = root / "members.csv"
            members.write_text(
                "member_id,program,citizen_id,district,donation_consent,joined_at\n"
                + "".join(f"{m},BIKE,C-{m},D01,false,2020-01-01\n" for m in MEMBERS),
                encoding="utf-8",
            )
            assert not import_members(factory, members, KEY).rejects
            for n, (name, rows) in enumerate(feeds):
                folder = root / f"feed{n}"  # the same file name may come again
                folder.mkdir()
                path = folder / name
                path.write_text(
                    "member_id,month,ride_days,ride_minutes\n"
                    + "".join(f"{m},{y}-{mo:02d},{d},{mi}\n" for m, y, mo, d, mi in rows),
                    encoding="utf-8",
                )
                import_feed(factory, Program.BIKE, path, options=OPTS)
            with factory() as s:
                awards = s.execute(sa.select(Award.member_id, Award.period, Award.amount)).all()
        finally:
            engine.dispose()
    per_year: dict[tuple[str, str], int] = defaultdict(int)
    per_month: dict[tuple[str, str], int] = defaultdict(int)
    for member, period, amount in awards:
        per_year[(member, period[:4])] += amount
        per_month[(member, period)] += amount
    assert all(total <= YEARLY_CAP for total in per_year.values()), dict(per_year)
    assert all(total <= MONTHLY_CAP for total in per_month.values()), dict(per_month)
