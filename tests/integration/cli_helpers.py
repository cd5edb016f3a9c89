"""Helpers for tests that drive the `mileage` CLI in-process against a real node and database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bridge.indexer import Indexer
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.cli.main import app
from ledger.domain.accounts import account_id
from ledger.service.runtime import Runtime

HMAC_KEY = "integration-test-account-key"
runner = CliRunner()


def cli(*args: str, code: int = 0) -> str:
    """Run `mileage ARGS`; assert its exit code; return what it printed."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def mirror(rt: Runtime, key: str) -> None:
    """Submit the outbox with ``key`` (a dev key holding every role) and index to the head."""
    dep = rt.deployment()
    assert dep is not None
    Submitter(rt.sessions, rt.client, signer_from_key(key), rt.settings).run_until_idle()
    Indexer(rt.sessions, rt.client, dep.block_number, 0).run_until_head()


def acc(citizen: str) -> bytes:
    """The on-chain account id of ``citizen`` under the tests' HMAC key."""
    return account_id(citizen, HMAC_KEY.encode())
