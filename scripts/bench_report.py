"""The results table of scripts/bench.py: the goals and how each figure is printed."""

from __future__ import annotations

from typing import Any

GOALS: dict[str, tuple[str, float]] = {
    # key: (direction, goal)
    "mirror_awards_per_s": (">=", 10_000),
    "mirror_speedup": (">=", 50),
    "bridge_py_cpu_us_per_award": ("<=", 100),  # issue 18, on its machine: see the next
    "bridge_py_cpu_vs_baseline": ("<=", 0.5),  # half of a900b85's, measured on one machine
    "gas_per_award_new": ("<=", 50_000),
    "gas_per_award_existing": ("<=", 15_000),
    "api_balance_rps": (">=", 2_000),
    "api_balance_p99_ms": ("<=", 25),
    "api_pg_balance_rps": (">=", 2_000),
    "api_pg_balance_p99_ms": ("<=", 25),
    "audit_events_per_s": (">=", 50_000),
    "import_peak_rss_mb": ("<=", 500),
    "bridge_peak_rss_mb": ("<=", 500),
}


def verdict(key: str, value: Any) -> str:
    if key not in GOALS or not isinstance(value, int | float):
        return ""
    op, goal = GOALS[key]
    ok = value >= goal if op == ">=" else value <= goal
    shown = f"{goal:,}" if isinstance(goal, int) else f"{goal:g}"
    return f"{op} {shown}  {'met' if ok else 'MISSED'}"


TABLE = [
    ("mirror_awards_per_s", "awards/s end to end (bridge running during import)"),
    ("mirror_pipelined_import_s", "  import, s (bridge mirroring meanwhile)"),
    ("mirror_pipelined_s", "  import to last entry indexed, s"),
    ("mirror_sequential_awards_per_s", "awards/s with the phases one after the other"),
    ("mirror_import_s", "  import phase, s"),
    ("mirror_submit_s", "  submit phase, s"),
    ("mirror_index_s", "  index phase, s"),
    ("bridge_py_cpu_us_per_award", "  Python CPU per award, µs"),
    ("bridge_py_cpu_vs_baseline", "  ... of issue 18's baseline, same machine"),
    ("peer_awards_per_s", "fair peer: pipelined tx per award, awards/s"),
    ("mirror_vs_peer", "mirror / fair peer"),
    ("naive_awards_per_s", "worst case (naive): awaited tx per award, /s"),
    ("mirror_speedup", "speedup mirror / naive (worst case)"),
    ("gas_per_award_new", "gas per award, new account (batch 200)"),
    ("gas_per_award_existing", "gas per award, existing account (batch 200)"),
    ("gas_per_award_existing_steady", "  existing, unspent balance, steady state (bench_gas)"),
    ("gas_per_award_existing_spent", "  existing, balance spent before (bench_gas)"),
    ("mirror_gas_per_award_new", "  measured in the mirror run, new"),
    ("mirror_gas_per_award_existing", "  measured in the mirror run, existing"),
    ("api_balance_rps", "balance reads, req/s (c=32)"),
    ("api_balance_p50_ms", "  p50 ms"),
    ("api_balance_p99_ms", "  p99 ms"),
    ("api_pg_balance_rps", "  on PostgreSQL, req/s (c=32)"),
    ("api_pg_balance_p50_ms", "    p50 ms"),
    ("api_pg_balance_p99_ms", "    p99 ms"),
    ("api_verified_rps", "reads with proofs, req/s (c=32)"),
    ("api_verified_p99_ms", "  p99 ms"),
    ("api_verified_cached_rps", "  32 accounts, proofs cached, req/s"),
    ("api_verified_cached_p99_ms", "    p99 ms"),
    ("audit_events_per_s", "verifier events/s"),
    ("import_peak_rss_mb", "feed import peak RSS, MiB"),
    ("bridge_peak_rss_mb", "bridge peak RSS, MiB"),
    ("scaling_gas_drift_pct", "gas per award drift 10k→1M accounts, % (max)"),
    ("scaling_time_drift_pct", "time per award drift 10k→1M accounts, % (max)"),
    ("scaling_marginal_time_drift_pct", "  marginal time per award (block cost apart), %"),
]


def print_table(res: dict[str, Any]) -> None:
    m = res.get("machine", {})
    print(
        f"\nmachine: {m.get('cpu')} × {m.get('cores')} cores, {m.get('ram_gb')} GB, "
        f"Python {m.get('python')}, {m.get('anvil')}"
    )
    print(f"{'figure':<46} {'value':>14}  goal")
    print("-" * 84)
    for key, label in TABLE:
        if key not in res:
            continue
        v = res[key]
        if isinstance(v, float):
            sv = f"{v:.3f}" if abs(v) < 1 else f"{v:,.1f}"  # a ratio: 0.414, not 0.4
        else:
            sv = f"{v:,}" if isinstance(v, int) else str(v)
        scale = res.get("scales", {}).get(key)
        mark = f"  (scale {scale})" if scale not in (None, 1, 1.0) else ""
        print(f"{label:<46} {sv:>14}  {verdict(key, v)}{mark}")
    for p in res.get("scaling", []):
        print(
            f"  scaling @ {p['accounts_on_chain']:>9,} accounts: gas/award new "
            f"{p['gas_per_award_new']:,} existing {p['gas_per_award_existing']:,}; "
            f"µs/award new {p['us_per_award_new']:,} existing {p['us_per_award_existing']:,}; "
            f"anvil CPU µs/award new {p.get('anvil_cpu_us_per_award_new')} "
            f"existing {p.get('anvil_cpu_us_per_award_existing')}; empty block "
            f"{p.get('empty_block_ms')} ms; marginal µs/award {p.get('us_per_award_marginal')}"
        )
    if "bridge_rss_bounded" in res:
        print(f"  bridge RSS run: {res['bridge_rss_bounded']}")
