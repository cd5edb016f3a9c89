"""``mileage run``: the whole ledger on its embedded default (what ``make run`` starts)."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from types import ModuleType
from typing import Annotated

import sqlalchemy as sa
import typer

from ledger.adapters.orm import ApiKey, Balance
from ledger.cli._common import friendly_errors
from ledger.cli.stop_signals import StopRequested, StopSignals
from ledger.service.embedded import Embedded
from ledger.settings import Settings, get_settings

app = typer.Typer()

#: The module that serves the API of `mileage run` (`serve(emb, account, intro)`).
API_SERVER = "api.embedded_server"


def _demo_keys(emb: Embedded) -> tuple[str, dict[str, str]]:
    """Fresh demo API keys (the previous run's demo keys are revoked) and a demo account."""
    from ledger.service.apikeys import create_api_key

    assert emb.rt is not None
    with emb.rt.sessions() as s, s.begin():
        s.execute(
            sa.update(ApiKey)
            .where(ApiKey.name.like("demo-%"), ApiKey.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        account = s.scalar(
            sa.select(Balance.account_id)
            .where(Balance.balance > 0)
            .group_by(Balance.account_id)
            .order_by(sa.func.count().desc(), Balance.account_id)
            .limit(1)
        )
    if account is None:
        typer.echo("error: no demo account has a balance yet; see the bridge log above", err=True)
        raise typer.Exit(1)
    keys = {
        "wallet": create_api_key(emb.rt.sessions, "demo-wallet", ["wallet"], account).key,
        "integrator": create_api_key(emb.rt.sessions, "demo-integrator", ["integrator"]).key,
        "auditor": create_api_key(emb.rt.sessions, "demo-auditor", ["auditor"]).key,
    }
    return account, keys


def _things_to_try(settings: Settings, account: str, keys: dict[str, str]) -> str:
    base = f"http://{settings.api_host}:{settings.api_port}"
    w, i, a = keys["wallet"], keys["integrator"], keys["auditor"]
    return f"""
The ledger is up. API docs: {base}/docs
Demo account {account}

Things to try (the keys are new each run; old demo keys are revoked):
  curl -s -H 'Authorization: Bearer {w}' {base}/v1/accounts/{account}/balances
  curl -s -H 'Authorization: Bearer {w}' '{base}/v1/accounts/{account}/history?limit=5'
  curl -s -H 'Authorization: Bearer {w}' '{base}/v1/accounts/{account}/expiring?days=365'
  curl -s -H 'Authorization: Bearer {w}' {base}/v1/accounts/{account}/proof
  curl -s -X POST -H 'Authorization: Bearer {i}' -H 'Idempotency-Key: demo-1' \\
       -H 'Content-Type: application/json' {base}/v1/conversions \\
       -d '{{"account": "{account}", "from_program": "ECO_HOUSEHOLD",
             "to_program": "SEOUL", "amount": 1000}}'
  curl -s -H 'Authorization: Bearer {a}' {base}/v1/audit/accounts/{account}/trail
  curl -s -H 'Authorization: Bearer {a}' {base}/v1/audit/programs
  .venv/bin/mileage audit verify          # recompute everything from chain events alone
  .venv/bin/mileage reconcile             # compare the database index with the chain
Stop with Ctrl-C; `make run` again resumes on the same chain and database.
"""


@app.command()
@friendly_errors
def run(
    citizens: Annotated[int, typer.Option(help="demo citizens to generate")] = 3000,
    serve: Annotated[bool, typer.Option(help="serve the API after loading")] = True,
) -> None:
    """Start the ledger on its embedded default: anvil (state in MILEAGE_DATA_DIR), SQLite,
    the contract deployed once, demo data mirrored on-chain, and the API.

    SIGTERM and SIGINT stop the API, the bridge and the chain node (saving its state) and exit
    with code 0; the next run resumes."""
    from bridge.logs import configure_logging

    settings = get_settings()
    configure_logging(json=settings.log_json or None)

    def say(message: str) -> None:
        typer.echo(message, err=True)

    emb = Embedded(settings, say=say)
    signals = StopSignals(say)
    try:
        with signals:
            try:
                _run(emb, citizens, serve)
            finally:
                signals.shield()  # a second signal must not cut the chain state dump short
                emb.close()
    except StopRequested as stop:
        emb.close()  # a no-op unless the signal came before the shield
        say(f"stopped on {stop.signal.name}: API, bridge and chain node are down")


def _api_server() -> ModuleType:
    """The API's serving module (`api.embedded_server`), imported by name: the ledger package
    does not import the API (composition points one way)."""
    try:
        return importlib.import_module(API_SERVER)
    except ModuleNotFoundError as exc:
        if exc.name not in ("api", API_SERVER):
            raise
        typer.echo(
            f"error: `mileage run` serves the API from {API_SERVER}, which is not installed: "
            "install the whole project (`make install`), or run with --no-serve",
            err=True,
        )
        raise typer.Exit(1) from exc


def _run(emb: Embedded, citizens: int, serve: bool) -> None:
    server = _api_server() if serve else None
    emb.open()
    emb.load_demo(citizens)
    bridge = emb.make_bridge()
    emb.mirror(bridge)
    account, keys = _demo_keys(emb)
    if server is None:
        typer.echo(account)
        return
    emb.start_bridge_loop(bridge)
    server.serve(emb, account, _things_to_try(emb.settings, account, keys))
