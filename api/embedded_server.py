"""The API of ``mileage run`` (the embedded demo): the app for the embedded settings, the
development sign-in of a demo citizen, and uvicorn in the foreground.

``ledger/cli/run.py`` calls :func:`serve` by its module name (the ledger package does not import
the API: composition points one way)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledger.adapters.orm import Account
from ledger.service.embedded import Embedded


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


def serve(emb: Embedded, account: str, intro: str) -> None:
    """Serve the API of the opened embedded ledger until a stop signal; ``intro`` (what to try)
    is said first, with the demo citizen's development token when ``account`` has one."""
    import uvicorn

    from api.main import create_app

    app_ = create_app(emb.settings)
    dev = _dev_token(app_, emb, account) if emb.settings.embedded_demo else ""
    emb.say(intro + dev)
    # uvicorn handles SIGTERM/SIGINT itself while serving (it drains requests), then raises the
    # signal again: the CLI's StopSignals turns that into StopRequested and stops the rest.
    s = emb.settings
    uvicorn.run(app_, host=s.api_host, port=s.api_port, log_level="warning")
