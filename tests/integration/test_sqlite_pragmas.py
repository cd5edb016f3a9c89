"""Every SQLite connection the ledger opens gets its settings (ledger.adapters.db.make_engine):
the write-ahead log with its checkpoint interval, NORMAL sync, foreign keys, a busy timeout."""

from __future__ import annotations

from pathlib import Path

from ledger.adapters.db import WAL_AUTOCHECKPOINT_PAGES, make_engine


def test_each_pooled_connection_gets_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        for _ in range(2):  # a fresh connection each time, through the pool's connect event
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                got = {
                    name: cur.execute(f"PRAGMA {name}").fetchone()[0]
                    for name in (
                        "journal_mode",
                        "synchronous",
                        "foreign_keys",
                        "busy_timeout",
                        "wal_autocheckpoint",
                    )
                }
                cur.close()
            finally:
                raw.invalidate()  # not back to the pool: the next one is new
            assert got == {
                "journal_mode": "wal",
                "synchronous": 1,
                "foreign_keys": 1,
                "busy_timeout": 30_000,
                "wal_autocheckpoint": WAL_AUTOCHECKPOINT_PAGES,
            }
    finally:
        engine.dispose()
    assert WAL_AUTOCHECKPOINT_PAGES > 1_000  # SQLite's default, which checkpointed ten times more
