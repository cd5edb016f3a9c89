"""Outside the embedded demo every command that touches data refuses to start without the city's
secrets, naming the variable, before it opens the database (docs/keys.md). Seen on main:
`members import` against an external RPC and database silently used the public demo key."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.main import create_app
from ledger.domain.errors import KeyNotConfigured
from ledger.domain.keys import DEMO_ACCOUNT_KEY, DEMO_REF_KEY
from ledger.settings import Settings, get_settings
from tests.integration.cli_helpers import cli, write
from tests.keyring import ACCOUNT_KEY, REF_KEY

MISSING = "error: MILEAGE_ACCOUNT_KEY is not set (or is the public demo key); set it to a 32-byte"
ACCOUNT = "0x" + "ab" * 32


def _commands(tmp_path: Path) -> list[list[str]]:
    members = write(
        tmp_path / "members.csv",
        "member_id,program,citizen_id,district,donation_consent\n1,BIKE,C0000001,D01,false",
    )
    bike = write(tmp_path / "bike.csv", "member_id,month,ride_days,ride_minutes\n1,2025-05,20,300")
    return [
        ["members", "import", str(members)],
        ["members", "merge", "--from-citizen", "C1", "--into-citizen", "C2"],
        ["members", "sync-consent"],
        ["feeds", "import", str(bike), "--program", "BIKE", "--no-progress"],
        ["awards", "compute", "--program", "BIKE", str(bike)],
        ["deploy"],
        ["report", "--year", "2025"],
        ["expire", "--program", "BIKE"],
        ["bridge", "run"],
        ["bridge", "status"],
        ["reconcile"],
        ["correct", "1"],
        ["apikeys", "create", "x", "-s", "wallet", "--account", ACCOUNT],
        ["apikeys", "list"],
        ["apikeys", "revoke", "1"],
        ["admin", "programs"],
        ["admin", "roles"],
        ["admin", "pause"],
        ["admin", "set-budget", "--program", "BIKE", "--year", "2025", "--budget", "1"],
        ["run", "--no-serve"],
    ]


@pytest.fixture
def external(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An external chain (nothing listens there) and database, no keys; returns the database
    file, which a refusing command must not even create."""
    db = tmp_path / "ledger.db"
    monkeypatch.setenv("MILEAGE_RPC_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MILEAGE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("MILEAGE_DATA_DIR", str(tmp_path / "data"))
    for name in ("MILEAGE_ACCOUNT_KEY", "MILEAGE_REF_KEY", "MILEAGE_CONTRACT_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def test_every_data_command_refuses_without_the_keys(external: Path, tmp_path: Path) -> None:
    for argv in _commands(tmp_path):
        out = cli(*argv, code=2 if argv[0] == "reconcile" else 1)  # reconcile: 2 on any error
        assert MISSING in out, (argv, out)
        assert "docs/keys.md" in out, argv
        assert not external.exists(), argv  # refused before the database was opened
        assert not (tmp_path / "data").exists(), argv


def test_only_a_database_url_is_not_the_demo_either(
    external: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MILEAGE_RPC_URL")
    get_settings.cache_clear()
    out = cli("members", "import", str(_commands(tmp_path)[0][2]), code=1)
    assert MISSING in out and not external.exists()


@pytest.mark.parametrize(
    ("account", "ref", "variable"),
    [
        (DEMO_ACCOUNT_KEY, REF_KEY, "MILEAGE_ACCOUNT_KEY"),
        (ACCOUNT_KEY, None, "MILEAGE_REF_KEY"),
        (ACCOUNT_KEY, DEMO_REF_KEY, "MILEAGE_REF_KEY"),
    ],
    ids=["demo-account-key", "no-ref-key", "demo-ref-key"],
)
def test_the_public_demo_keys_are_refused_by_name(
    external: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    ref: str | None,
    variable: str,
) -> None:
    monkeypatch.setenv("MILEAGE_ACCOUNT_KEY", account)
    if ref is not None:
        monkeypatch.setenv("MILEAGE_REF_KEY", ref)
    get_settings.cache_clear()
    out = cli("members", "import", str(_commands(tmp_path)[0][2]), code=1)
    assert f"error: {variable} is not set (or is the public demo key)" in out
    assert not external.exists()


def test_with_the_keys_the_same_command_runs(
    external: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MILEAGE_ACCOUNT_KEY", ACCOUNT_KEY)
    monkeypatch.setenv("MILEAGE_REF_KEY", REF_KEY)
    get_settings.cache_clear()
    out = cli("members", "import", str(_commands(tmp_path)[0][2]))
    assert "accounts created: 1, members created: 1" in out and external.exists()


def test_the_api_refuses_to_start_without_the_keys(external: Path) -> None:
    with pytest.raises(KeyNotConfigured, match=r"^MILEAGE_ACCOUNT_KEY is not set"):
        create_app(Settings())
    assert not external.exists()
