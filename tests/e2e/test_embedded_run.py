"""`mileage run` (what `make run` starts), end to end, as a user would drive it:

start it on a fresh data dir, wait for the API, read a demo account's balances with the printed
key, check them against the contract at the anchored block, stop with Ctrl-C (SIGINT), start it
again: same chain, same contract, same balances, nothing granted twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bridge.anvil import free_port, rpc_ready
from bridge.chain import make_web3
from bridge.client import LedgerClient, to_bytes32

pytestmark = pytest.mark.slow
MILEAGE = str(Path(sys.executable).parent / "mileage")


def _start(data_dir: Path, anvil_port: int, api_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MILEAGE_DATA_DIR": str(data_dir),
        "MILEAGE_ANVIL_PORT": str(anvil_port),
        "MILEAGE_API_PORT": str(api_port),
    }
    for var in ("MILEAGE_RPC_URL", "MILEAGE_DATABASE_URL", "MILEAGE_CONTRACT_ADDRESS"):
        env.pop(var, None)
    return subprocess.Popen(
        [MILEAGE, "run", "--citizens", "120"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, api: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mileage run exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        text = log.read_text(errors="replace")
        if "Things to try" in text and text.count("Things to try") > _wait_ready.seen:
            try:
                if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                    _wait_ready.seen += 1
                    return text
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    pytest.fail(f"mileage run did not come up:\n{log.read_text()[-4000:]}")


_wait_ready.seen = 0  # type: ignore[attr-defined]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("mileage run did not stop on Ctrl-C within 60 s")


def _read(api: str, text: str) -> tuple[str, dict[str, object], dict[str, object]]:
    block = text[text.rindex("Things to try") :]
    account = re.findall(r"Demo account (0x[0-9a-f]{64})", text)[-1]
    wallet_key = re.search(r"Bearer (\S+)' \S+/balances", block)
    assert wallet_key, block
    headers = {"Authorization": f"Bearer {wallet_key.group(1)}"}
    balances = httpx.get(f"{api}/v1/accounts/{account}/balances", headers=headers, timeout=10)
    assert balances.status_code == 200, balances.text
    history = httpx.get(f"{api}/v1/accounts/{account}/history", headers=headers, timeout=10)
    assert history.status_code == 200, history.text
    # the development sign-in (embedded only): the printed token reads the same account
    dev = re.search(r"DEVELOPMENT ONLY[\s\S]*?Bearer (\S+)' \S+/v1/me/balances", block)
    assert dev, block
    mine = httpx.get(
        f"{api}/v1/me/balances", headers={"Authorization": f"Bearer {dev.group(1)}"}, timeout=10
    )
    assert mine.status_code == 200, mine.text
    assert {**mine.json(), "anchor": None} == {**balances.json(), "anchor": None}  # anchor may move
    return account, balances.json(), history.json()


def _anchor(body: dict[str, object]) -> dict[str, object]:
    anchor = body.get("anchor", body)
    assert isinstance(anchor, dict)
    return anchor


def test_make_run_serves_verifiable_balances_and_resumes(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "run.log"
    anvil_port, api_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"

    proc = _start(data, anvil_port, api_port, log)
    try:
        text = _wait_ready(proc, log, api)
        account, balances, history = _read(api, text)
        anchor = _anchor(balances)
        assert {"chain_id", "contract", "block_number", "block_hash"} <= anchor.keys()
        assert _anchor(history)["block_hash"]
        # The API's answer equals the contract's state at the anchored block.
        w3 = make_web3(f"http://127.0.0.1:{anvil_port}")
        client = LedgerClient(w3, str(anchor["contract"]))
        block = int(str(anchor["block_number"]))
        assert w3.eth.get_block(block)["hash"].hex().removeprefix("0x") == str(
            anchor["block_hash"]
        ).removeprefix("0x")
        on_chain = client.balances_of(to_bytes32(account), block)
        served = {p["program"]: int(p["balance"]) for p in balances["balances"]}  # type: ignore[index,union-attr]
        from ledger.domain.codes import Program

        assert {Program(code).name: v for code, v in on_chain.items() if v} == {
            k: v for k, v in served.items() if v
        }
        assert sum(on_chain.values()) > 0
    finally:
        _stop(proc)
    assert not rpc_ready(f"http://127.0.0.1:{anvil_port}", 0.5), "anvil outlived mileage run"
    first_text = log.read_text()

    proc = _start(data, anvil_port, api_port, log)
    try:
        text = _wait_ready(proc, log, api)
        second = text[len(first_text) :]
        assert "reusing MileageLedger" in second
        assert (
            re.findall(r"demo feed \S+\s*:\s+(\d+) (?:awards|monthly accruals) recorded", second)
            == ["0"] * 6
        )
        account2, balances2, _ = _read(api, text)
        assert account2 == account
        assert balances2["balances"] == balances["balances"]
    finally:
        _stop(proc)
