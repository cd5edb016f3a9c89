"""Receipts in the submitter: one JSON-RPC batch for the transactions in flight (one call each
when the node refuses batches), and only the ``AwardSkipped`` logs of a receipt decoded."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from submitter_helpers import award_rows, make_submitter, states

from bridge import skips
from bridge.rpc import NodeUnreachable, RpcError

pytestmark = pytest.mark.chain


class Counting:
    """Wraps a submitter's JsonRpc: counts the calls per method, single and batched."""

    def __init__(self, rpc: Any, *, refuse_batch: bool = False) -> None:
        self.rpc = rpc
        self.refuse_batch = refuse_batch
        self.calls: dict[str, int] = {}
        self.batches: dict[str, list[int]] = {}

    def call(self, method: str, params: Any) -> Any:
        self.calls[method] = self.calls.get(method, 0) + 1
        return self.rpc.call(method, params)

    def batch(self, method: str, params_list: Any) -> list[Any]:
        self.batches.setdefault(method, []).append(len(params_list))
        if self.refuse_batch:
            raise RpcError(method, "batch requests are not supported")
        return list(self.rpc.batch(method, params_list))


def interval_mining(deployed: Any, on: bool) -> None:
    rpc = deployed.w3.provider.make_request
    if on:
        rpc("evm_setAutomine", [False])
        rpc("evm_setIntervalMining", [1])
    else:
        rpc("evm_setIntervalMining", [0])
        rpc("evm_setAutomine", [True])


@pytest.mark.parametrize("refuse", [False, True], ids=["batch", "node-refuses-batches"])
def test_receipts_of_the_batches_in_flight_come_in_one_request(
    deployed: Any, session_factory: Any, seed: Any, refuse: bool
) -> None:
    """Four batches share a block: their receipts are asked for in JSON-RPC batches, not one
    call each; a node that refuses batches gets one call each, with the same outcome."""
    seed("CAR", [1000 + i for i in range(120)])
    sub = make_submitter(deployed, session_factory, batch_size=30, max_inflight=4)
    counting = Counting(sub.rpc, refuse_batch=refuse)
    sub.rpc = counting  # type: ignore[assignment]
    interval_mining(deployed, True)
    try:
        rep = sub.run_until_idle(timeout=60)
    finally:
        interval_mining(deployed, False)
    assert states(session_factory) == {"final": 120}
    assert rep.txs_sent == 4 and rep.awards_mined == 120 and rep.txs_mined == 4
    batched = counting.batches.get("eth_getTransactionReceipt", [])
    assert batched and max(batched) == 4
    singles = counting.calls.get("eth_getTransactionReceipt", 0)
    if refuse:
        assert singles >= 4  # every receipt still read, one call each
    else:
        assert singles == 0
    rows = award_rows(session_factory)
    assert len({r.tx_id for r in rows.values()}) == 4


def test_a_node_unreachable_for_the_batch_is_a_chain_error_then_resumes(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    seed("CAR", [1000 + i for i in range(90)])
    sub = make_submitter(deployed, session_factory, batch_size=30, max_inflight=4)
    counting = Counting(sub.rpc)
    sub.rpc = counting  # type: ignore[assignment]
    failing = {"n": 1}

    def batch(method: str, params_list: Any) -> list[Any]:
        if failing["n"]:
            failing["n"] -= 1
            raise NodeUnreachable(method, "ConnectError", "refused", "http://node")
        return Counting.batch(counting, method, params_list)

    counting.batch = batch  # type: ignore[method-assign]
    interval_mining(deployed, True)
    try:
        first = sub.step()
        assert first.chain_error and "eth_getTransactionReceipt" in first.chain_error
        assert states(session_factory) == {"sent": 90}  # sent, their receipts not read
        rep = sub.run_until_idle(timeout=60)
    finally:
        interval_mining(deployed, False)
    assert states(session_factory) == {"final": 90}
    assert rep.txs_replaced == 0 and rep.txs_reverted == 0


def _reference_award_nos(dec: skips.SkipDecoder, receipt: dict[str, Any]) -> list[int]:
    """The decoder as it was: every log's first topic and address compared, lowercased."""
    return [
        int(dec._args(lg)["awardNo"])
        for lg in receipt.get("logs", [])
        if lg.get("topics")
        and str(lg["topics"][0]).lower() == dec.topic
        and str(lg.get("address", "")).lower() == dec.address
    ]


def test_skip_decoder_reads_the_skips_among_entry_logs(deployed: Any) -> None:
    """A receipt mixing EntryRecorded logs, AwardSkipped logs of the ledger (topics in either
    case), AwardSkipped-like logs of another contract and logs without topics: the skipped award
    numbers, in log order, exactly as the decoder that compared every log."""
    dec = skips.SkipDecoder.of(deployed.client)
    abi = dec.abi
    plain = [i for i in abi["inputs"] if not i.get("indexed")]
    indexed = [i for i in abi["inputs"] if i.get("indexed")]
    rng = random.Random(3)
    entry_topic = "0x" + bytes(deployed.client.entry_topic).hex()
    other = "0x" + "99" * 20

    def skip_log(no: int, address: str, upper: bool) -> dict[str, Any]:
        def value(inp: dict[str, Any]) -> Any:
            if inp["name"] == "awardNo":
                return no
            return rng.randbytes(32) if inp["type"] == "bytes32" else rng.randrange(256)

        topics = [dec.topic.upper().replace("0X", "0x") if upper else dec.topic]
        for inp in indexed:
            topics.append("0x" + abi_encode([inp["type"]], [value(inp)]).hex())
        data = abi_encode([i["type"] for i in plain], [value(i) for i in plain])
        return {"address": address, "topics": topics, "data": "0x" + data.hex()}

    logs: list[dict[str, Any]] = []
    for n in range(300):
        r = rng.random()
        if r < 0.8:
            logs.append(
                {
                    "address": dec.address,
                    "topics": [entry_topic, "0x" + rng.randbytes(32).hex()],
                    "data": "0x" + rng.randbytes(64).hex(),
                }
            )
        elif r < 0.9:
            addr = dec.address.upper().replace("0X", "0x") if rng.random() < 0.5 else dec.address
            logs.append(skip_log(n, addr, upper=rng.random() < 0.5))
        elif r < 0.95:
            logs.append(skip_log(10_000 + n, other, upper=False))
        else:
            logs.append({"address": dec.address, "topics": [], "data": "0x"})
    receipt = {"logs": logs}
    want = _reference_award_nos(dec, receipt)
    assert len(want) > 10
    assert dec.award_nos(receipt) == want
    assert all(n < 10_000 for n in want)
    assert dec.award_nos({"logs": []}) == [] and dec.award_nos({}) == []
