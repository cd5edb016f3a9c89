"""The cycle collector's settings for the ledger's bulk processes (``mileage``, the bridge).

CPython runs a generation-0 collection every 700 net allocations of container objects. A feed
import makes a tuple, a dict and a few objects per row, the bridge a few per award of every
500-award batch; reference counting frees them at once and they hold no cycles, so those
collections find next to nothing, yet each walks the young objects and every tenth one the
middle generation too. On the mirror benchmark they were a sixth of the bridge's Python CPU
(`scripts/bench.py --only mirror --scale 0.2`: 129 µs per award with the defaults, 110 with the
collector off, 110 with these thresholds; docs/PERFORMANCE.md).

:func:`tune_gc` freezes what start-up allocated (modules, SQLAlchemy's and web3's tables: never
garbage, so no full collection needs to walk them again) and raises the thresholds. Cycles are
still collected, only less often: at most ``GEN0`` container objects wait for the next pass, a
bound that does not grow with the size of a feed. The price is memory: the bridge's peak RSS
rose from 135 to 258 MiB on the benchmark (docs/PERFORMANCE.md, "Memory"), and does not grow
with the work done. The API served by uvicorn from ``api.main`` keeps CPython's defaults;
``mileage run`` serves it in its own process, with these settings.
"""

from __future__ import annotations

import gc

GEN0 = 50_000
"""Net container allocations between generation-0 collections (CPython's default: 700)."""
GEN1 = 20
"""Generation-0 collections between generation-1 collections (default 10)."""
GEN2 = 20
"""Generation-1 collections between full collections (default 10)."""


def tune_gc() -> None:
    """Freeze the objects allocated so far and raise the collector's thresholds."""
    gc.freeze()
    gc.set_threshold(GEN0, GEN1, GEN2)
