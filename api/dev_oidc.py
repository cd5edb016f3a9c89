"""DEVELOPMENT ONLY: a stand-in identity provider for the embedded demo (``mileage run``).

It keeps an RSA key in the data dir, serves its JWKS at ``/dev/oidc/jwks.json`` on the demo
API itself (not in the OpenAPI schema) and signs a demo citizen's access token, so the wallet's
``/v1/me/...`` reads can be tried without the city's identity provider. Refused unless the
ledger runs on its embedded chain and no real provider is configured.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from api.oidc import OidcConfig, OidcVerifier
from ledger.settings import Settings

DEV_ISSUER = "urn:mileage:embedded-demo-idp:development-only"
DEV_AUDIENCE = "seoul-wallet-demo"
DEV_KID = "embedded-demo-1"
JWKS_PATH = "/dev/oidc/jwks.json"


class DevSignInRefused(RuntimeError):
    """The development sign-in was asked for outside the embedded demo."""


def _key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def jwks_of(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**public, "kid": DEV_KID, "alg": "RS256", "use": "sig"}]}


def install_dev_sign_in(app: FastAPI, settings: Settings, citizen_id: str) -> str:
    """Serve the development JWKS on ``app``, make it the app's sign-in, and return an access
    token (12 h) for ``citizen_id``. Raises :class:`DevSignInRefused` outside the embedded demo."""
    if not settings.embedded_demo or settings.oidc_jwks_url:
        raise DevSignInRefused(
            "the development sign-in runs only in the embedded demo without MILEAGE_OIDC_JWKS_URL"
        )
    key = _key(settings.data_dir / "dev-oidc-key.pem")
    jwks = jwks_of(key)

    @app.get(JWKS_PATH, include_in_schema=False)
    def _dev_jwks() -> dict[str, Any]:
        return jwks

    url = f"http://{settings.api_host}:{settings.api_port}{JWKS_PATH}"
    config = OidcConfig(url, DEV_ISSUER, DEV_AUDIENCE, settings.oidc_citizen_claim)
    app.state.oidc = OidcVerifier(config, settings.id_keys().account)
    now = int(time.time())
    claims = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "iat": now, "exp": now + 12 * 3600}
    claims[settings.oidc_citizen_claim] = citizen_id
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": DEV_KID})
