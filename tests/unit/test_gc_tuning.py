"""The cycle collector's settings of the ledger's processes (ledger/gc_tuning.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from ledger.gc_tuning import GEN0, GEN1, GEN2


def _run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_cli_process_runs_with_the_tuned_collector() -> None:
    got = _run(
        """
        import gc, json
        import ledger.cli.main
        print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
        """
    )
    assert got["threshold"] == [GEN0, GEN1, GEN2]
    assert isinstance(got["frozen"], int) and got["frozen"] > 0


def test_cycles_made_after_tuning_are_still_collected() -> None:
    # a cycle made after tune_gc must die once enough containers were allocated, without any
    # explicit gc.collect(): the thresholds delay collection, they do not stop it
    got = _run(
        f"""
        import json, weakref
        from ledger.gc_tuning import tune_gc
        tune_gc()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        probe = weakref.ref(a)
        del a, b
        alive_before = probe() is not None
        keep = [[i] for i in range({GEN0} * 3)]  # net allocations: what triggers a pass
        print(json.dumps({{"before": alive_before, "after": probe() is not None}}))
        """
    )
    assert got == {"before": True, "after": False}
