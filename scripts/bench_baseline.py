"""The mirror's CPU per award against a baseline commit, on the machine at hand (issue 18).

``bridge_py_cpu_us_per_award`` is CPU time, and CPU time depends on the machine: the same code
measured 2–2.6× apart on two machines of the same size here. A goal written as "from today's N µs
to M µs" is only checked on the machine that measured N, or by measuring the code of that day
again, beside today's, on one machine. This script does the latter:

1. checks ``--commit`` (default ``a900b85``, the code issue 18 was filed against) out into a
   temporary git worktree, with this checkout's ``.venv`` and ``node_modules``, and compiles its
   contracts;
2. runs ``scripts/bench.py --only mirror`` of that tree and of this one alternately, ``--rounds``
   times each (alternating, so that a slow spell of a shared machine hits both), each on its own
   fresh chain and database;
3. prints every run and writes the medians and their ratio into ``bench/results.json``
   (``bridge_py_cpu_baseline``, ``bridge_py_cpu_vs_baseline``), merged with the other figures.

Usage: ``.venv/bin/python scripts/bench_baseline.py [--commit REV] [--rounds 2] [--scale 1]``.
Needs the git history (a shallow clone: ``git fetch --unshallow`` first) and ``make compile``.
Takes about 4× one mirror run per round. Nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import BENCH_DIR, ROOT, say, stamp_figures

ISSUE_18_BASELINE = "a900b85"
"""The head when issue 18 was filed (2026-11-24): its README's figures are the issue's "today's"
(3,235 awards/s end to end; 202 µs of Python CPU per award in the quieter run: import 78,
submit 100, index 24). Later commits up to fe187e0 made the mirror slower before issue 18's
work began (keyed award ids, the integrity checks): measured against them the gain looks
larger than it is."""
PHASES = ("import", "submit", "index")


class BaselineError(Exception):
    """The baseline could not be prepared or measured; the message says what to do."""


def mirror_figures(results: dict[str, Any]) -> dict[str, Any]:
    """The figures of one mirror run that the comparison keeps; refuses a run without them.
    A bench older than ``bridge_py_cpu_us_per_award`` (a900b85's, fe187e0's) wrote the same
    figure as its parts: the Python CPU seconds of each phase (``mirror_cpu_s``) and the awards."""
    try:
        if "bridge_py_cpu_us_per_award_by_phase" in results:
            phases = {p: float(results["bridge_py_cpu_us_per_award_by_phase"][p]) for p in PHASES}
            total = float(results["bridge_py_cpu_us_per_award"])
        else:
            cpu, awards = results["mirror_cpu_s"], int(results["mirror_awards"])
            phases = {p: round(1e6 * float(cpu[f"{p}_py"]) / awards, 1) for p in PHASES}
            total = round(1e6 * sum(float(cpu[f"{p}_py"]) for p in PHASES) / awards, 1)
        return {
            "us_per_award": total,
            "by_phase": phases,
            "awards_per_s": float(results["mirror_awards_per_s"]),
            "sequential_awards_per_s": float(results["mirror_sequential_awards_per_s"]),
        }
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise BaselineError(
            f"the mirror run wrote no usable {exc} figure: run it by hand to see why"
        ) from exc


def summarize(
    commit: str,
    base: list[dict[str, Any]],
    cur: list[dict[str, Any]],
    machine: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Medians of each side's runs, and this tree's median over the baseline's; ``machine``:
    what both were measured on (the bench's own record of it)."""
    if not base or not cur or len(base) != len(cur):
        raise BaselineError(f"need as many runs of each side (got {len(base)} and {len(cur)})")

    def side(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "runs_us_per_award": [r["us_per_award"] for r in runs],
            "median_us_per_award": round(statistics.median(r["us_per_award"] for r in runs), 1),
            "median_by_phase": {
                p: round(statistics.median(r["by_phase"][p] for r in runs), 1) for p in PHASES
            },
            "median_awards_per_s": round(statistics.median(r["awards_per_s"] for r in runs), 1),
            "median_sequential_awards_per_s": round(
                statistics.median(r["sequential_awards_per_s"] for r in runs), 1
            ),
        }

    b, c = side(base), side(cur)
    return {
        "bridge_py_cpu_baseline": {"commit": commit, "machine": machine, **b},
        "bridge_py_cpu_current": c,
        "bridge_py_cpu_vs_baseline": round(c["median_us_per_award"] / b["median_us_per_award"], 3),
        "mirror_awards_per_s_vs_baseline": round(
            c["median_awards_per_s"] / b["median_awards_per_s"], 2
        ),
    }


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    """Run ``cmd`` in its own process group; stopping this script stops the group (a bench
    run's anvil included)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate()
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0:
        raise BaselineError(f"{what} failed (exit {proc.returncode}):\n{output[-2000:]}")


def prepare(commit: str, where: Path) -> Path:
    """A worktree of ``commit`` at ``where``, with this checkout's environment, compiled."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except subprocess.CalledProcessError as exc:
        raise BaselineError(
            f"commit {commit!r} is not in this clone's history; "
            "fetch it (git fetch --unshallow) or name another with --commit"
        ) from exc
    for need in (".venv", "node_modules"):
        if not (ROOT / need).exists():
            raise BaselineError(f"{ROOT / need} is missing: run `make compile` first")
    _run(["git", "worktree", "add", "--detach", str(where), sha], ROOT, "git worktree add")
    for need in (".venv", "node_modules"):
        (where / need).symlink_to(ROOT / need)
    say(f"baseline {sha[:10]}: compiling its contracts")
    _run([str(ROOT / ".venv/bin/python"), "-m", "bridge.compile"], where, "bridge.compile")
    _run(["npx", "--no-install", "hardhat", "compile", "--quiet"], where, "hardhat compile")
    return where


def measure(tree: Path, scale: float, out: Path) -> dict[str, Any]:
    """One ``--only mirror`` run of the bench of ``tree`` (its own code), figures kept (and
    the machine, as the bench recorded it)."""
    cmd = [
        str(ROOT / ".venv/bin/python"), "scripts/bench.py", "--only", "mirror",
        "--scale", str(scale), "--naive", "10", "--out", str(out),
    ]  # fmt: skip
    if '"--peer"' in (tree / "scripts/bench.py").read_text():  # older benches had no peer
        cmd += ["--peer", "0"]
    _run(cmd, tree, f"the mirror benchmark of {tree}")
    results = json.loads(out.read_text())
    return {**mirror_figures(results), "machine": results.get("machine")}


def record(path: Path, figures: dict[str, Any], scale: float) -> None:
    """Merge ``figures`` into the results file, stamped like scripts/bench.py's parts."""
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update(figures)
    stamp_figures(results, figures, scale)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--commit", default=ISSUE_18_BASELINE, help="the baseline (default: %(default)s)"
    )
    ap.add_argument("--rounds", type=int, default=2, help="runs of each side (default 2)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="mileage-baseline-"))
    tree = tmp / "tree"
    try:
        prepare(args.commit, tree)
        base: list[dict[str, Any]] = []
        cur: list[dict[str, Any]] = []
        for i in range(args.rounds):
            for name, where, runs in (("baseline", tree, base), ("current", ROOT, cur)):
                say(f"round {i + 1}/{args.rounds}: {name} mirror run")
                fig = measure(where, args.scale, tmp / f"{name}-{i}.json")
                runs.append(fig)
                phases = ", ".join(f"{p} {fig['by_phase'][p]:.0f}" for p in PHASES)
                say(
                    f"  {name}: {fig['us_per_award']:.1f} µs per award ({phases}); "
                    f"{fig['awards_per_s']:,.0f} awards/s end to end"
                )
        figures = summarize(args.commit, base, cur, cur[-1]["machine"])
        record(args.out, figures, args.scale)
        b, c = figures["bridge_py_cpu_baseline"], figures["bridge_py_cpu_current"]
        say(
            f"median Python CPU per award: baseline {b['median_us_per_award']} µs, "
            f"current {c['median_us_per_award']} µs: "
            f"{figures['bridge_py_cpu_vs_baseline']:.3f} of the baseline; results in {args.out}"
        )
        return 0
    except BaselineError as exc:
        print(f"bench_baseline: {exc}", file=sys.stderr)
        return 1
    finally:
        if tree.exists():
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True
            )
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleans up as Ctrl-C does
    raise SystemExit(main())
