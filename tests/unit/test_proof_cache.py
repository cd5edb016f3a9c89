"""The proof cache's own rules (bridge/proof_cache.py), without a node: bounded, thread-safe,
and never keeping what belongs to a replaced block or does not verify."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from bridge import proof_cache, proofs
from bridge.proof_cache import LruCache, ProofCache
from bridge.rpc import JsonRpc

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ACCOUNT = b"\x11" * 32


class FakeNode(JsonRpc):
    """Answers eth_getBlockByNumber with the hash it currently holds for each number."""

    def __init__(self) -> None:
        super().__init__("http://fake.invalid")
        self.hashes: dict[int, str] = {}
        self.calls: list[str] = []

    def call(self, method: str, params: Sequence[Any]) -> Any:
        self.calls.append(method)
        number = int(params[0], 16)
        return {"number": hex(number), "hash": self.hashes[number]}


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> FakeNode:
    fake = FakeNode()
    fetched: list[int] = []

    def fetch(rpc: Any, contract: str, account: bytes, block: int, *, block_data: Any) -> Any:
        fetched.append(block)
        return {"block_number": block, "block_hash": block_data["hash"], "n": len(fetched)}

    def verify(raw: Any, account: Any, contract: str) -> proofs.ProvenState:
        if raw["block_hash"] == "0xbad":
            raise proofs.ProofError("storage proof does not match the state root")
        return proofs.ProvenState(raw["block_number"], raw["block_hash"], 1, "0x" + "00" * 24)

    monkeypatch.setattr(proof_cache.proofs, "fetch_account_proof", fetch)
    monkeypatch.setattr(proof_cache.proofs, "verify_account_proof", verify)
    return fake


def test_lru_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LruCache[int, int](0)


def test_lru_is_bounded_and_evicts_the_least_recently_used() -> None:
    c = LruCache[int, str](2)
    c.put(1, "a")
    c.put(2, "b")
    assert c.get(1) == "a"  # 1 is now the most recent
    c.put(3, "c")
    assert len(c) == 2 and c.get(2) is None and c.get(1) == "a" and c.get(3) == "c"


def test_lru_stays_bounded_under_concurrent_writers() -> None:
    c = LruCache[int, int](50)

    def work(offset: int) -> None:
        for i in range(2_000):
            c.put(offset + i, i)
            c.get(offset + i - 1)

    threads = [threading.Thread(target=work, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 50


def test_a_proof_is_fetched_once_per_account_and_block(node: FakeNode) -> None:
    node.hashes[7] = "0xaa"
    cache = ProofCache()
    first = cache.account_proof(node, CONTRACT, ACCOUNT, 7, "0xaa")
    assert cache.account_proof(node, CONTRACT, ACCOUNT, 7, "0xAA") is first
    other = cache.account_proof(node, CONTRACT, b"\x22" * 32, 7, "0xaa")
    assert other is not first and node.calls.count("eth_getBlockByNumber") == 1


def test_after_a_reorg_the_header_and_the_proof_are_fetched_again(node: FakeNode) -> None:
    node.hashes[7] = "0xaa"
    cache = ProofCache()
    old = cache.account_proof(node, CONTRACT, ACCOUNT, 7, "0xaa")
    node.hashes[7] = "0xbb"  # block 7 replaced; the indexer now anchors at the new one
    new = cache.account_proof(node, CONTRACT, ACCOUNT, 7, "0xbb")
    assert new.raw["block_hash"] == "0xbb" and new is not old
    assert node.calls.count("eth_getBlockByNumber") == 2


def test_a_proof_of_another_block_than_the_anchor_is_not_cached(node: FakeNode) -> None:
    node.hashes[7] = "0xbb"  # the node has another block 7 than the anchor's
    cache = ProofCache()
    found = cache.account_proof(node, CONTRACT, ACCOUNT, 7, "0xaa")
    assert found.raw["block_hash"] == "0xbb"  # the caller sees the other hash and refuses
    assert len(cache.proofs) == 0


def test_a_proof_that_does_not_verify_is_not_cached(node: FakeNode) -> None:
    node.hashes[7] = "0xbad"
    cache = ProofCache()
    for _ in range(2):
        with pytest.raises(proofs.ProofError, match="state root"):
            cache.account_proof(node, CONTRACT, ACCOUNT, 7)
    assert len(cache.proofs) == 0
