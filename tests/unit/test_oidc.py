"""Wallet sign-in: access tokens verified against a real JWKS served over HTTP (127.0.0.1).

Every rejection is a 401 whose WWW-Authenticate header says why (RFC 6750); key rotation works
(a new kid at the JWKS URL is accepted after one refresh) and unknown kids cannot make the server
fetch the JWKS more than once per interval.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from api.main import create_app
from api.oidc import InvalidToken, JwksCache, OidcConfig, OidcVerifier, SignInUnavailable
from ledger.domain.accounts import account_id
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY as KEYRING_ACCOUNT_KEY
from tests.keyring import REF_KEY
from tests.oidc_helpers import AUDIENCE, ISSUER, Provider, ec_key, rsa_key, serve_jwks

ACCOUNT_KEY = KEYRING_ACCOUNT_KEY.encode()
RSA = rsa_key("rsa-1")
EC = ec_key("ec-1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Iterator[Provider]:
    with serve_jwks(RSA, EC) as p:
        yield p


def verifier(provider: Provider, clock: Clock | None = None, **kw: object) -> OidcVerifier:
    config = OidcConfig(provider.url, ISSUER, AUDIENCE, min_refresh_seconds=60.0, **kw)  # type: ignore[arg-type]
    jwks = JwksCache(provider.url, 60.0, clock=clock or Clock())
    return OidcVerifier(config, ACCOUNT_KEY, jwks)


def reason(v: OidcVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        v.citizen(f"Bearer {token}")
    return info.value.message


def test_rs256_and_es256_map_to_the_members_import_account(provider: Provider) -> None:
    v = verifier(provider)
    for key in (RSA, EC):
        citizen = v.citizen(f"Bearer {provider.token(key, 'citizen-42')}")
        assert citizen.citizen_id == "citizen-42"
        assert citizen.account == "0x" + account_id("citizen-42", ACCOUNT_KEY).hex()


def test_citizen_claim_is_configurable(provider: Provider) -> None:
    v = verifier(provider, citizen_claim="ci")
    token = provider.token(RSA, "opaque-sub", ci="9001011234567")
    assert (
        v.citizen(f"Bearer {token}").account
        == "0x" + account_id("9001011234567", ACCOUNT_KEY).hex()
    )
    assert "claim ci" in reason(v, provider.token(RSA, "opaque-sub"))


def _unsigned(payload: dict[str, object], header: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(payload)}."


def test_every_rejection_says_why(provider: Provider) -> None:
    v = verifier(provider)
    good = jwt.decode(provider.token(RSA), options={"verify_signature": False})
    assert "algorithm 'none'" in reason(v, _unsigned(good, {"alg": "none", "kid": "rsa-1"}))
    # HS256 "signed" with the RSA public key (the classic key-confusion attack)
    pem = RSA.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = _hs256(good, pem)
    assert "algorithm 'HS256'" in reason(v, forged)
    assert "another issuer" in reason(v, provider.token(RSA, iss="https://evil.test"))
    assert "another audience" in reason(v, provider.token(RSA, aud="other-app"))
    assert "expired" in reason(v, provider.token(RSA, exp_in=-3600))
    assert "not valid yet" in reason(v, provider.token(RSA, nbf_in=3600))
    assert "unknown signing key" in reason(v, provider.token(rsa_key("stranger")))
    # an ES256 header on an RSA key, a tampered payload, garbage, wrong scheme, no header
    tampered = provider.token(RSA).split(".")
    tampered[1] = (
        base64.urlsafe_b64encode(json.dumps({**good, "sub": "someone-else"}).encode())
        .decode()
        .rstrip("=")
    )
    assert "signature" in reason(v, ".".join(tampered))
    mismatched = jwt.encode(good, EC.private, algorithm="ES256", headers={"kid": "rsa-1"})
    assert "does not fit" in reason(v, mismatched)
    assert "malformed token" in reason(v, "not-a-jwt")
    with pytest.raises(InvalidToken, match="malformed Authorization"):
        v.citizen("Basic abc")
    with pytest.raises(InvalidToken, match="missing access token"):
        v.citizen(None)


def _hs256(payload: dict[str, object], secret: bytes) -> str:
    import hashlib
    import hmac

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing = (
        part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
        + "."
        + part(json.dumps(payload).encode())
    )
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{part(sig)}"


def test_small_leeway_accepts_a_token_just_expired(provider: Provider) -> None:
    v = verifier(provider, leeway_seconds=120)
    assert v.citizen(f"Bearer {provider.token(RSA, exp_in=-30)}").citizen_id == "citizen-001"
    assert "expired" in reason(v, provider.token(RSA, exp_in=-600))


def test_key_rotation_and_refresh_interval(provider: Provider) -> None:
    clock = Clock()
    v = verifier(provider, clock)
    assert v.citizen(f"Bearer {provider.token(RSA)}")
    assert provider.hits == 1
    assert v.citizen(f"Bearer {provider.token(EC)}")  # cached: no second fetch
    assert provider.hits == 1
    # unknown kids within the interval: rejected without asking the provider again
    for i in range(5):
        assert "unknown signing key" in reason(v, provider.token(rsa_key(f"made-up-{i}")))
    assert provider.hits == 1
    # the provider rotates: a new key appears at the JWKS URL
    new = rsa_key("rsa-2")
    provider.keys = [new]
    token = provider.token(new, "citizen-7")
    assert "unknown signing key" in reason(v, token)  # still inside the interval
    assert provider.hits == 1
    clock.now += 60
    assert v.citizen(f"Bearer {token}").citizen_id == "citizen-7"  # refreshed, accepted
    assert provider.hits == 2
    assert "unknown signing key" in reason(v, provider.token(RSA))  # the retired key


def test_provider_down_is_503_not_a_rejection_and_is_not_hammered(provider: Provider) -> None:
    clock = Clock()
    url = provider.url
    jwks = JwksCache("http://127.0.0.1:9/certs", 60.0, clock=clock)  # nothing listens there
    v = OidcVerifier(OidcConfig(url, ISSUER, AUDIENCE), ACCOUNT_KEY, jwks)
    for _ in range(3):
        with pytest.raises(SignInUnavailable, match="cannot fetch"):
            v.citizen(f"Bearer {provider.token(RSA)}")
    assert jwks.fetches == 1  # within the interval: no new attempt
    jwks._url = url  # the provider is back
    clock.now += 60
    assert v.citizen(f"Bearer {provider.token(RSA)}").citizen_id == "citizen-001"


def _app(tmp_path: Path, provider: Provider | None) -> TestClient:
    extra = (
        {"oidc_jwks_url": provider.url, "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE}
        if provider
        else {}
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        account_key=KEYRING_ACCOUNT_KEY,  # type: ignore[arg-type]
        ref_key=REF_KEY,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )
    return TestClient(create_app(settings))


@pytest.mark.parametrize("path", ["balances", "history", "expiring", "proof"])
def test_api_answers_401_with_www_authenticate(
    provider: Provider, tmp_path: Path, path: str
) -> None:
    http = _app(tmp_path, provider)
    cases = {
        None: "missing access token",
        "Bearer " + provider.token(RSA, exp_in=-3600): "expired",
        "Bearer " + provider.token(RSA, aud="x"): "another audience",
        "Bearer " + provider.token(rsa_key("nope")): "unknown signing key",
    }
    for header, why in cases.items():
        r = http.get(f"/v1/me/{path}", headers={"Authorization": header} if header else {})
        assert r.status_code == 401, r.text
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer error="invalid_token", error_description="')
        assert why in challenge and why in r.json()["message"]
        assert r.json()["code"] == "invalid_token"


def test_api_without_sign_in_configured_is_503(tmp_path: Path) -> None:
    r = _app(tmp_path, None).get("/v1/me/balances", headers={"Authorization": "Bearer x.y.z"})
    assert r.status_code == 503 and "MILEAGE_OIDC_JWKS_URL" in r.json()["message"]
