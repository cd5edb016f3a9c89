"""The rss part: peak RSS of the feed import and of the bridge for a 1,000,000-row feed."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench_common import (
    ROOT,
    Env,
    run_measured,
    say,
    scaled,
    write_bike_feed,
    write_bike_members,
)


def part_rss(env: Env, scale: float, bridge_seconds: float) -> dict[str, Any]:
    from ledger.domain.rules.bike_payout import Cadence
    from ledger.domain.types import YearMonth
    from ledger.service.bike_accruals import pay
    from ledger.service.members import import_members

    n_rows = scaled(1_000_000, scale, 1000)
    n_members = n_rows // 2
    say(f"rss: {n_members:,} members, feed of {n_rows:,} rows")
    members_csv = write_bike_members(env.data_dir / "members.csv", n_members)
    feed = env.data_dir / "bike.csv"
    write_bike_feed(feed, n_members, ["2025-05", "2025-06"])
    t = time.perf_counter()
    import_members(env.rt.sessions, members_csv, env.rt.keys.account)
    say(f"rss: members imported in {time.perf_counter() - t:.1f}s; import subprocess")
    worker = [sys.executable, str(ROOT / "scripts" / "bench_worker.py")]
    code, _wall, rss_import, out, err = run_measured(
        [*worker, "import", "BIKE", str(feed)], env.env_vars()
    )
    if code != 0:
        raise RuntimeError(f"import worker failed: {err[-2000:]}")
    imp = json.loads(out.strip().splitlines()[-1])
    # BIKE accrues (docs/rules.md §2.4): the monthly payout turns the accruals into the awards
    # the bridge mirrors (without it the bridge finds nothing to send)
    t = time.perf_counter()
    paid = pay(env.rt.sessions, Cadence.MONTHLY, YearMonth(2025, 6), env.rt.keys.award)
    payout_s = time.perf_counter() - t
    say(f"rss: payout in {payout_s:.1f}s ({paid})")
    say(
        f"rss: import {imp['recorded']:,} awards in {imp['seconds']:.1f}s, peak RSS "
        f"{imp.get('peak_rss_mb')} MiB; bridge subprocess (at most {bridge_seconds:.0f}s)"
    )
    code, _wall, rss_bridge, out, err = run_measured(
        [*worker, "bridge", str(bridge_seconds)], env.env_vars()
    )
    if code != 0:
        raise RuntimeError(f"bridge worker failed: {err[-2000:]}")
    br = json.loads(out.strip().splitlines()[-1])
    say(
        f"rss: bridge mined {br['awards_mined']:,} awards, indexed {br['entries_indexed']:,} in "
        f"{br['seconds']:.0f}s, peak RSS {br.get('peak_rss_mb')} MiB"
    )
    return {
        "rss_feed_rows": n_rows,
        # VmHWM reported by the worker itself; wait4's ru_maxrss would also count this (big)
        # process's image at the fork, so it is kept only as an upper bound
        "import_peak_rss_mb": imp.get("peak_rss_mb") or round(rss_import, 1),
        "import_peak_rss_mb_wait4_upper_bound": round(rss_import, 1),
        "import_rss_awards": imp["recorded"],
        "import_rss_s": round(imp["seconds"], 1),
        "rss_payout_s": round(payout_s, 1),
        "bridge_peak_rss_mb": br.get("peak_rss_mb") or round(rss_bridge, 1),
        "bridge_peak_rss_mb_wait4_upper_bound": round(rss_bridge, 1),
        "bridge_rss_awards_mined": br["awards_mined"],
        "bridge_rss_entries_indexed": br["entries_indexed"],
        "bridge_rss_s": round(br["seconds"], 1),
        "bridge_rss_bounded": (
            f"bounded to {bridge_seconds:.0f}s: mined {br['awards_mined']:,} "
            f"of {imp['recorded']:,} awards"
            if br["bounded_by_time"]
            else "ran to completion"
        ),
    }
