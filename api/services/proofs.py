"""Storage proofs of an account at the anchor block (EIP-1186, via ``bridge.proofs``)."""

from __future__ import annotations

from typing import Any

from api.context import Anchor, AppContext
from api.errors import ServiceUnavailable
from api.schemas import ProofOut, StorageProofOut
from api.services.common import anchor_out
from bridge import proofs
from bridge.client import to_bytes32
from bridge.proof_cache import CachedProof, ProofCache
from bridge.rpc import NodeUnreachable, RpcError

#: the key of the app's ProofCache in ``AppContext.cache``
CACHE_KEY = "proofs"


def proof_cache(ctx: AppContext) -> ProofCache:
    """The app's cache of headers and proofs (one per app, built on first use)."""
    cache = ctx.cache.get(CACHE_KEY)
    if cache is None:
        cache = ctx.cache.setdefault(CACHE_KEY, ProofCache())
    assert isinstance(cache, ProofCache)
    return cache


def fetch_verified(ctx: AppContext, account: str, anchor: Anchor) -> CachedProof:
    """The verified proof at the anchor block, cached per (account, block); 503 if the chain
    no longer has that block."""
    try:
        found = proof_cache(ctx).account_proof(
            ctx.rpc, anchor.contract, to_bytes32(account), anchor.block_number, anchor.block_hash
        )
    except NodeUnreachable as exc:
        raise ServiceUnavailable(f"chain unreachable: {exc.cause}") from exc
    except (proofs.ProofError, RpcError) as exc:
        raise ServiceUnavailable(f"the node cannot prove the anchor block: {exc}") from exc
    if str(found.raw["block_hash"]).lower() != anchor.block_hash.lower():
        raise ServiceUnavailable(
            "the anchor block was replaced on chain (reorg); retry once the indexer caught up",
            {"anchor": anchor.block_hash, "chain": found.raw["block_hash"]},
        )
    return found


def fetch(ctx: AppContext, account: str, anchor: Anchor) -> dict[str, Any]:
    """The wire-form proof at the anchor block (shared: read it, never change it)."""
    return fetch_verified(ctx, account, anchor).raw


def account_proof(ctx: AppContext, account: str) -> ProofOut:
    with ctx.sessions() as s:
        anchor = ctx.current_anchor(s)
    found = fetch_verified(ctx, account, anchor)
    raw, state = found.raw, found.state
    return ProofOut(
        account=account,
        anchor=anchor_out(anchor),
        header=raw["header"],
        address=raw["address"],
        account_proof=raw["account_proof"],
        nonce=raw["nonce"],
        balance=raw["balance"],
        code_hash=raw["code_hash"],
        storage_hash=raw["storage_hash"],
        storage_proofs=[StorageProofOut(**sp) for sp in raw["storage_proofs"]],
        count=state.count,
        head=state.head,
        balances=state.balances,
    )
