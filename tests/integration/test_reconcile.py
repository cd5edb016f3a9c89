"""``mileage reconcile``: the database index against the contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from indexer_helpers import LedgerDriver, acct
from typer.testing import CliRunner, Result

from bridge.indexer import Indexer
from bridge.raw_reader import RawLedgerReader
from bridge.reconcile import ReconcileError, reconcile
from ledger.adapters.orm import AccountHead, Balance, Entry
from ledger.domain.codes import Program
from ledger.settings import get_settings
from tests.keyring import set_key_env

pytestmark = pytest.mark.chain


@pytest.fixture
def indexed(deployed: Any, session_factory: Any) -> list[str]:
    """Grants, a deduction and a conversion on chain, all indexed; returns the accounts."""
    drv = LedgerDriver(deployed)
    ids = [acct(f"rc{i}") for i in range(8)]
    drv.grant(Program.CAR, [(a, 20_000 + i) for i, a in enumerate(ids)])
    drv.grant(Program.ECO_HOUSEHOLD, [(a, 10_000) for a in ids[:4]])
    drv.deduct(ids[0], Program.CAR, 700)
    drv.convert(ids[1], Program.ECO_HOUSEHOLD, Program.SEOUL, 2_500, "rc-conv")
    Indexer(session_factory, deployed.client, deployed.block_number).run_until_head()
    return ids


@pytest.fixture
def cli(deployed: Any, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``cli(*args)`` runs ``mileage reconcile`` against this test's chain and database."""
    from ledger.cli.reconcile import app

    monkeypatch.setenv("MILEAGE_DATABASE_URL", db_url)
    monkeypatch.setenv("MILEAGE_RPC_URL", deployed.url)
    monkeypatch.setenv("MILEAGE_CONTRACT_ADDRESS", deployed.address)
    set_key_env(monkeypatch)
    get_settings.cache_clear()

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    yield run
    get_settings.cache_clear()


def test_clean_index_exits_zero(indexed: list[str], cli: Any, session_factory: Any) -> None:
    res = cli()
    assert res.exit_code == 0, res.output
    assert "8 accounts, 15 indexed entries: OK" in res.output
    # the console's operator page shows the last run
    from ledger.adapters.orm import ReconcileRun

    with session_factory() as s:
        (run,) = s.query(ReconcileRun).all()
    assert (run.accounts, run.entries, run.discrepancies) == (8, 15, 0)
    assert "8 accounts, 15 indexed entries: OK" in run.summary


def test_registered_in_the_mileage_command(indexed: list[str], cli: Any) -> None:
    from ledger.cli.main import app

    res = CliRunner().invoke(app, ["reconcile", "--account", indexed[0]])
    assert res.exit_code == 0, res.output
    assert "1 accounts, 3 indexed entries: OK" in res.output


def test_doctored_entry_amount_is_reported(
    indexed: list[str], cli: Any, session_factory: Any
) -> None:
    victim = indexed[2]
    with session_factory.begin() as s:
        s.execute(
            sa.update(Entry)
            .where(Entry.account_id == victim, Entry.seq == 1)
            .values(amount=Entry.amount + 1)
        )
    res = cli()
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith(victim)]
    assert any("entries.balance[CAR]: index 20003, chain 20002" in ln for ln in lines), lines
    assert any("entries.hash_chain" in ln and "seq 1" in ln for ln in lines), lines
    assert len(lines) == 2  # nothing else of this account, no other account
    assert "2 DISCREPANCY(IES)" in res.output


def test_doctored_balance_and_head_are_reported(
    indexed: list[str], cli: Any, session_factory: Any
) -> None:
    a, b = indexed[0], indexed[5]
    with session_factory.begin() as s:
        s.execute(
            sa.update(Balance)
            .where(Balance.account_id == a, Balance.program == int(Program.CAR))
            .values(balance=1)
        )
        s.execute(sa.update(AccountHead).where(AccountHead.account_id == b).values(count=9))
    res = cli()
    assert res.exit_code == 1, res.output
    assert f"{a}  balance[CAR]: index 1, chain {20_000 - 700}" in res.output
    assert f"{b}  count: index 9, chain 1" in res.output


def test_deleted_entry_is_reported(indexed: list[str], cli: Any, session_factory: Any) -> None:
    victim = indexed[1]
    with session_factory.begin() as s:
        s.execute(sa.delete(Entry).where(Entry.account_id == victim, Entry.seq == 2))
    res = cli()
    assert res.exit_code == 1
    assert f"{victim}  entries.count: index 3, chain 4" in res.output
    assert f"{victim}  entries.hash_chain: index row 2 has seq 3" in res.output


def test_account_filter(indexed: list[str], cli: Any, session_factory: Any) -> None:
    with session_factory.begin() as s:
        s.execute(sa.update(Balance).where(Balance.account_id == indexed[3]).values(balance=0))
    assert cli("--account", indexed[4]).exit_code == 0
    res = cli("--account", indexed[3], "-a", indexed[4])
    assert res.exit_code == 1 and "2 accounts" in res.output
    unknown = acct("never-seen")
    res = cli("--account", unknown)
    assert res.exit_code == 0 and "1 accounts, 0 indexed entries: OK" in res.output


def test_compares_at_the_cursor_block(
    indexed: list[str], deployed: Any, session_factory: Any
) -> None:
    """Entries mined after the cursor are not a discrepancy: both sides are read at one block."""
    LedgerDriver(deployed).grant(Program.CAR, [(indexed[0], 5)])
    with RawLedgerReader(deployed.url, deployed.address) as rd:
        assert reconcile(session_factory, rd).ok
        Indexer(session_factory, deployed.client, deployed.block_number).run_until_head()
        report = reconcile(session_factory, rd)
    assert report.ok and report.entries == 16


def test_empty_index_cannot_be_reconciled(deployed: Any, session_factory: Any, cli: Any) -> None:
    with RawLedgerReader(deployed.url, deployed.address) as rd, pytest.raises(ReconcileError):
        reconcile(session_factory, rd)
    res = cli()
    assert res.exit_code == 2 and "index is empty" in res.output
