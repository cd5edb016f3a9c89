"""Award numbers squatted on chain (issue 13), end to end on SQLite and PostgreSQL.

Another program's issuer key marking this program's numbers does nothing (numbers are per
program); a compromised key of the same program can still take a future number with a made-up
award id: the bridge's award is then skipped on chain (``AwardSkipped``), so the database holds
an award without its GRANT entry. ``mileage reconcile``, ``mileage audit verify``,
``/v1/audit/programs`` and ``mileage bridge status`` must all say so, naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, make_env
from indexer_helpers import LedgerDriver, acct
from typer.testing import CliRunner, Result

from bridge.client import GrantItem
from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Award
from ledger.cli.main import app
from ledger.domain.codes import Program
from ledger.settings import get_settings
from tests.keyring import set_key_env

pytestmark = pytest.mark.chain

SQUATTER = acct("squatter")


@pytest.fixture
def env(
    deployed: Any, session_factory: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ApiEnv]:
    e = make_env(deployed, session_factory, db_url)
    monkeypatch.setenv("MILEAGE_DATABASE_URL", db_url)
    monkeypatch.setenv("MILEAGE_RPC_URL", deployed.url)
    monkeypatch.setenv("MILEAGE_CONTRACT_ADDRESS", deployed.address)
    monkeypatch.setenv("MILEAGE_CONFIRMATIONS", "0")
    set_key_env(monkeypatch)
    get_settings.cache_clear()
    yield e
    e.http.close()
    get_settings.cache_clear()


def mileage(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def squat(deployed: Any, issuer_of: str, program: Program, numbers: list[int]) -> None:
    """``issuer_of``'s key records ``numbers`` in ``program`` with made-up award ids."""
    drv = LedgerDriver(deployed)
    items = [
        GrantItem(bytes.fromhex(SQUATTER[2:]), no, 1, (0xBAD000 + no).to_bytes(32, "big"))
        for no in numbers
    ]
    drv.send(deployed.issuer_keys[issuer_of], deployed.client.grant_batch_data(int(program), items))


def status_of(env: ApiEnv, award_no: int) -> str:
    return str(env.scalar(sa.select(award_state_of()).where(Award.award_no == award_no)))


def test_squatted_number_is_reported_by_every_audit(env: ApiEnv, seed: Any) -> None:
    deployed = env.deployed
    car = seed("CAR", [50_000, 20_000, 30_000], prefix="car")
    bike = seed("BIKE", [1_000, 2_000], prefix="bike")
    # The incident's first half: the ECO_ORG key marks the next CAR and BIKE numbers. Numbers
    # are per program now, so this takes nothing from CAR or BIKE.
    squat(deployed, "ECO_ORG", Program.ECO_ORG, [car[0], *bike])
    # The second half, still possible: a compromised CAR key takes CAR's next-but-one number.
    victim = car[1]
    squat(deployed, "CAR", Program.CAR, [victim])
    env.submit("issuer", "CAR")
    env.submit("issuer", "BIKE")
    env.index()

    # The submitter sees the chain does not hold this award's GRANT: "conflict" (it claims the
    # number but was not granted; an older database may hold such an award as "final").
    assert status_of(env, victim) == "conflict"
    for no in (car[0], car[2], *bike):
        assert status_of(env, no) == "final"
    client = deployed.client
    with env.factory() as s:
        rows = {r.award_no: r for r in s.scalars(sa.select(Award))}
    for no in (car[0], car[2]):
        account = bytes.fromhex(rows[no].account_id[2:])
        assert client.balance_of(account, int(Program.CAR)) == rows[no].amount
    assert client.balance_of(bytes.fromhex(rows[victim].account_id[2:]), int(Program.CAR)) == 0

    named = f"award {victim} (CAR, {rows[victim].award_id})"
    out = mileage("reconcile")
    assert out.exit_code == 1, out.output
    assert named in out.output and "no GRANT entry" in out.output
    assert "1 mined/final/conflict awards without their GRANT entry" in out.output
    for no in (car[0], car[2], *bike):
        assert f"award {no} (" not in out.output

    out = mileage("audit", "verify", "--all")
    assert out.exit_code == 1, out.output
    assert f"AWARD WITHOUT GRANT award {victim} ({rows[victim].award_id}, CAR, 20,000" in (
        out.output
    )
    assert "0 MISMATCH" not in out.output and out.output.count("AWARD WITHOUT GRANT") == 1
    assert "1 WITHOUT A MATCHING GRANT" in out.output

    programs = env.client(env.key("auditor")).programs()
    by_name = {p["program"]: p for p in programs["programs"]}
    assert programs["verdict"] == "mismatch"
    assert by_name["CAR"]["awards_without_grant"] == 1 and not by_name["CAR"]["ok"]
    assert by_name["BIKE"]["awards_without_grant"] == 0 and by_name["BIKE"]["ok"]

    out = mileage("bridge", "status", "--json")
    assert out.exit_code == 1, out.output  # an award in conflict
    assert json.loads(out.stdout)["awards_without_grant"] == {"CAR": 1}
    out = mileage("bridge", "status")
    assert "WARNING: 1 mined/final/conflict award(s) without a matching GRANT" in out.output


def test_clean_ledger_passes_and_a_differing_award_is_named(env: ApiEnv, seed: Any) -> None:
    nos = seed("CAR", [50_000, 20_000], prefix="ok")
    env.submit("issuer", "CAR")
    env.index()
    out = mileage("reconcile")
    assert out.exit_code == 0, out.output
    out = mileage("audit", "verify", "--all")
    assert out.exit_code == 0, out.output
    assert "database awards (mined/final/conflict) against GRANT entries: OK" in out.output
    assert env.client(env.key("auditor")).programs()["verdict"] == "ok"

    # The database's award no longer says what the chain granted (amount edited).
    env.execute(sa.update(Award).where(Award.award_no == nos[1]).values(amount=21_000))
    account = env.scalar(sa.select(Award.account_id).where(Award.award_no == nos[1]))
    differs = f"its GRANT entry differs: 20,000 CAR to {account}"
    out = mileage("reconcile")
    assert out.exit_code == 1, out.output
    assert f"award {nos[1]} (CAR" in out.output and differs in out.output
    out = mileage("audit", "verify", "--all")
    assert out.exit_code == 1, out.output
    assert f"AWARD WITHOUT GRANT award {nos[1]} (" in out.output and differs in out.output
    assert f"award {nos[0]} (" not in out.output
