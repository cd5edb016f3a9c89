"""``mileage keys new``, ``mileage bridge run`` and ``mileage bridge status`` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from eth_account import Account
from typer.testing import CliRunner

from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Entry
from ledger.cli import bridge as bridge_cli
from ledger.cli import keys as keys_cli
from ledger.settings import get_settings
from tests.keyring import set_key_env

pytestmark = pytest.mark.chain
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    def set_env(**values: str) -> dict[str, str]:
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        return {**os.environ, **values}

    for var in (
        "MILEAGE_PRIVATE_KEY",
        "MILEAGE_KEYSTORE_PASSWORD",
        "MILEAGE_KEYSTORE_PASSWORD_FILE",
        "MILEAGE_CONTRACT_ADDRESS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MILEAGE_DATA_DIR", str(tmp_path / "data"))
    set_key_env(monkeypatch)
    yield set_env
    get_settings.cache_clear()


def test_keys_new_writes_an_encrypted_keystore(env: Any, tmp_path: Path) -> None:
    keydir = tmp_path / "keys"
    pwfile = tmp_path / "pw"
    pwfile.write_text("s3cret\n")
    env(MILEAGE_KEYSTORE_DIR=str(keydir), MILEAGE_KEYSTORE_PASSWORD_FILE=str(pwfile))
    runner = CliRunner()
    res = runner.invoke(keys_cli.app, ["new", "--role", "issuer-CAR"])
    assert res.exit_code == 0, res.output
    path = keydir / "issuer-CAR.json"
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    data = json.loads(path.read_text())
    key = Account.decrypt(data, "s3cret")
    address = Account.from_key(key).address
    assert address in res.output and key.hex() not in res.output
    again = runner.invoke(keys_cli.app, ["new", "--role", "issuer-CAR"])
    assert again.exit_code == 1 and "exists" in again.output
    bad = runner.invoke(keys_cli.app, ["new", "--role", "issuer-NOPE"])
    assert bad.exit_code == 1


def test_bridge_run_once_and_status(
    env: Any, deployed: Any, session_factory: Any, seed: Any, db_url: str
) -> None:
    seed("CAR", [1000] * 30)
    env(
        MILEAGE_DATABASE_URL=db_url,
        MILEAGE_RPC_URL=deployed.url,
        MILEAGE_CONTRACT_ADDRESS=deployed.address,
        MILEAGE_PRIVATE_KEY=deployed.issuer_keys["CAR"],
        MILEAGE_BATCH_SIZE="10",
    )
    runner = CliRunner()
    before = runner.invoke(bridge_cli.app, ["status", "--json"])
    assert before.exit_code == 0, before.output
    out = json.loads(before.stdout)
    assert out["awards"] == [{"program": "CAR", "state": "pending", "count": 30}]
    assert out["oldest_pending_seconds"]["CAR"] >= 0
    assert out["chain_head"] >= deployed.block_number

    res = runner.invoke(bridge_cli.app, ["run", "--program", "CAR", "--once"])
    assert res.exit_code == 0, res.output
    with session_factory() as s:
        assert set(s.scalars(sa.select(award_state_of()))) == {"final"}
        # the run also indexed the entries (late spends and expiry build their lists from them)
        assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == 30
    after = json.loads(runner.invoke(bridge_cli.app, ["status", "--json"]).stdout)
    assert after["indexer_lag"] == 0, after
    text = runner.invoke(bridge_cli.app, ["status"])
    assert text.exit_code == 0 and "CAR" in text.output and "indexer lag" in text.output


def test_bridge_run_stops_on_sigterm(env: Any, deployed: Any, db_url: str, tmp_path: Path) -> None:
    environ = env(
        MILEAGE_DATABASE_URL=db_url,
        MILEAGE_RPC_URL=deployed.url,
        MILEAGE_CONTRACT_ADDRESS=deployed.address,
        MILEAGE_PRIVATE_KEY=deployed.issuer_keys["CAR"],
        MILEAGE_LOG_JSON="1",
        PYTHONPATH=str(ROOT),
        PYTHONFAULTHANDLER="1",
    )
    log = tmp_path / "bridge.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli.main", "bridge", "run", "--program", "CAR"],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 25
        while "submitter ready" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            if time.monotonic() > deadline:
                proc.send_signal(signal.SIGABRT)
                proc.wait(10)
                pytest.fail(f"bridge did not start: {log.read_text()[-5000:]}")
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e.get("event") == "bridge stopped" for e in lines)


def test_bridge_run_logs_no_line_per_json_rpc_request(
    env: Any, deployed: Any, seed: Any, db_url: str, tmp_path: Path
) -> None:
    """`mileage bridge run` logs what the bridge does, not each HTTP request to the node (the
    indexer's ``eth_getLogs`` client logged one info line per request: 676 of 723 lines)."""
    seed("CAR", [1000] * 30)
    environ = env(
        MILEAGE_DATABASE_URL=db_url,
        MILEAGE_RPC_URL=deployed.url,
        MILEAGE_CONTRACT_ADDRESS=deployed.address,
        MILEAGE_PRIVATE_KEY=deployed.issuer_keys["CAR"],
        MILEAGE_BATCH_SIZE="10",
        MILEAGE_LOG_JSON="1",
        PYTHONPATH=str(ROOT),
    )
    log = tmp_path / "bridge.log"
    with open(log, "w") as err:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ledger.cli.main",
                "bridge",
                "run",
                "--program",
                "CAR",
                "--once",
            ],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
            timeout=120,
        )
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "indexed" for e in events), text[-3000:]  # info lines kept
    chatty = [line for line in text.splitlines() if "HTTP Request" in line or "POST " in line]
    assert chatty == [], chatty[:3]
