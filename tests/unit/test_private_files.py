"""The data directory and the files that hold citizen ids or keys are private to their owner:
the data dir 0700, the SQLite database and its -wal/-shm 0600, keystores 0600 (issue 13 item 10).

Files are created under a permissive umask (0o000) so that a default ``open()`` would make them
world-readable: only an explicit mode or chmod makes these tests pass.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from bridge.signer import write_keystore
from ledger.adapters.db import make_engine, migrate
from ledger.service.embedded import ensure_local_keys
from ledger.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_new_sqlite_database_and_its_wal_files_are_0600(tmp_path: Path) -> None:
    db = tmp_path / "new-dir" / "ledger.db"
    url = f"sqlite:///{db}"
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.begin() as c:  # a write keeps the -wal and -shm files around
            c.execute(sa.text("create table t (x integer)"))
            wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
            assert wal.exists() and shm.exists()
            assert mode(db) == 0o600
            assert mode(wal) == 0o600
            assert mode(shm) == 0o600
    finally:
        engine.dispose()
    assert mode(db.parent) == 0o700, "a directory the ledger creates for its database is private"


def test_existing_world_readable_database_is_fixed_with_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    migrate(url)
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.touch()
        path.chmod(0o644)
    with capture_logs() as logs:
        engine = make_engine(url)
        engine.dispose()
    assert mode(db) == 0o600
    assert mode(Path(f"{db}-wal")) == 0o600
    assert mode(Path(f"{db}-shm")) == 0o600
    warned = [e for e in logs if e["log_level"] == "warning"]
    assert any(str(db) == e.get("path") and e.get("was") == "0o644" for e in warned), logs


def test_private_database_gives_no_warning(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    migrate(f"sqlite:///{db}")
    with capture_logs() as logs:
        make_engine(f"sqlite:///{db}").dispose()
    assert not [e for e in logs if e["log_level"] == "warning"], logs


def test_keystore_and_its_directory_are_private(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    path, _ = write_keystore(keys, "admin", "pw", kdf="pbkdf2", iterations=2)
    assert mode(path) == 0o600
    assert mode(keys) == 0o700


def test_keystore_replaced_over_a_leftover_world_readable_temp_file_is_0600(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    leftover = keys / "admin.tmp"  # e.g. from a write that crashed
    leftover.touch(mode=0o644)
    path, _ = write_keystore(keys, "admin", "pw", kdf="pbkdf2", iterations=2)
    assert mode(path) == 0o600


def test_embedded_keys_password_and_data_dir_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", private_key=None)
    settings = ensure_local_keys(settings)
    keydir = settings.effective_keystore_dir
    assert mode(tmp_path / "data") == 0o700
    assert mode(keydir) == 0o700
    assert settings.keystore_password_file is not None
    assert mode(settings.keystore_password_file) == 0o600
    files = list(keydir.glob("*.json"))
    assert files and all(mode(f) == 0o600 for f in files)


def test_an_in_memory_database_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite://", "sqlite:///:memory:"):
        engine = make_engine(url)
        with engine.connect() as c:
            assert c.scalar(sa.text("select 1")) == 1
        engine.dispose()
    assert list(tmp_path.iterdir()) == []
