"""Subprocess workers of scripts/bench.py (run in their own process so that their peak RSS and
CPU are theirs alone). Each prints one JSON line on stdout.

    bench_worker.py import PROGRAM FEED      # the feed import (MILEAGE_* env names the database)
    bench_worker.py bridge SECONDS           # submitter + indexer until idle or SECONDS elapsed
    bench_worker.py submitter SECONDS AWARDS # the submitter alone, until AWARDS are mined
    bench_worker.py indexer SECONDS ENTRIES  # the indexer alone, until ENTRIES are indexed
    bench_worker.py load URL_FILE KEY SECONDS CONNECTIONS   # Python load generator (no wrk)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common  # noqa: F401  (puts the project on sys.path)


def do_import(program: str, feed: str) -> dict[str, object]:
    from ledger.domain.codes import Program
    from ledger.feeds import FeedOptions
    from ledger.service.feeds import import_feed
    from ledger.service.runtime import Runtime

    rt = Runtime.open()
    t0 = time.perf_counter()
    rep = import_feed(
        rt.sessions, Program[program], Path(feed), options=FeedOptions(award_key=rt.keys.award)
    )
    secs = time.perf_counter() - t0
    rt.close()
    return {"rows": rep.rows, "recorded": rep.recorded, "rejected": rep.rejected, "seconds": secs}


def bike_submitter(rt: Any) -> Any:
    """The BIKE issuer's submitter, with the batch size and in-flight count of the settings."""
    from bridge.signer import load_signer
    from bridge.submitter import Submitter

    signer = load_signer(rt.settings, "issuer-BIKE")
    return Submitter(rt.sessions, rt.client, signer, rt.settings, programs=["BIKE"], operations=[])


def do_until(kind: str, seconds: float, target: int) -> dict[str, object]:
    """One bridge component in its own process, as `mileage bridge run` and the indexer run in
    production, until ``target`` awards are mined (submitter) or entries indexed (indexer); a
    feed is still being imported meanwhile, so idle moments do not stop it."""
    from bridge.indexer import Indexer
    from ledger.service.runtime import Runtime

    rt = Runtime.open()
    dep = rt.deployment()
    assert dep is not None
    t0 = time.perf_counter()
    deadline = time.monotonic() + seconds
    done = 0
    if kind == "submitter":
        sub = bike_submitter(rt)
        while done < target and time.monotonic() < deadline:
            rep = sub.step()
            done += rep.awards_mined
            if not rep.progressed and rep.inflight == 0:
                time.sleep(0.05)
    else:
        idx = Indexer(rt.sessions, rt.client, dep.block_number, rt.settings.confirmations)
        while done < target and time.monotonic() < deadline:
            n = idx.step()
            done += n
            if n == 0:
                time.sleep(0.05)
    secs = time.perf_counter() - t0
    rt.close()
    return {"done": done, "seconds": secs, "bounded_by_time": done < target}


def do_bridge(seconds: float) -> dict[str, object]:
    from bridge.indexer import Indexer
    from ledger.service.runtime import Runtime

    rt = Runtime.open()
    dep = rt.deployment()
    assert dep is not None
    sub = bike_submitter(rt)
    idx = Indexer(rt.sessions, rt.client, dep.block_number, rt.settings.confirmations)
    t0 = time.perf_counter()
    deadline = time.monotonic() + seconds
    mined = indexed = 0
    idle = 0
    bounded = False
    while True:
        if time.monotonic() > deadline:
            bounded = True
            break
        rep = sub.step()
        mined += rep.awards_mined
        n = idx.step()
        indexed += n
        if not rep.progressed and rep.inflight == 0 and n == 0 and idx.caught_up:
            idle += 1
            if idle >= 3:
                break
            time.sleep(0.1)
        else:
            idle = 0
    secs = time.perf_counter() - t0
    rt.close()
    return {
        "awards_mined": mined,
        "entries_indexed": indexed,
        "seconds": secs,
        "bounded_by_time": bounded,
    }


def do_load(url_file: str, key: str, seconds: float, connections: int) -> dict[str, object]:
    """One load-generator process: ``connections`` concurrent keep-alive clients, GET the URLs
    of ``url_file`` (one per line) in random order for ``seconds``; latencies in ms."""
    import asyncio
    import random

    import httpx

    urls = Path(url_file).read_text().split()
    lat: list[float] = []
    errors = 0

    async def client(stop: float) -> None:
        nonlocal errors
        rng = random.Random()
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30.0) as c:
            while time.perf_counter() < stop:
                u = urls[rng.randrange(len(urls))]
                t = time.perf_counter()
                try:
                    r = await c.get(u)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append((time.perf_counter() - t) * 1000)
                errors += not ok

    async def main() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(client(stop) for _ in range(connections)))

    asyncio.run(main())
    return {"latencies_ms": lat, "errors": errors, "seconds": seconds}


def main() -> None:
    from ledger.gc_tuning import tune_gc

    tune_gc()  # as `mileage` does: the workers run the CLI's code paths
    cmd, *args = sys.argv[1:]
    if cmd == "import":
        out = do_import(args[0], args[1])
    elif cmd == "bridge":
        out = do_bridge(float(args[0]))
    elif cmd in ("submitter", "indexer"):
        out = do_until(cmd, float(args[0]), int(args[1]))
    elif cmd == "load":
        out = do_load(args[0], args[1], float(args[2]), int(args[3]))
    else:
        raise SystemExit(f"unknown worker {cmd!r}")
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def peak_rss_mb() -> float | None:
    """This process's peak resident set (VmHWM of its own address space). Not getrusage's
    ru_maxrss: after fork/vfork + exec that also counts the parent's image at the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
