"""Python's recursion limit, put back after py_ecc raises it (one place for the CLI and the API).

``py_ecc`` (pulled in by web3 and eth_account) sets ``sys.setrecursionlimit(100_000)`` when it is
imported. With that limit a deeply nested input (e.g. 100,000 nested JSON arrays) overflows the C
stack and the process dies with SIGSEGV instead of raising ``RecursionError``. Nothing in the
ledger needs deep recursion, so every process entry point (``mileage``, the API app) calls
:func:`restore_recursion_limit` once at start.
"""

from __future__ import annotations

import importlib
import sys

#: CPython's default limit
DEFAULT_RECURSION_LIMIT = 1000


def restore_recursion_limit(limit: int = DEFAULT_RECURSION_LIMIT) -> None:
    """Import py_ecc now (so a later import cannot raise the limit again), then set ``limit``."""
    importlib.import_module("py_ecc")
    sys.setrecursionlimit(limit)
