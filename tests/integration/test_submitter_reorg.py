"""Reorgs while the submitter runs (``anvil_reorg``), and a bridge that stops making progress.

``anvil_reorg`` drops the last blocks and mines empty ones in their place: the dropped
transactions are gone (not back in the pool) and the signer's nonce on the node goes back. The
submitter must notice while running (no restart), send the stored bytes again, and end with every
award on chain exactly once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from prometheus_client import REGISTRY
from submitter_helpers import award_rows, make_submitter, states

from bridge.submitter import Submitter
from ledger.domain.codes import EntryKind

pytestmark = pytest.mark.chain


def grants_by_award_id(deployed: Any) -> Counter[tuple[str, int]]:
    """(award id, amount) → number of GRANT entries on the canonical chain."""
    head = deployed.w3.eth.block_number
    return Counter(
        ("0x" + e.ref.hex(), e.amount)
        for e in deployed.client.entry_logs(deployed.block_number, head)
        if e.kind == EntryKind.GRANT
    )


def drive(sub: Submitter, deployed: Any, *, mine: bool, steps: int = 400) -> None:
    """Step until idle; with ``mine`` an empty block follows each step (confirmations > 0)."""
    for _ in range(steps):
        rep = sub.step()
        if mine:
            deployed.w3.provider.make_request("anvil_mine", [1])
        if not rep.progressed and rep.inflight == 0 and not sub.has_runnable_work():
            return
    pytest.fail(f"submitter not idle after {steps} steps: {states(sub.factory)}")


@pytest.mark.parametrize("confirmations", [0, 6], ids=["conf0", "conf6"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_awards_survive_a_reorg_while_running(
    deployed: Any, session_factory: Any, seed: Any, depth: int, confirmations: int
) -> None:
    rpc = deployed.w3.provider.make_request
    rpc("anvil_mine", [6])  # the reorg drops only blocks of this test
    seed("CAR", [1_000 + i for i in range(100)])
    sub = make_submitter(
        deployed, session_factory, batch_size=25, max_inflight=4, confirmations=confirmations
    )
    for _ in range(3):  # four batches mined, one block each (automine)
        sub.step()
    assert states(session_factory) == {"final" if confirmations == 0 else "mined": 100}
    res = rpc("anvil_reorg", [depth, []])
    assert "error" not in res, res
    # more work arrives; its transactions queue behind the nonces the reorg dropped
    seed("CAR", [2_000 + i for i in range(50)], prefix="late")

    drive(sub, deployed, mine=confirmations > 0)  # the same submitter: no restart

    assert states(session_factory) == {"final": 150}
    on_chain = grants_by_award_id(deployed)
    rows = award_rows(session_factory)
    assert {(r.award_id, r.amount): 1 for r in rows.values()} == dict(on_chain)


def test_a_bridge_without_progress_is_reported_stalled(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    """Transactions in flight that never confirm (here: the node stops mining) raise the stalled
    gauge once ``stall_seconds`` pass without progress; it drops back when they confirm."""
    rpc = deployed.w3.provider.make_request

    def stalled(sender: str) -> float | None:
        return REGISTRY.get_sample_value("mileage_bridge_stalled", {"sender": sender})

    seed("CAR", [100] * 10)
    sub = make_submitter(deployed, session_factory, stall_seconds=0.0)
    rpc("evm_setAutomine", [False])
    try:
        first = sub.step()
        assert first.txs_sent == 1 and first.inflight == 1
        second = sub.step()
        assert second.inflight == 1 and second.stalled
        assert stalled(sub.sender) == 1
        assert (
            REGISTRY.get_sample_value(
                "mileage_bridge_seconds_since_progress", {"sender": sub.sender}
            )
            or 0
        ) > 0
    finally:
        rpc("evm_setAutomine", [True])
    rpc("anvil_mine", [1])
    sub.run_until_idle(timeout=30)
    assert states(session_factory) == {"final": 10}
    assert stalled(sub.sender) == 0
