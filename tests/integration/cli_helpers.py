"""Helpers for tests that drive the `mileage` CLI in-process against a real node and database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.anvil import AnvilProcess
from bridge.indexer import Indexer
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.cli.main import app
from ledger.domain.accounts import account_id
from ledger.service.runtime import Runtime
from ledger.service.witness import live_list_source
from ledger.settings import get_settings
from tests.keyring import KEYS, set_key_env

runner = CliRunner()


def cli(*args: str, code: int = 0) -> str:
    """Run `mileage ARGS`; assert its exit code; return what it printed."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@contextmanager
def cli_env(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, admin_key: str, *, deploy: bool
) -> Iterator[AnvilProcess]:
    """A fresh anvil and the environment the CLI reads (``admin_key`` signs), optionally with
    the ledger deployed by `mileage deploy`."""
    with AnvilProcess(log_file=tmp_path / "anvil.log") as node:
        monkeypatch.setenv("MILEAGE_RPC_URL", node.url)
        monkeypatch.setenv("MILEAGE_DATABASE_URL", db_url)
        monkeypatch.setenv("MILEAGE_PRIVATE_KEY", admin_key)
        set_key_env(monkeypatch)
        monkeypatch.setenv("MILEAGE_DATA_DIR", str(tmp_path / "data"))
        get_settings.cache_clear()
        if deploy:
            assert "deployed: MileageLedger" in cli("deploy")
        yield node
        get_settings.cache_clear()


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def mirror(rt: Runtime, key: str) -> None:
    """Submit the outbox with ``key`` (a dev key holding every role) and index to the head."""
    dep = rt.deployment()
    assert dep is not None
    Submitter(
        rt.sessions,
        rt.client,
        signer_from_key(key),
        rt.settings,
        live_lists=live_list_source(rt.client, rt.sessions),
    ).run_until_idle()
    Indexer(rt.sessions, rt.client, dep.block_number, 0).run_until_head()


def acc(citizen: str) -> bytes:
    """The on-chain account id of ``citizen`` under the tests' account key."""
    return account_id(citizen, KEYS.account)
