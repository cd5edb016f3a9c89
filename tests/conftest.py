"""Shared fixtures: a real anvil process per test session, Web3 connected to it, databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from bridge.anvil import AnvilProcess
from bridge.chain import make_web3

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "MILEAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    """One real anvil node for the session (tests snapshot and revert to isolate themselves)."""
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    with AnvilProcess(log_file=log) as node:
        yield node


@pytest.fixture(scope="session")
def w3(anvil: AnvilProcess) -> Web3:
    """Web3 connected to the session's anvil node."""
    return make_web3(anvil.url)


@pytest.fixture
def fresh_anvil(tmp_path: Path) -> Iterator[AnvilProcess]:
    """A private anvil node for one test, with a state file (for restart tests)."""
    with AnvilProcess(state_file=tmp_path / "state.json", log_file=tmp_path / "anvil.log") as node:
        yield node


def _postgres_available() -> bool:
    try:
        import sqlalchemy as sa

        eng = sa.create_engine(POSTGRES_URL)
        with eng.connect() as c:
            c.execute(sa.text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the local PostgreSQL test database; fails (not skips) in CI when it is down."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}; .ci/run starts it")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    return POSTGRES_URL
