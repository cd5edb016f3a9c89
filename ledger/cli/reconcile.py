"""``mileage reconcile``: compare the database index with the contract's state.

Exit codes: 0 the index matches the chain, 1 discrepancies (each one printed), 2 the comparison
could not run (no node, nothing indexed, no deployment).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bridge.errors import BridgeError
from ledger.domain.errors import LedgerError
from ledger.settings import get_settings

app = typer.Typer()


@app.command()
def reconcile(
    account: Annotated[
        list[str] | None,
        typer.Option("--account", "-a", help="account id (0x + 64 hex); repeat; default: all"),
    ] = None,
    block: Annotated[
        int | None, typer.Option(help="block to compare at (default: the indexer's cursor)")
    ] = None,
) -> None:
    """List every difference (account, field, index value, chain value) between the database
    index (entries, balances, heads) and the contract's state at the indexer's cursor block."""
    from bridge.raw_reader import RawLedgerReader
    from bridge.reconcile import reconcile as run_reconcile
    from ledger.service.runs import record_reconcile_run
    from ledger.service.runtime import Runtime

    settings = get_settings()
    try:
        rt = Runtime.open(settings)
        try:
            address = rt.client.address
            with RawLedgerReader(settings.effective_rpc_url, address) as reader:
                report = run_reconcile(rt.sessions, reader, accounts=account, block=block)
            record_reconcile_run(rt.sessions, report)
        finally:
            rt.close()
    except (BridgeError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    for d in report.discrepancies:
        typer.echo(str(d))
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)
