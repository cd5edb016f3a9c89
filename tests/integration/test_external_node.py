"""MILEAGE_RPC_URL pointed at another JSON-RPC node works unchanged: a Hardhat node here
(free gas, as on the production Besu network)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.anvil import ROOT, free_port, rpc_ready
from ledger.domain.codes import Program
from ledger.service.runtime import Runtime
from ledger.settings import get_settings
from tests.integration.cli_helpers import acc, cli, mirror, write
from tests.integration.conftest import ADMIN_KEY
from tests.keyring import set_key_env


@pytest.fixture
def hardhat_node(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "hardhat.log").open("wb")
    proc = subprocess.Popen(
        ["npx", "--no-install", "hardhat", "node", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not rpc_ready(url, 0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"hardhat node did not start: {(tmp_path / 'hardhat.log').read_text()}")
        time.sleep(0.3)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def test_ledger_runs_unchanged_on_a_hardhat_node(
    hardhat_node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MILEAGE_RPC_URL", hardhat_node)
    monkeypatch.setenv("MILEAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("MILEAGE_PRIVATE_KEY", ADMIN_KEY)
    set_key_env(monkeypatch)
    get_settings.cache_clear()
    try:
        assert "deployed: MileageLedger" in cli("deploy")
        members = write(
            tmp_path / "members.csv",
            """
member_id,program,citizen_id,district,donation_consent,joined_at
B1,BIKE,C1,Seocho-gu,false,2020-01-01
""",
        )
        cli("members", "import", str(members))
        rides = write(
            tmp_path / "bike.csv",
            """
member_id,month,ride_days,ride_minutes
B1,2025-04,12,400
B1,2025-03,15,900
""",
        )
        assert "recorded 2 awards" in cli("feeds", "import", "--program", "BIKE", str(rides))
        rt = Runtime.open(get_settings())
        mirror(rt, ADMIN_KEY)
        # March: 900 min x 3 = 2,700, capped at 2,000; April: 400 x 3 = 1,200.
        assert rt.client.balance_of(acc("C1"), Program.BIKE) == 3_200
        assert rt.client.account_state(acc("C1")).count == 2
    finally:
        get_settings.cache_clear()
