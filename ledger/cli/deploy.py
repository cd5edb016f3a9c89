"""``mileage deploy``: deploy and configure the ledger contract on the configured chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.service.deployment import ensure_deployment
from ledger.service.runtime import Runtime
from ledger.settings import get_settings

app = typer.Typer()


@app.command()
@friendly_errors
def deploy(
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL (default MILEAGE_RPC_URL)")] = None,
    programs: Annotated[Path | None, typer.Option(help="JSON of program limits")] = None,
    admin_delay: Annotated[int, typer.Option(help="two-step admin transfer delay, seconds")] = 0,
    force: Annotated[
        bool, typer.Option(help="deploy a new contract even if one is recorded")
    ] = False,
) -> None:
    """Deploy MileageLedger (admin key: the `admin` keystore or MILEAGE_PRIVATE_KEY), register
    the programs, open the routes into SEOUL, grant each role to its keystore's address."""
    settings = get_settings()
    if rpc:
        settings = settings.model_copy(update={"rpc_url": rpc})
    rt = Runtime.open(settings)
    dep, new = ensure_deployment(rt, programs_file=programs, admin_delay=admin_delay, force=force)
    state = "deployed" if new else "already deployed"
    typer.echo(
        f"{state}: MileageLedger at {dep.address} (chain {dep.chain_id}, block {dep.block_number})"
    )
