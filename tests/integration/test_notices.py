"""``mileage notices``: expiring mileage, award confirmations and usage-rise notices for the
city's messaging system, CSV (formula cells neutralised) or JSON, only citizen id, account,
amounts and dates."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct
from cli_helpers import cli
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Account, Award, AwardFlag, Entry
from ledger.domain.accounts import account_id
from ledger.domain.codes import Program
from ledger.feeds.formats import USAGE_COLUMNS, FeedOptions
from ledger.service import notices
from ledger.service.feeds import import_feed
from ledger.service.members import import_members
from ledger.settings import get_settings
from tests.keyring import KEYS, set_key_env

KEY = KEYS.account
KST = timezone(timedelta(hours=9))
FEED = (
    ",".join(USAGE_COLUMNS) + "\n"
    "H1,2024-01,2024-06,900,1000,1000,90,100,100,,,,,,\n"  # 10 % less: 30,000
    "H2,2024-01,2024-06,1200,1000,1000,,,,120,100,100,,,\n"  # +20 %: notice, no award
    "H3,2024-01,2024-06,1150,1000,1000,,,,115,100,100,,,\n"  # +15 %: notice, no award
)


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.setenv("MILEAGE_DATABASE_URL", db_url)
    set_key_env(monkeypatch)
    monkeypatch.setenv("MILEAGE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def test_usage_rise_is_recorded_at_import_and_listed(
    cli_db: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    members = tmp_path / "members.csv"
    members.write_text(
        "member_id,program,citizen_id,district,donation_consent,joined_at\n"
        "H1,ECO_HOUSEHOLD,citizen-1,Mapo,false,2023-01-01\n"
        "H2,ECO_HOUSEHOLD,=HYPERLINK(1),Mapo,false,2023-01-01\n"  # must not run as a formula
        "H3,ECO_HOUSEHOLD,citizen-3,Jung,false,2023-01-01\n",
        encoding="utf-8",
    )
    import_members(session_factory, members, KEY)
    opts = FeedOptions(award_key=KEYS.award)
    broken = tmp_path / "broken.csv"
    broken.write_text(FEED + "H9,2024-01,2024-06,x,1,1,1,1,1,,,,,,\n", encoding="utf-8")
    assert not import_feed(session_factory, Program.ECO_HOUSEHOLD, broken, options=opts).committed
    with session_factory() as s:  # a rejected feed records nothing, its notices neither
        assert s.execute(sa.select(sa.func.count()).select_from(AwardFlag)).scalar() == 0
    feed = tmp_path / "household-2024h1.csv"
    feed.write_text(FEED, encoding="utf-8")
    import_feed(session_factory, Program.ECO_HOUSEHOLD, feed, options=opts)
    import_feed(session_factory, Program.ECO_HOUSEHOLD, feed, options=opts)  # again: nothing new
    with session_factory() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(AwardFlag)).scalar() == 2
    out = tmp_path / "notices.csv"
    assert "2 notices" in cli(
        "notices", "usage-rise", "--period", "2024-01..2024-06", "-o", str(out)
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["citizen_id", "account", "program", "period", "recorded_at"]
    by_citizen = {r["citizen_id"]: r for r in rows}
    assert set(by_citizen) == {"'=HYPERLINK(1)", "citizen-3"}
    assert by_citizen["citizen-3"]["account"] == "0x" + account_id("citizen-3", KEY).hex()
    assert by_citizen["citizen-3"]["recorded_at"].endswith("+09:00")
    cli("notices", "usage-rise", "--period", "2024-01..2024-06", "--format", "json", "-o", str(out))
    as_json = json.loads(out.read_text(encoding="utf-8"))
    assert {r["citizen_id"] for r in as_json} == {"=HYPERLINK(1)", "citizen-3"}  # JSON: raw
    assert "0 notices" in cli("notices", "usage-rise", "--period", "2024-07..2024-12")
    bad = cli("notices", "usage-rise", "--period", "x", "--program", "SEOUL", code=1)
    assert "not an awarded program" in bad
    bad = cli("notices", "usage-rise", "--period", "x", "--format", "xml", code=1)
    assert "format" in bad


def test_award_confirmations_are_final_indexed_awards(env: ApiEnv) -> None:
    alice, bob = acct(0xA11CE), acct(0xB0B)
    env.grant("ECO_HOUSEHOLD", alice, [30_000], period="2024-01..2024-06")
    env.grant("ECO_HOUSEHOLD", bob, [10_000], period="2024-01..2024-06")
    env.grant("ECO_HOUSEHOLD", bob, [50_000], period="2024-07..2024-12")  # another round
    env.grant("CAR", alice, [20_000], period="2024-01..2024-06")  # another program
    env.execute(sa.update(Award).where(Award.account_id == bob, Award.amount == 10_000)
                .values(status="failed"))  # fmt: skip
    rows = notices.awards(env.factory, Program.ECO_HOUSEHOLD, "2024-01..2024-06")
    assert [(r.account, r.amount) for r in rows] == [(alice, 30_000)]
    with env.factory() as s:
        ts = s.execute(sa.select(Entry.timestamp).where(Entry.account_id == alice)).scalars()
        citizen = s.get(Account, alice).citizen_id  # type: ignore[union-attr]
    assert rows[0].citizen_id == citizen
    assert datetime.fromisoformat(rows[0].awarded_at) == datetime.fromtimestamp(min(ts), UTC)
    assert rows[0].awarded_at.endswith("+09:00")


def test_expiring_lists_what_lapses_within_the_horizon(env: ApiEnv) -> None:
    alice, bob = acct(0xA11CE), acct(0xB0B)
    env.grant("BIKE", alice, [2_000])
    env.mine(30 * 86400)
    env.grant("CAR", bob, [70_000])  # lapses a month later: outside the horizon
    validity = env.deployed.client.program_config(4).validity
    with env.factory() as s:
        granted = s.execute(
            sa.select(Entry.timestamp).where(Entry.account_id == alice)
        ).scalar_one()
    lapses = granted + validity

    def lookup(program: int) -> int:
        return env.deployed.client.program_config(program).validity

    now = lapses - 10 * 86400 - 60
    assert notices.expiring(env.factory, 9, now=now, validity=lookup) == []
    rows = notices.expiring(env.factory, 11, now=now, validity=lookup)
    assert [(r.account, r.program, r.amount) for r in rows] == [(alice, "BIKE", 2_000)]
    assert rows[0].expires_on == datetime.fromtimestamp(lapses, KST).date().isoformat()
    # spend part of it first: only the rest lapses (the API's FIFO replay)
    integ = env.client(env.key("integrator"))
    integ.deduct(alice, "BIKE", 500, "BIKE_PASS", acct(7), idempotency_key="n-1")
    env.submit("spender")
    env.index()
    rows = notices.expiring(env.factory, 11, now=now, validity=lookup)
    assert [(r.account, r.amount) for r in rows] == [(alice, 1_500)]
    assert {r.citizen_id for r in rows} == {f"citizen:{alice[2:]}"}
