"""The demo's donation consent, end to end: `mileage run` imports the demo members and its bridge
sends their consent to the chain with no extra command; five years later `mileage expire`
records a consenting member's lapsed mileage as EXPIRY_DONATION and a non-consenting one's as
EXPIRY, and `mileage audit verify` agrees with every expiry's reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from bridge.anvil import free_port
from bridge.chain import make_web3
from bridge.client import LedgerClient, to_bytes32
from ledger.domain.codes import AWARDED_PROGRAMS, EntryKind, Reason
from tests.e2e.test_embedded_run import MILEAGE, _start, _stop, _wait_ready

pytestmark = pytest.mark.slow


def _mileage(data: Path, anvil_port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MILEAGE_DATA_DIR": str(data),
        "MILEAGE_ANVIL_PORT": str(anvil_port),
        # the embedded run's own keystores (ledger.service.embedded.ensure_local_keys)
        "MILEAGE_KEYSTORE_PASSWORD_FILE": str(data / "keys" / ".password"),
    }
    for var in ("MILEAGE_RPC_URL", "MILEAGE_DATABASE_URL", "MILEAGE_CONTRACT_ADDRESS"):
        env.pop(var, None)
    return subprocess.run(
        [MILEAGE, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_demo_consent_reaches_chain_and_decides_the_expiry_reason(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "run.log"
    anvil_port, api_port = free_port(), free_port()
    proc = _start(data, anvil_port, api_port, log)
    try:
        _wait_ready(proc, log, f"http://127.0.0.1:{api_port}")
        engine = sa.create_engine(f"sqlite:///{data / 'ledger.db'}")
        with engine.connect() as c:
            accounts = dict(
                c.execute(sa.text("SELECT account_id, donation_consent FROM accounts")).all()
            )
            contract = c.execute(
                sa.text("SELECT address FROM deployments ORDER BY id DESC LIMIT 1")
            ).scalar_one()
            evidence = c.execute(
                sa.text("SELECT DISTINCT terms_version, channel FROM consent_history WHERE consent")
            ).all()
        engine.dispose()
        assert evidence == [("donation-terms-2025-01", "app")]
        consenting = {a for a, c in accounts.items() if c}
        assert consenting and len(consenting) < len(accounts)
        w3 = make_web3(f"http://127.0.0.1:{anvil_port}")
        client = LedgerClient(w3, contract)
        # `mileage run` mirrored the outbox before serving: consent is on chain, no extra command
        chain = {a: client.account_state(to_bytes32(a)).donation for a in accounts}
        assert {a for a, c in chain.items() if c} == consenting

        w3.provider.make_request("evm_increaseTime", [1827 * 86400])
        w3.provider.make_request("evm_mine", [])
        for program in AWARDED_PROGRAMS:
            done = _mileage(data, anvil_port, "expire", "--program", program.name)
            assert done.returncode == 0, done.stdout + done.stderr

        reasons: dict[str, set[Reason]] = {}
        for ev in client.entry_logs(0, w3.eth.block_number):
            if ev.kind == EntryKind.EXPIRY:
                reasons.setdefault("0x" + ev.account.hex(), set()).add(Reason(ev.reason))
        donated = {a for a, r in reasons.items() if r == {Reason.EXPIRY_DONATION}}
        lapsed = {a for a, r in reasons.items() if r == {Reason.EXPIRY}}
        assert donated and lapsed and donated | lapsed == set(reasons)
        assert donated <= consenting and not lapsed & consenting

        audit = _mileage(data, anvil_port, "audit", "verify")
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert "MISMATCH" not in audit.stdout
    finally:
        _stop(proc)
