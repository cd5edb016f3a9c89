"""Two bridge processes at once never submit the same award.

- PostgreSQL, one program, two issuer keys: the claims (``FOR UPDATE SKIP LOCKED`` + lease) split
  the queue between the processes;
- any database, two programs: each process serves its own lane.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from bridge_worker import assert_chain_matches, spawn, wait_ready  # type: ignore[import-not-found]

from ledger.adapters.orm import Award, ChainTx

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def run_workers(procs: list[Any], logs: list[Path]) -> None:
    for p in procs:
        wait_ready(p)
    for p, log in zip(procs, logs, strict=True):
        rc = p.wait(300)
        assert rc == 0, f"worker exited with {rc}: {log.read_text()[-3000:]}"


def no_skips(deployed: Any) -> None:
    """No award was ever sent twice: the contract reported no AwardSkipped."""
    from eth_utils import keccak

    topic = "0x" + keccak(text="AwardSkipped(uint64,bytes32,bytes32)").hex()
    logs = deployed.w3.eth.get_logs(
        {
            "address": deployed.address,
            "fromBlock": deployed.block_number,
            "toBlock": "latest",
            "topics": [topic],
        }
    )
    assert logs == []


def test_two_processes_same_program_postgres(
    deployed: Any, session_factory: Any, seed: Any, db_url: str, db_kind: str, tmp_path: Path
) -> None:
    if db_kind != "postgres":
        pytest.skip("two workers on one program need PostgreSQL row locks (SKIP LOCKED)")
    accounts = [f"0x{i + 1:064x}" for i in range(400)]
    seed("CAR", [1000 + i for i in range(2000)], accounts=accounts)
    second_key = deployed.spare_key
    deployed.grant_issuer("CAR", second_key)
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    procs = [
        spawn(
            db_url, deployed, "CAR", deployed.issuer_keys["CAR"], "--batch-size", "50", log=logs[0]
        ),
        spawn(db_url, deployed, "CAR", second_key, "--batch-size", "50", log=logs[1]),
    ]
    run_workers(procs, logs)
    with session_factory() as s:
        per_sender = dict(
            s.execute(sa.select(ChainTx.sender, sa.func.count()).group_by(ChainTx.sender)).all()
        )
        tx_of = dict(s.execute(sa.select(Award.award_no, Award.tx_id)).all())
    assert len(per_sender) == 2 and all(n > 0 for n in per_sender.values()), per_sender
    assert all(t is not None for t in tx_of.values())
    no_skips(deployed)
    assert_chain_matches(deployed.client, session_factory, deployed.block_number)
    print(f"\ntransactions per worker: {per_sender}")


def test_two_processes_two_programs(
    deployed: Any, session_factory: Any, seed: Any, db_url: str, tmp_path: Path
) -> None:
    seed("CAR", [2000] * 600, prefix="c")
    seed("BIKE", [100] * 600, prefix="b")
    logs = [tmp_path / "car.log", tmp_path / "bike.log"]
    procs = [
        spawn(
            db_url, deployed, "CAR", deployed.issuer_keys["CAR"], "--batch-size", "50", log=logs[0]
        ),
        spawn(
            db_url,
            deployed,
            "BIKE",
            deployed.issuer_keys["BIKE"],
            "--batch-size",
            "50",
            log=logs[1],
        ),
    ]
    run_workers(procs, logs)
    with session_factory() as s:
        programs = collections.Counter(s.execute(sa.select(ChainTx.sender, ChainTx.program)).all())
    assert {p for _, p in programs} == {"CAR", "BIKE"}
    assert len({snd for snd, _ in programs}) == 2
    no_skips(deployed)
    assert_chain_matches(deployed.client, session_factory, deployed.block_number)
