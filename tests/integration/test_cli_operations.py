"""The operator's CLI against a real anvil node and a real database (SQLite and PostgreSQL):
deploy, members import, feeds import (with a rejects report), mirror, report, account merge,
donation consent, and the expiry run five years later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.anvil import AnvilProcess
from bridge.client import to_bytes32
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.service.runtime import Runtime
from ledger.settings import get_settings
from tests.integration.cli_helpers import acc, cli, cli_env, mirror, write
from tests.integration.conftest import ADMIN_KEY


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnvilProcess]:
    with cli_env(db_url, tmp_path, monkeypatch, ADMIN_KEY, deploy=False) as node:
        yield node


def test_operator_journey(env: AnvilProcess, tmp_path: Path) -> None:
    assert "deployed: MileageLedger" in cli("deploy")
    assert "already deployed" in cli("deploy")

    members = write(
        tmp_path / "members.csv",
        """
member_id,program,citizen_id,district,donation_consent,joined_at
H1,ECO_HOUSEHOLD,C1,Mapo-gu,true,2019-03-02
V1,CAR,C1,Mapo-gu,true,2019-03-02
V2,CAR,C2,Jung-gu,false,2020-07-15
""",
    )
    assert "members created: 3" in cli("members", "import", str(members))
    assert "unchanged: 3" in cli("members", "import", str(members))

    car = write(
        tmp_path / "car.csv",
        """
member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,seoul_registered,commercial,seats
V1,11GA1111,2025-05,2025-10,6000,4500,true,false,5
V2,22NA2222,2025-05,2025-10,5000,4000,true,false,5
V9,99DA9999,2025-05,2025-10,5000,4000,true,false,5
V2,22NA2222,2025-05,2025-10,5000,-3
""",
    )
    out = cli("feeds", "import", "--program", "CAR", str(car), code=2)
    assert "rejected 2" in out and "nothing was recorded" in out  # all or nothing
    rejects = (tmp_path / "car.rejects.csv").read_text()
    assert "car.csv,4," in rejects and "unknown member" in rejects
    assert "car.csv,5," in rejects

    # After fixing the file: the good rows are recorded, once.
    fixed = write(
        tmp_path / "car-fixed.csv",
        """
member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,seoul_registered,commercial,seats
V1,11GA1111,2025-05,2025-10,6000,4500,true,false,5
V2,22NA2222,2025-05,2025-10,5000,4000,true,false,5
""",
    )
    assert "recorded 2 awards" in cli("feeds", "import", "--program", "CAR", str(fixed))

    rt = Runtime.open(get_settings())
    mirror(rt, ADMIN_KEY)
    client = rt.client
    # V1: 1,500 km of 6,000 = 25 % -> 50,000; V2: 1,000 km of 5,000 = 20 % -> 50,000.
    assert client.balance_of(acc("C1"), Program.CAR) == 50_000
    assert client.balance_of(acc("C2"), Program.CAR) == 50_000

    report = cli("report")
    assert "CAR" in report and "Mapo-gu" in report and "100,000" in report
    header = next(ln for ln in report.splitlines() if ln.startswith("program ") and " year" in ln)
    assert " refunded " in header  # refunds give back deductions (issue 15)
    # GHG: 1,500 + 1,000 km not driven x 0.2289 kgCO2/km (docs/feeds.md) = 0.572 tCO2.
    figures = json.loads(cli("report", "--format", "json"))
    assert figures["ghg"]["CAR"]["km"] == "2500" and figures["ghg"]["CAR"]["tco2"] == "0.572"
    car_year = next(f for f in figures["fiscal_years"] if f["program"] == "CAR")
    assert car_year["awarded"] == car_year["outstanding"] == car_year["issued"] == 100_000
    assert "section,key,period,metric,value" in cli("report", "--format", "csv")

    # Importing the fixed file again grants nothing twice.
    assert "recorded 0 awards" in cli("feeds", "import", "--program", "CAR", str(fixed))

    # Account integration: C2's account merges into C1's.
    assert "merged:" in cli("members", "merge", "--from-citizen", "C2", "--into-citizen", "C1")
    assert "already merged" in cli(
        "members", "merge", "--from-citizen", "C2", "--into-citizen", "C1"
    )
    assert client.balance_of(acc("C1"), Program.CAR) == 100_000
    assert client.balance_of(acc("C2"), Program.CAR) == 0
    assert client.account_state(acc("C2")).successor == acc("C1")

    # The import queued C1's consent and the bridge sent it; the repair finds nothing to do.
    assert client.account_state(acc("C1")).donation is True
    assert "queued for 0 accounts" in cli("members", "sync-consent")

    # Five years and a day later, the unspent CAR mileage expires (as a donation: consent).
    w3 = rt.w3
    w3.provider.make_request("evm_increaseTime", [1827 * 86400])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert "100,000 mileage expired" in cli("expire", "--program", "CAR")
    assert client.balance_of(acc("C1"), Program.CAR) == 0
    entries = client.entry_logs(0, w3.eth.block_number, [acc("C1")])
    last = entries[-1]
    assert last.kind == EntryKind.EXPIRY and last.reason == Reason.EXPIRY_DONATION
    assert to_bytes32("0x" + last.account.hex()) == acc("C1")


def test_deployment_of_another_contract_version_is_refused(env: AnvilProcess) -> None:
    """A deployment recorded from an older contract (another ABI) is not silently misread."""
    import sqlalchemy as sa

    from bridge.errors import DeploymentError
    from ledger.adapters.orm import Deployment

    cli("deploy")
    rt = Runtime.open(get_settings())
    with rt.sessions() as s, s.begin():
        s.execute(sa.update(Deployment).values(abi_hash="ab" * 32))
    with pytest.raises(DeploymentError, match="another version of the contract"):
        _ = Runtime.open(get_settings()).client
    out = cli("expire", "--program", "CAR", code=1)
    assert "another version of the contract" in out and "Traceback" not in out
