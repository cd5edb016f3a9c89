"""Caches of the proof reads (``GET .../proof``): a block's header per block, and an account's
verified proof per (contract, account, block).

A proof at a given block never changes, and every ``/proof`` answer between two indexer steps
is at the same anchor block: the header is asked of the node once per block instead of once per
request, and an account's proof once per block instead of once per read. Both caches are bounded
LRUs behind a lock (the API serves reads from a thread pool).

A header is keyed by block number and checked against the anchor's block hash when one is given:
after a reorg the number names another block, so a header with another hash is fetched again and
replaces the old one. A proof is keyed by the block's hash too, and is cached only once it
verifies against its header, so a proof fetched across a reorg is never kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bridge import proofs
from bridge.rpc import JsonRpc

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: proofs kept: ~6 KB each (an account word, eight positions), so ~120 MB per worker at most
DEFAULT_MAX_PROOFS = 20_000
#: headers kept: the anchor moves forward, a few recent blocks are enough
DEFAULT_MAX_BLOCKS = 16


class LruCache(Generic[K, V]):
    """A bounded, thread-safe least-recently-used map."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"cache size must be at least 1, not {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


@dataclass(frozen=True)
class CachedProof:
    """A proof in the wire form of :func:`bridge.proofs.fetch_account_proof` and what it
    establishes (verified once, when fetched). Shared between requests: read it, never change
    it."""

    raw: dict[str, Any]
    state: proofs.ProvenState


class ProofCache:
    """Headers per block and verified proofs per (contract, account, block hash)."""

    def __init__(
        self, max_proofs: int = DEFAULT_MAX_PROOFS, max_blocks: int = DEFAULT_MAX_BLOCKS
    ) -> None:
        self.headers: LruCache[int, dict[str, Any]] = LruCache(max_blocks)
        self.proofs: LruCache[tuple[str, bytes, int, str], CachedProof] = LruCache(max_proofs)

    def block(self, rpc: JsonRpc, number: int, block_hash: str | None = None) -> dict[str, Any]:
        """The raw ``eth_getBlockByNumber`` answer for ``number`` (fetched again when the cached
        one is not the block ``block_hash``)."""
        blk = self.headers.get(number)
        if blk is None or (block_hash is not None and not _same(blk["hash"], block_hash)):
            blk = proofs.fetch_block(rpc, number)
            self.headers.put(number, blk)
        return blk

    def account_proof(
        self,
        rpc: JsonRpc,
        contract: str,
        account: bytes,
        block: int,
        block_hash: str | None = None,
    ) -> CachedProof:
        """``account``'s verified proof at ``block`` (``bridge.proofs.fetch_account_proof``).
        With ``block_hash``, a block that is not that one is not cached (the caller sees the
        other hash in ``raw["block_hash"]``). Raises ``ProofError`` if the node's proof does not
        verify, :class:`bridge.rpc.RpcError` if the node fails to answer."""
        blk = self.block(rpc, block, block_hash)
        key = (contract.lower(), bytes(account), block, str(blk["hash"]).lower())
        hit = self.proofs.get(key)
        if hit is not None:
            return hit
        raw = proofs.fetch_account_proof(rpc, contract, account, block, block_data=blk)
        state = proofs.verify_account_proof(raw, account, contract)
        found = CachedProof(raw, state)
        if block_hash is None or _same(raw["block_hash"], block_hash):
            self.proofs.put(key, found)
        return found


def _same(a: Any, b: str) -> bool:
    return str(a).lower() == b.lower()
