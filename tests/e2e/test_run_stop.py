"""Stopping ``mileage run`` is clean (issue 13 item 4), and its data dir is private (item 10).

- SIGTERM (systemd, Docker, Kubernetes) and SIGINT (Ctrl-C), while serving or while still
  loading: exit code 0, the API, the bridge and anvil stopped, the chain state saved; the next
  start resumes on the same chain with the same balances.
- SIGKILL of ``mileage run``: its anvil goes too (it saves its state), and the next start comes
  up with no manual step, every award on chain exactly once.
- A node on the port that is not ours: a clear error, exit code 1, that node left alone.

Waits poll with generous deadlines (a loaded 2-core machine): nothing asserts on a duration.
"""

from __future__ import annotations

import json
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from mileage_run import MileageRun, assert_chain_matches, poll  # type: ignore[import-not-found]

from bridge.anvil import AnvilProcess, rpc_ready
from bridge.chain import make_web3
from bridge.client import LedgerClient
from ledger.adapters.award_state import award_state_of
from ledger.adapters.db import make_engine, make_sessionmaker
from ledger.adapters.orm import Award, Deployment

pytestmark = pytest.mark.slow


@pytest.fixture
def run(tmp_path: Path) -> Iterator[MileageRun]:
    r = MileageRun(tmp_path / "data", tmp_path / "run.log")
    try:
        yield r
    finally:
        r.cleanup()


def assert_all_stopped(run: MileageRun) -> None:
    poll(lambda: not run.node_pids(), f"anvil outlived mileage run: {run.node_pids()}", 30)
    assert not rpc_ready(run.rpc, 0.5)
    assert not rpc_ready(run.api, 0.5)
    assert not run.pid_file.exists(), "a clean stop leaves no pid file"


def saved_block(run: MileageRun) -> int:
    return int(json.loads(run.state_file.read_text())["block"]["number"], 16)


def final_awards(run: MileageRun) -> int:
    engine = make_engine(f"sqlite:///{run.data / 'ledger.db'}")
    try:
        with engine.connect() as c:
            q = sa.select(sa.func.count()).select_from(Award).where(award_state_of() == "final")
            return int(c.scalar(q) or 0)
    finally:
        engine.dispose()


def assert_awards_on_chain_exactly_once(run: MileageRun) -> None:
    engine = make_engine(f"sqlite:///{run.data / 'ledger.db'}")
    try:
        sessions = make_sessionmaker(engine)
        with sessions() as s:
            dep = s.query(Deployment).order_by(Deployment.id.desc()).first()
        assert dep is not None
        client = LedgerClient(make_web3(run.rpc), dep.address)
        assert_chain_matches(client, sessions, dep.block_number)
    finally:
        engine.dispose()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_everything_saves_the_chain_and_resumes(
    run: MileageRun, sig: signal.Signals
) -> None:
    run.start().wait_ready()
    balances = run.balances()
    assert run.node_pids() == [run.node_pid_recorded()]
    assert run.signal(sig) == 0, run.output()[-4000:]
    assert_all_stopped(run)
    block = saved_block(run)
    assert block > 0, "the chain state was not saved"
    for path in (run.data, run.data / "keys"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (run.data / "ledger.db", run.state_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    run.start().wait_ready()
    assert "reusing MileageLedger" in run.output()
    assert "0 awards recorded" in run.output()
    assert run.balances() == balances
    assert make_web3(run.rpc).eth.block_number >= block
    assert run.signal(sig) == 0, run.output()[-4000:]
    assert_all_stopped(run)


def test_sigterm_while_loading_stops_cleanly_and_the_next_start_completes(
    run: MileageRun,
) -> None:
    run.citizens = 400
    run.start().wait_for("demo feed")  # the import runs; the bridge has not mirrored it yet
    assert run.signal(signal.SIGTERM) == 0, run.output()[-4000:]
    assert_all_stopped(run)
    run.start().wait_ready()
    assert_awards_on_chain_exactly_once(run)
    assert run.signal(signal.SIGTERM) == 0
    assert_all_stopped(run)


def test_after_a_sigkill_the_node_goes_and_the_restart_has_every_award_once(
    run: MileageRun,
) -> None:
    run.citizens = 400
    run.start().wait_for("demo feed BIKE")  # the import is done, the bridge mirrors it now
    poll(lambda: final_awards(run) > 0 or "outbox mirrored" in run.output(), "no award final")
    assert run.proc is not None
    run.proc.kill()  # SIGKILL: none of mileage run's own cleanup runs
    run.proc.wait(60)
    poll(lambda: not run.node_pids(), "anvil outlived its SIGKILLed parent", 30)
    assert saved_block(run) > 0
    run.start().wait_ready()  # no manual step: no "port already serving"
    assert "reusing MileageLedger" in run.output()
    assert_awards_on_chain_exactly_once(run)
    assert run.signal(signal.SIGTERM) == 0
    assert_all_stopped(run)


def test_a_node_that_is_not_ours_on_the_port_is_refused(run: MileageRun) -> None:
    with AnvilProcess(port=run.anvil_port) as foreign:
        run.start()
        assert run.proc is not None
        assert run.proc.wait(120) == 1
        out = run.output()
        assert f"error: port {run.anvil_port} is already serving JSON-RPC" in out, out
        assert "MILEAGE_ANVIL_PORT" in out
        assert rpc_ready(foreign.url), "the foreign node must be left alone"
