"""A private, on-disk scratch database for feed checks that span rows.

Duplicate detection and the BIKE member-year grouping need to look across the whole feed.
Keeping that state in a temporary SQLite file (deleted when closed) instead of Python
dicts keeps memory flat for million-row feeds; SQLite sorts on disk with a bounded cache.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from types import TracebackType


class Scratch:
    """Context manager around a private temporary SQLite database."""

    def __init__(self) -> None:
        # An empty file name makes SQLite create a private temporary on-disk database that
        # is deleted as soon as the connection closes.
        self.db = sqlite3.connect("", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA temp_store=FILE")
        self.db.execute("PRAGMA cache_size=-8192")  # 8 MiB page cache at most
        self.db.execute("CREATE TABLE seen(key TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self.db.execute("BEGIN")

    def __enter__(self) -> Scratch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.db.close()

    def claim(self, keys: Sequence[str], line: int) -> tuple[str, int] | None:
        """Claim every key of `keys` for `line`, unless one is already claimed.

        Returns None after claiming them all, or (key, earlier line) of the first key that an
        earlier line holds; then nothing is claimed, so a rejected row blocks no later row.
        """
        for key in keys:
            row = self.db.execute("SELECT line FROM seen WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return key, int(row[0])
        self.db.executemany("INSERT INTO seen(key, line) VALUES (?, ?)", [(k, line) for k in keys])
        return None
