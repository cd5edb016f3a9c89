"""The embedded demo's development sign-in: its JWKS is served by the demo API over HTTP and the
token it prints is accepted by the real verifier; refused outside the embedded demo."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import jwt
import pytest
import uvicorn

from api.dev_oidc import DEV_AUDIENCE, DEV_ISSUER, DevSignInRefused, install_dev_sign_in
from api.main import create_app
from ledger.adapters.db import migrate
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, REF_KEY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dev_token_is_verified_against_the_served_jwks(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_port=_free_port())  # the embedded demo's
    migrate(settings.effective_database_url)
    app = create_app(settings)
    token = install_dev_sign_in(app, settings, "C0000001")
    assert "/dev/oidc/jwks.json" not in app.openapi()["paths"]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.05)
        base = f"http://127.0.0.1:{settings.api_port}"
        jwks = httpx.get(f"{base}/dev/oidc/jwks.json").json()
        key = jwt.PyJWK(jwks["keys"][0])
        claims = jwt.decode(token, key.key, ["RS256"], audience=DEV_AUDIENCE, issuer=DEV_ISSUER)
        assert claims["sub"] == "C0000001"
        # the real verifier fetches that JWKS over HTTP and accepts the token: past sign-in, the
        # read stops only at the (absent) ledger deployment
        r = httpx.get(f"{base}/v1/me/balances", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503 and "no ledger contract" in r.json()["message"], r.text
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        r = httpx.get(f"{base}/v1/me/balances", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401
    finally:
        server.should_exit = True
        thread.join()
    assert (tmp_path / "dev-oidc-key.pem").stat().st_mode & 0o077 == 0


def test_refused_outside_the_embedded_demo(tmp_path: Path) -> None:
    keys = {"account_key": ACCOUNT_KEY, "ref_key": REF_KEY}
    external = Settings(data_dir=tmp_path, rpc_url="http://127.0.0.1:1", **keys)  # type: ignore[arg-type]
    with pytest.raises(DevSignInRefused):
        install_dev_sign_in(create_app(external), external, "C1")
    configured = Settings(data_dir=tmp_path, oidc_jwks_url="https://id.example/certs")
    with pytest.raises(DevSignInRefused):
        install_dev_sign_in(create_app(configured), configured, "C1")
