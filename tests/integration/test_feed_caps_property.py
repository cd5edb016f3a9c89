"""Property (issue 13.5, issue 14.4): whatever the sequence of BIKE feeds (file names with `%`
and `_`, the same name twice, overlapping members and months, pass holders or not) and of
payouts in between (any cadence, any month), the production import never accrues a member more
than 2,000 in a month or 16,000 in a calendar year, the payouts never pay more than 16,000 per
member-year, and what the payouts paid is exactly what accrued (the months a payout could not
pay, because their period was paid before they accrued, are reported as late), on a real
SQLite database."""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.adapters.db import make_engine, make_sessionmaker
from ledger.adapters.orm import Award, BikeAccrual
from ledger.domain.codes import Program
from ledger.domain.rules.bike import MONTHLY_CAP, YEARLY_CAP
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.feeds import FeedOptions
from ledger.service.bike_accruals import pay
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
    st.sampled_from(["true", "true", "true", "false"]),  # the 365-day pass
)
payouts = st.tuples(st.sampled_from(list(Cadence)), st.integers(2024 * 12, 2025 * 12 + 11))
feeds = st.lists(
    st.tuples(names, st.lists(rides, min_size=4, max_size=30), payouts), min_size=2, max_size=6
)
TODAY = YearMonth(2026, 3)

OPTS = FeedOptions(award_key=KEYS.award)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(feeds=feeds)
def test_bike_caps_hold_over_any_sequence_of_feeds(
    _sqlite_template: Path,
    feeds: list[tuple[str, list[tuple[str, int, int, int, int, str]], tuple[Cadence, int]]],
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
            for n, (name, rows, (cadence, through)) in enumerate(feeds):
                folder = root / f"feed{n}"  # the same file name may come again
                folder.mkdir()
                path = folder / name
                path.write_text(
                    "member_id,month,ride_days,ride_minutes,pass_365\n"
                    + "".join(f"{m},{y}-{mo:02d},{d},{mi},{p}\n" for m, y, mo, d, mi, p in rows),
                    encoding="utf-8",
                )
                import_feed(factory, Program.BIKE, path, options=OPTS)
                month = YearMonth(through // 12, through % 12 + 1)
                pay(factory, cadence, month, KEYS.award, today=TODAY)
            final = pay(factory, Cadence.YEARLY, YearMonth(2025, 12), KEYS.award, today=TODAY)
            with factory() as s:
                accrued = s.execute(
                    sa.select(
                        BikeAccrual.member_id,
                        BikeAccrual.month,
                        BikeAccrual.amount,
                        BikeAccrual.award_id,
                    )
                ).all()
                paid = s.execute(sa.select(Award.member_id, Award.period, Award.amount)).all()
        finally:
            engine.dispose()
    per_year: dict[tuple[str, str], int] = defaultdict(int)
    for member, month, amount, _ in accrued:
        assert amount <= MONTHLY_CAP
        per_year[(member, month[:4])] += amount
    assert all(total <= YEARLY_CAP for total in per_year.values()), dict(per_year)
    paid_year: dict[tuple[str, str], int] = defaultdict(int)
    for member, period, amount in paid:
        paid_year[(member, period[:4])] += amount
    assert all(total <= YEARLY_CAP for total in paid_year.values()), dict(paid_year)
    assert sum(a for *_, a in paid) == sum(a for _, _, a, aid in accrued if aid is not None)
    late = {(m, p) for m, p in final.late}
    unpaid = {(m, mo[:4]) for m, mo, a, aid in accrued if aid is None and a > 0}
    assert unpaid <= late, (unpaid, late)  # every accrued month is paid, or reported late
