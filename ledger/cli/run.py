"""``mileage run``: the whole ledger on its embedded default (what ``make run`` starts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from ledger.adapters.orm import Account, ApiKey, Balance
from ledger.cli._common import friendly_errors
from ledger.cli.stop_signals import StopRequested, StopSignals
from ledger.service.embedded import Embedded
from ledger.settings import Settings, get_settings

app = typer.Typer()


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


def _dev_token(app_: Any, emb: Embedded, account: str) -> str:
    """DEVELOPMENT ONLY: a demo citizen's sign-in token (embedded demo, no real provider)."""
    from api.dev_oidc import install_dev_sign_in

    if emb.settings.oidc_jwks_url or emb.rt is None:
        return ""
    with emb.rt.sessions() as s:
        citizen = s.scalar(sa.select(Account.citizen_id).where(Account.account_id == account))
    if citizen is None:
        return ""
    token = install_dev_sign_in(app_, emb.settings, citizen)
    base = f"http://{emb.settings.api_host}:{emb.settings.api_port}"
    return f"""
DEVELOPMENT ONLY (embedded demo): a stand-in identity provider signed this citizen's token
(12 h); never use it with a real deployment, which verifies the city's tokens (README).
  curl -s -H 'Authorization: Bearer {token}' {base}/v1/me/balances
"""


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


def _run(emb: Embedded, citizens: int, serve: bool) -> None:
    import uvicorn

    from api.main import create_app

    emb.open()
    emb.load_demo(citizens)
    bridge = emb.make_bridge()
    emb.mirror(bridge)
    account, keys = _demo_keys(emb)
    if not serve:
        typer.echo(account)
        return
    emb.start_bridge_loop(bridge)
    app_ = create_app(emb.settings)
    dev = _dev_token(app_, emb, account) if emb.settings.embedded_demo else ""
    typer.echo(_things_to_try(emb.settings, account, keys) + dev, err=True)
    # uvicorn handles SIGTERM/SIGINT itself while serving (it drains requests), then raises the
    # signal again: StopSignals turns that into StopRequested, and run() stops the rest.
    s = emb.settings
    uvicorn.run(app_, host=s.api_host, port=s.api_port, log_level="warning")
