"""A test identity provider: a JWKS served over HTTP on 127.0.0.1 and tokens signed by PyJWT.

(Imported by the OIDC tests and the schemathesis run; it holds no tests itself.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://id.seoul.test/realms/citizens"
AUDIENCE = "seoul-wallet"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algo = jwt.get_algorithm_by_name(self.alg)
        data: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class Provider:
    """The JWKS endpoint's keys (mutable: rotation) and how often it was fetched."""

    url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    hits: int = 0

    def token(
        self,
        key: SigningKey,
        sub: str = "citizen-001",
        *,
        iss: str = ISSUER,
        aud: str = AUDIENCE,
        exp_in: int = 600,
        nbf_in: int = 0,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + exp_in, **claims}
        if nbf_in:
            payload["nbf"] = now + nbf_in
        return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": key.kid})


@contextmanager
def serve_jwks(*keys: SigningKey) -> Iterator[Provider]:
    """A JWKS on an ephemeral 127.0.0.1 port, served from a thread for the block's duration."""
    provider = Provider(keys=list(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider.hits += 1
            body = json.dumps({"keys": [k.jwk() for k in provider.keys]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/certs"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
