"""The benchmarks of the ledger (issue 7): ``make bench`` = ``.venv/bin/python scripts/bench.py``.

Every part runs on its own fresh anvil chain and SQLite database in a temporary directory
(never ``.mileage/``) and writes its figures into ``bench/results.json`` (merged with the figures
of parts not run this time), then a table is printed.

Parts (``--only a,b``; default all):

- ``mirror``:  end to end for 100,000 BIKE awards over 50,000 accounts (members imported before
  the clock starts): feed import → outbox → ``grantBatch`` transactions on anvil → indexed.
  Twice, each on its own chain: with the phases one after the other (timed separately, for the
  profile), and as the ledger runs, the bridge (``bench_worker.py bridge``) already running in
  its own process while the feed is imported (``mirror_awards_per_s``). anvil mines a block
  every ``--block-time`` seconds (like QBFT's block period) with ``--mirror-gas-limit`` gas; the
  submitter keeps ``--max-inflight`` batches of ``--batch-size`` unconfirmed, so they share
  blocks. Then the fair ``peer`` on the same chain, accounts and awards: one transaction per
  award as a general-purpose token middleware sends them (nonces assigned locally, up to
  ``--peer-inflight`` 64 unconfirmed, receipts collected per block; ``mirror_vs_peer``). Then
  ``naive``, the worst case: one web3.py transaction per award (build, sign, send, wait for the
  receipt, sequentially) on the first chain switched to a block per transaction, and the
  speedup. Gas per award is also measured from the receipts (month 1 new, month 2 existing).
  The modules: bench_mirror.py, bench_peer.py, bench_api.py, bench_proof.py, bench_load.py,
  bench_gas_audit.py, bench_rss.py, bench_scaling.py; the table in bench_report.py.
- ``proof``:   GET /v1/accounts/{account}/proof (EIP-1186 proofs from the node) at concurrency
  32 against the mirror run's chain and accounts (runs the mirror first if it is not selected).
- ``gas``:     gas per award at batch 200, from bench/gas.json (scripts/bench_gas.py, run if
  missing).
- ``api``:     GET /v1/accounts/{account}/balances at concurrency 32 with 1,000,000 accounts in
  the database, uvicorn in a subprocess, wrk (else a Python load generator) in another.
- ``audit``:   the independent verifier's events/s (scripts/bench_audit.py if present, else
  ``bridge.verify.verify_ledger`` over the scaling chain).
- ``rss``:     peak RSS of the feed import and of the bridge (subprocesses) for a 1,000,000-row
  feed; the bridge is bounded in time (``--bridge-seconds``, default 60).
- ``scaling``: gas and wall time per award at 10,000 / 100,000 / 1,000,000 accounts already on
  chain (populated with batch-500 ``grantBatch`` calls sent directly).

``--scale 0.02`` shrinks every count (for a quick check on a busy machine); ``--profile`` writes
profiles to bench/profile-*.txt: pyinstrument on the mirror phases, py-spy on the API server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import part_api
from bench_common import (
    BENCH_DIR,
    ROOT,
    bench_env,
    machine,
    say,
    scaled,
    stamp_figures,
)
from bench_gas_audit import part_audit, part_gas
from bench_mirror import part_mirror, part_pipeline, ratios
from bench_profile import Profiler
from bench_proof import part_proof
from bench_report import print_table
from bench_rss import part_rss
from bench_scaling import part_scaling

PARTS = ("mirror", "proof", "gas", "api", "audit", "rss", "scaling")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts: {', '.join(PARTS)} (default: all)",
    )
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.02: quick)")
    ap.add_argument("--api-seconds", type=float, default=30.0, help="duration of each API load")
    ap.add_argument(
        "--api-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="uvicorn worker processes (default: one per core)",
    )
    ap.add_argument(
        "--api-database-url",
        default=None,
        help="database for the api part (default SQLite; a postgresql+psycopg URL is WIPED first)",
    )
    ap.add_argument(
        "--api-postgres-url",
        default=os.environ.get("MILEAGE_BENCH_POSTGRES_URL"),
        help="api part: also on this PostgreSQL database (WIPED first; default "
        "$MILEAGE_BENCH_POSTGRES_URL), figures as api_pg_*",
    )
    ap.add_argument(
        "--bridge-seconds",
        type=float,
        default=60.0,
        help="time bound of the bridge in the rss part",
    )
    ap.add_argument(
        "--naive",
        type=int,
        default=None,
        help="naive (worst case) sample size (default 500×scale)",
    )
    ap.add_argument(
        "--peer",
        type=int,
        default=None,
        help="fair peer (pipelined, one tx per award) sample size (default 3,000×scale, ≥ 640)",
    )
    ap.add_argument(
        "--peer-inflight",
        type=int,
        default=64,
        help="fair peer: transactions in flight (unconfirmed) at most",
    )
    ap.add_argument(
        "--scaling-batches",
        type=int,
        default=5,
        help="measured batches of 200 per point and kind in the scaling part",
    )
    ap.add_argument(
        "--batch-size", type=int, default=500, help="awards per grantBatch in the mirror part"
    )
    ap.add_argument(
        "--block-time",
        type=float,
        default=1.0,
        help="mirror chain: a block every so many seconds, like QBFT's period (0: one per tx)",
    )
    ap.add_argument(
        "--mirror-gas-limit",
        type=int,
        default=1_000_000_000,
        help="mirror chain: block gas limit (1 G: the chain is not the limit; the capacity "
        "plan's 100 M per 2 s caps a chain at ~1,000-1,300 awards/s)",
    )
    ap.add_argument(
        "--max-inflight",
        type=int,
        default=32,
        help="mirror part: batches the submitter keeps unconfirmed (they share a block); 32 "
        "as docs/ARCHITECTURE.md §3 recommends per issuer key",
    )
    ap.add_argument("--refresh-gas", action="store_true", help="re-run scripts/bench_gas.py")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="profile: pyinstrument on the mirror phases, py-spy on the API server",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    args = ap.parse_args(argv)
    from ledger.gc_tuning import tune_gc

    tune_gc()  # the phases run in this process as in `mileage` (ledger/gc_tuning.py)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    bad = [p for p in only if p not in PARTS]
    if bad:
        ap.error(f"unknown parts {bad}; choose from {', '.join(PARTS)}")
    BENCH_DIR.mkdir(exist_ok=True)
    os.environ.setdefault("MILEAGE_LOG_JSON", "false")
    _quiet_logs()

    results: dict[str, Any] = {}
    if args.out.exists():
        try:
            results = json.loads(args.out.read_text())
        except ValueError:
            results = {}
    results["machine"] = machine()
    results.setdefault("scales", {})
    results.setdefault("measured_at", {})
    prof = Profiler(args.profile)
    base = Path(tempfile.mkdtemp(prefix="mileage-bench-"))
    say(f"bench: parts {', '.join(only)} at scale {args.scale}; temp dir {base}")

    def record(part: str, figures: dict[str, Any]) -> None:
        # merge into the file as it is now (another bench run may have written other parts)
        if args.out.exists():
            try:
                current = json.loads(args.out.read_text())
            except ValueError:
                current = {}
            for k, v in current.items():
                if k not in ("machine", "scales", "measured_at", "profiles"):
                    results.setdefault(k, v)
                elif isinstance(v, dict) and k != "machine":
                    results[k] = {**v, **results.get(k, {})}
        results.update(figures)
        stamp_figures(results, figures, args.scale)
        results["machine"]["loadavg_at_end"] = list(os.getloadavg())
        if prof.files:
            results["profiles"] = {**results.get("profiles", {}), **prof.files}
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        say(f"{part}: done, results in {args.out}")

    failures: list[str] = []

    def run(part: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        try:
            figures = fn()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            failures.append(f"{part}: {type(exc).__name__}: {exc}")
            return None
        record(part, figures)
        return figures

    try:
        naive_n = args.naive or scaled(500, args.scale, 100)
        peer_n = args.peer if args.peer is not None else scaled(3_000, args.scale, 640)
        if "gas" in only:
            run("gas", lambda: part_gas(args.refresh_gas))
        mirrored: dict[str, Any] | None = None
        if "mirror" in only or "proof" in only:
            with bench_env(
                base, "mirror", block_time=args.block_time or None, gas_limit=args.mirror_gas_limit
            ) as env:
                # the proof part reads the mirror run's chain and accounts: it needs the mirror
                mirrored = run(
                    "mirror",
                    lambda: part_mirror(
                        env,
                        args.scale,
                        prof,
                        naive_n,
                        args.batch_size,
                        args.max_inflight,
                        peer_n,
                        args.peer_inflight,
                    ),
                )
                if "proof" in only and mirrored is not None:
                    run(
                        "proof",
                        lambda: part_proof(env, args.api_seconds, args.api_workers, args.profile),
                    )
        if "mirror" in only:
            with bench_env(
                base,
                "pipeline",
                block_time=args.block_time or None,
                gas_limit=args.mirror_gas_limit,
            ) as env:
                piped = run(
                    "pipeline",
                    lambda: part_pipeline(env, args.scale, args.batch_size, args.max_inflight),
                )
            if piped is not None and mirrored is not None:
                rate = piped["mirror_pipelined_awards_per_s"]
                record("mirror", {"mirror_awards_per_s": rate, **ratios(rate, mirrored, mirrored)})
        if "api" in only:
            run(
                "api",
                lambda: part_api(
                    base,
                    args.scale,
                    args.api_seconds,
                    args.api_workers,
                    args.api_database_url,
                    args.profile,
                    args.api_postgres_url,
                ),
            )
        if "rss" in only:
            with bench_env(base, "rss") as env:
                run("rss", lambda: part_rss(env, args.scale, args.bridge_seconds))
        scaling_figs = None
        if "scaling" in only:
            # 1 G gas per block: 20 populating transactions of 37.5 M gas fit one block
            with bench_env(base, "scaling", gas_limit=1_000_000_000) as env:
                scaling_figs = run(
                    "scaling",
                    lambda: part_scaling(
                        env,
                        args.scale,
                        args.scaling_batches,
                        audit="audit" in only and not (ROOT / "scripts/bench_audit.py").exists(),
                    ),
                )
        if "audit" in only:
            run("audit", lambda: part_audit(base, args.scale, scaling_figs))
    finally:
        if args.keep:
            say(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print_table(results)
    if failures:
        print("\nFAILED PARTS:\n  " + "\n  ".join(failures))
        return 1
    return 0


def _quiet_logs() -> None:
    """The bridge logs every batch at info level; the bench prints its own progress."""
    import logging

    import structlog

    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


if __name__ == "__main__":
    sys.exit(main())
