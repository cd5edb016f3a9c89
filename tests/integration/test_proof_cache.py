"""Proof reads cached per block (bridge/proof_cache.py): a cached proof is the node's proof, a
new block gives a new proof, and the /proof endpoint serves the cached one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_harness import ApiEnv, acct, make_env

from api.client import ErrorAnswer, verify_proof
from api.services.proofs import proof_cache
from bridge import proofs
from bridge.client import to_bytes32
from bridge.proof_cache import ProofCache
from bridge.rpc import JsonRpc, NodeUnreachable, RpcError

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)


@pytest.fixture
def env(deployed: Any, session_factory: Any, db_url: str) -> Iterator[ApiEnv]:
    e = make_env(deployed, session_factory, db_url)
    e.grant("CAR", ALICE, [20_000])
    yield e
    e.http.close()


def _hash(env: ApiEnv, number: int) -> str:
    return str(env.deployed.w3.eth.get_block(number)["hash"].to_0x_hex())


def test_cached_proof_is_the_fresh_one_and_a_new_block_gives_a_new_proof(env: ApiEnv) -> None:
    w3, addr, a = env.deployed.w3, env.deployed.address, to_bytes32(ALICE)
    rpc = JsonRpc.of_web3(w3)
    cache = ProofCache()
    n1 = w3.eth.block_number
    first = cache.account_proof(rpc, addr, a, n1, _hash(env, n1))
    assert first.raw == proofs.fetch_account_proof(rpc, addr, a, n1)
    assert first.state.balances["CAR"] == 20_000 and first.state.count == 1
    again = cache.account_proof(rpc, addr, a, n1, _hash(env, n1))
    assert again is first and cache.proofs.hits == 1

    env.grant("CAR", ALICE, [5_000])
    n2 = w3.eth.block_number
    assert n2 > n1
    second = cache.account_proof(rpc, addr, a, n2, _hash(env, n2))
    assert second.raw == proofs.fetch_account_proof(rpc, addr, a, n2)
    assert second.raw["block_hash"] != first.raw["block_hash"]
    assert second.state.count == 2 and second.state.balances["CAR"] == 25_000
    # the older block's proof is still the older state
    assert cache.account_proof(rpc, addr, a, n1, _hash(env, n1)).state.count == 1


def test_proof_endpoint_serves_the_cached_proof_until_the_anchor_moves(env: ApiEnv) -> None:
    auditor = env.client(env.key("auditor"))
    p1 = auditor.proof(ALICE)
    assert auditor.proof(ALICE) == p1
    cache = proof_cache(env.app.state.ctx)
    assert cache.proofs.hits >= 1
    assert verify_proof(p1, ALICE).balances["CAR"] == 20_000
    env.grant("CAR", ALICE, [5_000])
    p2 = auditor.proof(ALICE)
    assert p2["anchor"]["block_number"] > p1["anchor"]["block_number"]
    state = verify_proof(p2, ALICE, trusted_block_hash=_hash(env, p2["anchor"]["block_number"]))
    assert state.count == 2 and state.balances["CAR"] == 25_000


def test_proof_of_an_unreachable_node_is_a_503_naming_the_transport(env: ApiEnv) -> None:
    """A node that does not answer is the shared transport error, answered as 503."""
    ctx = env.app.state.ctx
    auditor = env.client(env.key("auditor"))
    real = ctx._rpc
    ctx._rpc = JsonRpc("http://127.0.0.1:9", timeout=1.0)  # nothing listens on the discard port
    proof_cache(ctx).proofs._data.clear()
    try:
        with pytest.raises(ErrorAnswer) as err:
            auditor.proof(ALICE)
    finally:
        ctx._rpc.close()
        ctx._rpc = real
    assert err.value.status == 503 and "chain unreachable: ConnectError" in err.value.message
    with pytest.raises(NodeUnreachable):
        proofs.fetch_block(JsonRpc("http://127.0.0.1:9", timeout=1.0), 1)


def test_a_block_the_node_lacks_is_an_rpc_error_not_a_proof_error(env: ApiEnv) -> None:
    rpc = JsonRpc.of_web3(env.deployed.w3)
    with pytest.raises(RpcError, match="not found") as err:
        proofs.fetch_block(rpc, env.deployed.w3.eth.block_number + 1_000)
    assert not isinstance(err.value, proofs.ProofError)
