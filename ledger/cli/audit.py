"""``mileage audit``: independent audits of the ledger.

``verify`` needs no database: it recomputes every balance, count and hash-chain head from the
chain's ``EntryRecorded`` events alone and checks them against the contract's state at one block,
and checks that every correction is bound to an award granted before it (``bridge.audit_rules``).
If the configured database mirrors that ledger, it also checks every award the database holds as
mined or final against its GRANT entry (``bridge.award_audit``; ``--no-awards`` skips it).
Exit codes: 0 all consistent, 1 mismatches (each one printed), 2 the audit could not run.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bridge.errors import BridgeError
from ledger.domain.errors import LedgerError
from ledger.settings import Settings, get_settings

app = typer.Typer(help="Independent audits of the ledger (chain data, proof bundles).")


@app.callback()
def _audit() -> None:
    """Independent audits of the ledger (chain data, proof bundles)."""


def _default_deployment(settings: Settings, chain_id: int) -> tuple[str, int | None]:
    """The contract ``make run`` uses: MILEAGE_CONTRACT_ADDRESS, else the newest deployment the
    configured database recorded for this chain. Returns (address, deployment block or None)."""
    import sqlalchemy as sa

    from ledger.adapters.db import make_engine
    from ledger.adapters.orm import Deployment

    url = settings.effective_database_url
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            q = sa.select(Deployment.address, Deployment.block_number).where(
                Deployment.chain_id == chain_id
            )
            if settings.contract_address:
                q = q.where(sa.func.lower(Deployment.address) == settings.contract_address.lower())
            row = c.execute(q.order_by(Deployment.id.desc()).limit(1)).first()
    except sa.exc.SQLAlchemyError:
        row = None
    finally:
        engine.dispose()
    if row is not None:
        return str(row[0]), int(row[1])
    if settings.contract_address:
        return settings.contract_address, None
    raise BridgeError(
        f"no ledger deployment recorded for chain {chain_id} in {url}: pass --contract ADDRESS "
        "or set MILEAGE_CONTRACT_ADDRESS"
    )


@app.command()
def verify(
    rpc: Annotated[
        str | None, typer.Option(help="JSON-RPC URL (default: MILEAGE_RPC_URL / embedded anvil)")
    ] = None,
    contract: Annotated[
        str | None,
        typer.Option(help="ledger address (default: the deployment `make run` uses)"),
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", "-a", help="verify only this account (repeatable)"),
    ] = None,
    all_accounts: Annotated[
        bool, typer.Option("--all", help="verify every account and the program totals (default)")
    ] = False,
    block: Annotated[
        int | None, typer.Option(help="block to verify at (default: head - confirmations)")
    ] = None,
    from_block: Annotated[
        int | None, typer.Option(help="first block with events (default: the deployment block)")
    ] = None,
    chunk: Annotated[int, typer.Option(help="blocks per eth_getLogs request")] = 2_000,
    max_print: Annotated[int, typer.Option(help="mismatches to print (0: all)")] = 0,
    awards: Annotated[
        bool,
        typer.Option(
            help="also check the database's mined/final/conflict awards against their GRANT "
            "entries (when the configured database mirrors this ledger)"
        ),
    ] = True,
) -> None:
    """Recompute balances, entry counts and hash-chain heads from chain events alone (no
    database) and check them against the contract's state at one block."""
    from bridge.award_audit import check_database_awards
    from bridge.raw_reader import RawLedgerReader, norm_account
    from bridge.verify import verify_ledger

    if account and all_accounts:
        print("error: give --account or --all, not both", file=sys.stderr)
        raise typer.Exit(2)
    settings = get_settings()
    url = rpc or settings.effective_rpc_url
    try:
        with RawLedgerReader(url, contract or "0x" + "00" * 20) as probe:
            chain_id = probe.chain_id()
        address, deployed_at = (
            (contract, None) if contract else _default_deployment(settings, chain_id)
        )
        start = from_block if from_block is not None else deployed_at
        report = verify_ledger(
            url,
            address,
            accounts=account or None,
            block=block,
            from_block=start,
            confirmations=settings.confirmations,
            chunk=chunk,
        )
        unmatched = None
        if awards:
            only = None if not account else {norm_account(a) for a in account}
            unmatched = check_database_awards(
                settings.effective_database_url,
                report.address,
                chain_id,
                report.block,
                report.awards.grant_of,
                only,
            )
    except (BridgeError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    shown = report.mismatches if max_print <= 0 else report.mismatches[:max_print]
    for m in shown:
        typer.echo(f"MISMATCH {m}")
    if len(shown) < len(report.mismatches):
        typer.echo(f"... and {len(report.mismatches) - len(shown)} more")
    typer.echo(report.summary())
    if unmatched is None:
        why = "no database mirrors this ledger" if awards else "--no-awards"
        typer.echo(f"database awards: not checked ({why})")
    else:
        for u in unmatched:
            typer.echo(f"AWARD WITHOUT GRANT {u}")
        verdict = "OK" if not unmatched else f"{len(unmatched)} WITHOUT A MATCHING GRANT"
        typer.echo(f"database awards (mined/final/conflict) against GRANT entries: {verdict}")
    if not report.ok or unmatched:
        raise typer.Exit(1)


@app.command("verify-bundle")
def verify_bundle_cmd(
    file: Annotated[
        typer.FileText, typer.Argument(help="bundle JSON from GET /v1/audit/accounts/{a}/bundle")
    ],
    block_hash: Annotated[
        str | None,
        typer.Option(help="trusted hash of the bundle's block (e.g. from your own node)"),
    ] = None,
) -> None:
    """Verify a proof bundle offline: header hash = keccak(rlp(header)), the account and storage
    proofs of the account word (count and 24-byte head) and the balances against the header's
    stateRoot, and the hash chain of the entries ending in that head with that count. Exit 0
    valid, 1 invalid, 2 unreadable."""
    import json

    from bridge.proofs import ProofError, verify_bundle

    try:
        bundle = json.load(file)
    except ValueError as exc:
        print(f"error: not a JSON bundle: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    try:
        state = verify_bundle(bundle, trusted_block_hash=block_hash)
    except (ProofError, KeyError, TypeError, ValueError) as exc:
        typer.echo(f"INVALID {exc}")
        raise typer.Exit(1) from exc
    balances = ", ".join(f"{k}={v}" for k, v in state.balances.items() if v)
    typer.echo(
        f"VALID account {bundle['account']} at block {state.block_number} ({state.block_hash}): "
        f"{state.count} entries, head {state.head}; balances {balances or 'none'}"
    )
    if block_hash is None:
        typer.echo("note: pass --block-hash with a hash from a node you trust to anchor the check")
