"""Feeds stream: memory must not grow with the number of rows (BIKE included)."""

import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from ledger.domain.codes import Program
from ledger.feeds import FeedOptions, iter_awards
from tests.keyring import KEYS


def bike_feed(path: Path, rows: int) -> Path:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as out:
        out.write("member_id,month,ride_days,ride_minutes\n")
        for _ in range(rows):
            month = rng.randrange(1, 13)
            out.write(
                f"M{rng.randrange(rows)},2024-{month:02d},{rng.randrange(28)},{rng.randrange(3000)}\n"
            )
    return path


def peak_bytes(program: Program, path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        options = FeedOptions(award_key=KEYS.award)
        count = sum(1 for _ in iter_awards(program, path, options=options))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_bike_memory_is_flat(tmp_path: Path) -> None:
    small_count, small = peak_bytes(Program.BIKE, bike_feed(tmp_path / "s.csv", 2_000))
    large_count, large = peak_bytes(Program.BIKE, bike_feed(tmp_path / "l.csv", 8_000))
    assert (small_count, large_count) == (2_000, 8_000)
    # Four times the rows, not four times the memory (Python heap; SQLite pages are capped).
    assert large < small * 2 + 256 * 1024, (small, large)


_MAXRSS_SCRIPT = """
import resource, sys
from ledger.domain.codes import Program
from ledger.feeds import FeedOptions, iter_awards
options = FeedOptions(award_key=b"k" * 32)
count = sum(1 for _ in iter_awards(Program.BIKE, sys.argv[1], options=options))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def max_rss_kib(path: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _MAXRSS_SCRIPT, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    count, rss = done.stdout.split()
    return int(count), int(rss)


# 20x the rows must not need more memory; the 1,000,000-row figure is measured by `make bench`
# (import_peak_rss_mb), MILEAGE_MEMORY_TEST_ROWS=1000000 runs it here too.
LARGE = int(os.environ.get("MILEAGE_MEMORY_TEST_ROWS", "200000"))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_large_bike_feed_streams_in_flat_memory(tmp_path: Path) -> None:
    small_count, small = max_rss_kib(bike_feed(tmp_path / "s.csv", 10_000))
    large_count, large = max_rss_kib(bike_feed(tmp_path / "m.csv", LARGE))
    assert (small_count, large_count) == (10_000, LARGE)
    assert large - small < 32 * 1024, (small, large)  # KiB: many times the rows, < 32 MiB more
