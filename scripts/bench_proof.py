"""The proof part: reads with EIP-1186 proofs against the mirror run's chain and accounts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from bench_common import (
    Env,
    say,
)
from bench_load import load_test, serve_api
from bench_profile import spy

#: accounts of the second load, whose proofs the API holds after the first read of each
HOT_ACCOUNTS = 32


def part_proof(env: Env, seconds: float, workers: int, profile: bool) -> dict[str, Any]:
    """Reads with EIP-1186 proofs against the mirror run's chain and accounts."""
    from ledger.adapters.orm import Account
    from ledger.service.apikeys import create_api_key

    key = create_api_key(env.rt.sessions, "bench-proof", ["auditor"]).key
    with env.rt.sessions() as s:
        accounts = list(s.scalars(sa.select(Account.account_id).limit(20_000)))
    with serve_api(env.env_vars(), workers) as (api_url, pid):
        import httpx

        r = httpx.get(
            f"{api_url}/v1/accounts/{accounts[0]}/proof",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        if r.status_code != 200:
            raise RuntimeError(f"proof read failed: {r.status_code} {r.text[:300]}")
        say(f"proof: load {seconds:.0f}s at concurrency 32")
        with spy(pid, seconds, "api-proof", enabled=profile):
            res = load_test(
                api_url,
                key,
                accounts,
                "/proof",
                seconds,
                32,
                env.data_dir,
                {"server": pid, "anvil": env.anvil.proc.pid if env.anvil.proc else 0},
            )
        # the same reads again on a small set of accounts: once each worker holds their proofs
        # at the anchor block (bridge/proof_cache.py), a read costs no node call at all
        hot = accounts[:HOT_ACCOUNTS]
        say(f"proof: reading {len(hot)} accounts' proofs into the workers' caches")
        for _ in range(3 * workers):  # a connection each: every worker serves some of them
            for a in hot:
                httpx.get(
                    f"{api_url}/v1/accounts/{a}/proof",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=60,
                ).raise_for_status()
        say(f"proof: load {seconds:.0f}s on {len(hot)} accounts (cached proofs)")
        cached = load_test(api_url, key, hot, "/proof", seconds, 32, env.data_dir, {"server": pid})
    say(f"proof: {res['rps']:,.0f} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms")
    say(f"proof, cached: {cached['rps']:,.0f} req/s, p99 {cached['p99_ms']} ms")
    return {
        "api_verified_cached_accounts": len(hot),
        "api_verified_cached_rps": round(cached["rps"], 1),
        "api_verified_cached_p50_ms": cached["p50_ms"],
        "api_verified_cached_p99_ms": cached["p99_ms"],
        "api_verified_cached_errors": cached["errors"],
        "api_verified_cached_server_cpu_ms_per_req": cached.get("cpu_ms_per_req_server"),
        "api_verified_rps": round(res["rps"], 1),
        "api_verified_p50_ms": res["p50_ms"],
        "api_verified_p99_ms": res["p99_ms"],
        "api_verified_errors": res["errors"],
        "api_verified_server_cpu_ms_per_req": res.get("cpu_ms_per_req_server"),
        "api_verified_anvil_cpu_ms_per_req": res.get("cpu_ms_per_req_anvil"),
        "api_verified_accounts": len(accounts),
    }
