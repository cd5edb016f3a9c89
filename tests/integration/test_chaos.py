"""Crash safety: the bridge killed with SIGKILL at random moments, the node stopped mid-run.

After everything, the chain must hold exactly the expected balances and every award number must
have exactly one GRANT entry, whatever the crashes interrupted (claim, sign, store, send, confirm).
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from bridge_worker import assert_chain_matches, spawn, wait_ready  # type: ignore[import-not-found]

from bridge.anvil import AnvilProcess
from bridge.chain import make_web3
from bridge.client import LedgerClient
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Award, ChainTx
from ledger.settings import Settings

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_sigkill_chaos(
    deployed: Any, session_factory: Any, seed: Any, db_url: str, tmp_path: Path
) -> None:
    """8,000 awards; the bridge process is SIGKILLed at random moments at least 10 times (a kill
    within 0.3 s of each start; should the awards all be final before the 10th kill, 2,000 more
    are added, so the kills always interrupt work in progress)."""
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "5")))
    accounts = [f"0x{i + 1:064x}" for i in range(1000)]
    amounts = [rng.randint(1, 70) * 1000 for _ in range(8000)]
    seed("CAR", amounts, accounts=accounts)
    key = deployed.issuer_keys["CAR"]

    kills = 0
    runs = 0
    t0 = time.monotonic()
    while True:
        runs += 1
        log = tmp_path / "worker.log"
        proc = spawn(db_url, deployed, "CAR", key, "--batch-size", "50", log=log)
        try:
            ready = wait_ready(proc)
            if kills < 12 and ready:
                time.sleep(rng.uniform(0.02, 0.3))
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(10)
                    kills += 1
                    continue
            rc = proc.wait(300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert rc == 0, f"worker exited with {rc}: {log.read_text()[-3000:]}"
        with session_factory() as s:
            left = s.scalar(
                sa.select(sa.func.count()).select_from(Award).where(award_state_of() != "final")
            )
        if left == 0 and kills >= 10:
            break
        if left == 0:
            # The run outpaced the kills (the kill timing depends on the machine's speed): more
            # work, so that the 10 kills always happen while awards are in flight.
            refill = [rng.randint(1, 70) * 1000 for _ in range(2000)]
            seed("CAR", refill, accounts=accounts, prefix=f"refill{runs}-")
        assert runs < 60, f"{left} awards still not final after {runs} runs"
    elapsed = time.monotonic() - t0
    assert kills >= 10
    assert_chain_matches(deployed.client, session_factory, deployed.block_number)
    with session_factory() as s:
        txs = s.execute(sa.select(ChainTx.status, sa.func.count()).group_by(ChainTx.status)).all()
    print(f"\nchaos: {kills} SIGKILLs, {runs} runs, {elapsed:.1f}s, txs by state {dict(txs)}")


def complete_state(path: Path | None, timeout: float = 10.0) -> bytes:
    """The state file's bytes once they parse as JSON (anvil may be halfway through a dump)."""
    assert path is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = path.read_bytes()
            json.loads(data)
            return data
        except (OSError, ValueError):
            assert time.monotonic() < deadline, "no complete state file"
            time.sleep(0.05)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_node_restart_mid_run(
    tmp_path: Path, session_factory: Any, seed: Any, deploy: Any, how: str
) -> None:
    """anvil is stopped in the middle of a run and started again on the same port from its state
    file: the bridge waits, reconnects and completes. ``stop``: a graceful stop (state saved);
    ``kill``: SIGKILL, the state file is up to 2 s old, so the chain forgets transactions the
    bridge already saw mined: the bridge resends the stored bytes."""
    node = AnvilProcess(state_file=tmp_path / "state.json", log_file=tmp_path / "anvil.log")
    node.start()
    try:
        w3 = make_web3(node.url, timeout=5)
        dep = deploy(w3, node.url)
        accounts = [f"0x{i + 1:064x}" for i in range(300)]
        # Enough transactions that the run is still going when the node goes down (a batch to
        # existing accounts mines in a few ms, and the submitter sends ~200 a second): 8,000
        # awards in batches of 10 = 800 transactions, several seconds of work.
        seed("ECO_HOUSEHOLD", [10_000] * 8000, accounts=accounts)
        sub = Submitter(
            session_factory,
            LedgerClient(w3, dep.address),
            signer_from_key(dep.issuer_keys["ECO_HOUSEHOLD"], "issuer-ECO_HOUSEHOLD"),
            Settings(batch_size=10, confirmations=0),
        )
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["report"] = sub.run_until_idle(timeout=180, max_backoff=1.0)
            except BaseException as exc:  # reported to the test thread
                result["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        while True:  # let it land some batches first
            with session_factory() as s:
                done = s.scalar(
                    sa.select(sa.func.count()).select_from(Award).where(award_state_of() == "final")
                )
            if done and done >= 400:
                break
            time.sleep(0.05)
        t_stop = time.monotonic()
        assert worker.is_alive(), "the run ended before the node went down: seed more awards"
        if how == "kill":
            # a crash: the node comes back from an older (but complete) state file. anvil writes
            # the file in place, so a SIGKILL can truncate it: keep a parseable copy to restore.
            time.sleep(0.3)
            saved = complete_state(node.state_file)
            time.sleep(0.5)
            # still running, or the node goes down after the run and the test proves nothing
            # (a finished run no longer watches the transactions it called final)
            assert worker.is_alive(), "the run ended before the node went down: seed more awards"
            node.kill()
            node.state_file.write_bytes(saved)
        else:
            node.stop()
        time.sleep(2.0)
        node.start()
        t_restarted = time.monotonic()
        worker.join(200)
        print(
            f"\nnode down {t_restarted - t_stop:.1f}s; finished "
            f"{time.monotonic() - t_restarted:.1f}s after restart; report {result.get('report')}"
        )
        assert not worker.is_alive()
        assert "error" not in result, result.get("error")
        # anvil restores its log history only as well as its state file (a stop can persist the
        # effect of a pooled transaction without its block): check exactly-once on account state
        # (entry counts per account) rather than on logs
        assert_chain_matches(
            LedgerClient(w3, dep.address),
            session_factory,
            dep.block_number,
            check_logs=False,
        )
    finally:
        node.stop()
