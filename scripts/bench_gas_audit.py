"""Parts whose figures come from the standalone scripts: gas (scripts/bench_gas.py) and audit
(scripts/bench_audit.py, else the verifier over the scaling chain)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_common import (
    BENCH_DIR,
    ROOT,
    say,
)


def part_gas(refresh: bool) -> dict[str, Any]:
    path = BENCH_DIR / "gas.json"
    if refresh or not path.exists():
        say("gas: running scripts/bench_gas.py")
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "bench_gas.py")], cwd=ROOT, check=True
        )
    data = json.loads(path.read_text())
    row = next(r for r in data["rows"] if r["batch_size"] == 200)
    extra = {
        f"gas_per_award_{k.removesuffix('_per_award')}": v
        for k, v in row.items()
        if k.startswith("existing_") and k.endswith("_per_award")
    }
    return {
        "gas_per_award_new": row["new_per_award"],
        "gas_per_award_existing": row["existing_per_award"],
        **extra,  # e.g. existing_3rd, existing_steady, existing_spent (bench_gas's extra columns)
        "gas_source": "bench/gas.json (scripts/bench_gas.py, batch 200)",
        "gas_by_batch": {
            r["batch_size"]: {"new": r["new_per_award"], "existing": r["existing_per_award"]}
            for r in data["rows"]
        },
    }


def part_audit(base: Path, scale: float, scaling_env: dict[str, Any] | None) -> dict[str, Any]:
    script = ROOT / "scripts" / "bench_audit.py"
    if script.exists():
        say("audit: running scripts/bench_audit.py")
        # a reduced-scale run must not overwrite bench/audit.json (bench_audit's full figures)
        out_json = BENCH_DIR / "audit.json" if scale == 1 else base / "audit.json"
        before = out_json.stat().st_mtime if out_json.exists() else None
        proc = subprocess.run(
            [sys.executable, str(script), "--scale", str(scale), "--out", str(out_json)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        sys.stderr.write(proc.stderr[-3000:])
        found = _find_events_per_s(proc.stdout)
        if out_json.exists() and out_json.stat().st_mtime != before:
            found = found or _find_events_per_s(out_json.read_text())
        if proc.returncode == 0 and found:
            return {
                "audit_events_per_s": round(found["events_per_s"], 1),
                "audit_entries": found.get("entries"),
                "audit_accounts": found.get("accounts"),
                "audit_replay_events_per_s": found.get("replay_events_per_s"),
                "audit_ok": found.get("ok"),
                "audit_source": "scripts/bench_audit.py",
            }
        say(f"audit: bench_audit.py gave no events/s (exit {proc.returncode}); falling back")
    if scaling_env is None:
        return {
            "audit_note": "needs the scaling chain (run with --only scaling,audit) or "
            "scripts/bench_audit.py"
        }
    return {k: v for k, v in scaling_env.items() if k.startswith("audit_")}


def _find_events_per_s(text: str) -> dict[str, Any] | None:
    """The events/s figure in bench_audit.py's JSON output (any key naming events per s)."""
    for chunk in reversed([text, *text.splitlines()]):
        try:
            data = json.loads(chunk)
        except ValueError:
            continue
        found = _walk(data)
        if found:
            return found
    return None


def _walk(data: Any) -> dict[str, Any] | None:
    if isinstance(data, dict):
        if isinstance(data.get("events_per_s"), int | float):
            return {
                "events_per_s": float(data["events_per_s"]),
                "entries": data.get("entries"),
                "accounts": data.get("accounts"),
                "replay_events_per_s": data.get("replay_events_per_s"),
                "ok": data.get("ok"),
            }
        for v in data.values():
            found = _walk(v)
            if found:
                return found
    return None
