"""The wallet's sign-in: OpenID Connect access tokens of the city's identity provider.

The Seoul Wallet app sends the citizen's access token as ``Authorization: Bearer <JWT>``. It is
verified with PyJWT against the provider's JWKS (``MILEAGE_OIDC_JWKS_URL``): signature (RS256 or
ES256 only, the algorithm must fit the key), issuer, audience, expiry and not-before (with
``MILEAGE_OIDC_LEEWAY_SECONDS``). The JWKS is cached and fetched again when a token names an
unknown ``kid`` (key rotation), at most once per ``MILEAGE_OIDC_JWKS_MIN_REFRESH_SECONDS`` so that
made-up kids cannot make this server hammer the provider.

The citizen id is the claim ``MILEAGE_OIDC_CITIZEN_CLAIM`` (default ``sub``); the account is the
same keyed id ``mileage members import`` derives (:func:`ledger.domain.accounts.account_id`).

Every rejection is a 401 with ``WWW-Authenticate: Bearer error="invalid_token",
error_description="..."`` (RFC 6750 §3) saying why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.errors import ApiError, ServiceUnavailable, error_response
from ledger.domain.accounts import account_id
from ledger.settings import Settings

ALGORITHMS = ("RS256", "ES256")
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}


class InvalidToken(ApiError):
    """The bearer token is not a valid access token of the city's identity provider."""

    status = 401
    code = "invalid_token"

    @property
    def www_authenticate(self) -> str:
        text = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in self.message)
        return f'Bearer error="invalid_token", error_description="{text}"'


class SignInUnavailable(ServiceUnavailable):
    """Wallet sign-in is not configured, or the identity provider's JWKS cannot be fetched."""

    code = "sign_in_unavailable"


@dataclass(frozen=True)
class OidcConfig:
    """Where the keys are and what a token must say (from the ``MILEAGE_OIDC_*`` settings)."""

    jwks_url: str
    issuer: str
    audience: str
    citizen_claim: str = "sub"
    leeway_seconds: int = 30
    min_refresh_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """The configuration, or None while any of the URL, issuer and audience is unset."""
        if not (settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience):
            return None
        return cls(
            jwks_url=settings.oidc_jwks_url,
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            citizen_claim=settings.oidc_citizen_claim,
            leeway_seconds=settings.oidc_leeway_seconds,
            min_refresh_seconds=settings.oidc_jwks_min_refresh_seconds,
        )


class JwksCache:
    """The provider's signing keys by ``kid``; fetched on first use and again on an unknown kid,
    but never twice within ``min_refresh_seconds`` (``clock`` is injectable for tests)."""

    def __init__(
        self,
        url: str,
        min_refresh_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._failure: str | None = None  # why the last fetch failed (None: it succeeded)
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str) -> jwt.PyJWK:
        """The key ``kid``; refreshes the set once if it is unknown and the interval allows."""
        found = self._keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            found = self._keys.get(kid)
            if found is None and self._may_refresh():
                self._refresh()
                found = self._keys.get(kid)
        if found is None and self._failure is not None:
            raise SignInUnavailable(self._failure, {"jwks_url": self._url})
        if found is None:
            raise InvalidToken(
                f"unknown signing key (kid {kid[:64]!r}) at the identity provider; sign in again"
            )
        return found

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._min_refresh

    def _refresh(self) -> None:
        self._fetched_at = self._clock()
        self.fetches += 1
        try:
            response = httpx.get(self._url, timeout=self._timeout)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self._failure = (
                f"cannot fetch the identity provider's keys ({type(exc).__name__}); retry later"
            )
            raise SignInUnavailable(self._failure, {"jwks_url": self._url}) from exc
        self._failure = None
        keys: dict[str, jwt.PyJWK] = {}
        for entry in data.get("keys", []) if isinstance(data, dict) else []:
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type or algorithm we do not accept: skip it
            if isinstance(entry.get("kid"), str) and key.key_type in _KEY_TYPES.values():
                keys[entry["kid"]] = key
        self._keys = keys


@dataclass(frozen=True)
class Citizen:
    """A signed-in citizen: the id from the token and the account it maps to."""

    citizen_id: str
    account: str


class OidcVerifier:
    """Verifies access tokens and maps them to citizens' accounts."""

    def __init__(self, config: OidcConfig, account_key: bytes, jwks: JwksCache | None = None):
        self.config = config
        self._account_key = account_key
        self.jwks = jwks or JwksCache(config.jwks_url, config.min_refresh_seconds)

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; :class:`InvalidToken` saying why otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}; send the access token as issued") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} is not accepted; only RS256 and ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        key = self.jwks.key(kid)
        if key.key_type != _KEY_TYPES[alg]:
            raise InvalidToken(f"algorithm {alg} does not fit key {kid!r} ({key.key_type})")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired; sign in again") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet (nbf/iat in the future)") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("the token was issued for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("the token was issued by another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        return claims

    def citizen(self, authorization: str | None) -> Citizen:
        """The citizen signed in with the ``Authorization: Bearer <JWT>`` header."""
        if not authorization:
            raise InvalidToken("missing access token: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("malformed Authorization header: use 'Bearer <token>'")
        claims = self.claims(token)
        citizen = claims.get(self.config.citizen_claim)
        if not isinstance(citizen, str) or not citizen.strip():
            claim = self.config.citizen_claim
            raise InvalidToken(f"the token carries no citizen id (claim {claim})")
        account = "0x" + account_id(citizen.strip(), self._account_key).hex()
        return Citizen(citizen.strip(), account)


def verifier_for(app: FastAPI, settings: Settings, account_key: bytes) -> OidcVerifier:
    """The app's verifier (built on first use; ``account_key``: the key of the account ids,
    as ``members import`` uses it); 503 while sign-in is not configured."""
    verifier: OidcVerifier | None = getattr(app.state, "oidc", None)
    if verifier is not None:
        return verifier
    config = OidcConfig.from_settings(settings)
    if config is None:
        raise SignInUnavailable(
            "wallet sign-in is not configured: set MILEAGE_OIDC_JWKS_URL, MILEAGE_OIDC_ISSUER "
            "and MILEAGE_OIDC_AUDIENCE"
        )
    verifier = OidcVerifier(config, account_key)
    app.state.oidc = verifier
    return verifier


def install_oidc(app: FastAPI) -> None:
    """Answer :class:`InvalidToken` with the RFC 6750 ``WWW-Authenticate`` header."""

    @app.exception_handler(InvalidToken)
    async def _invalid_token(_req: Request, exc: InvalidToken) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        response.headers["WWW-Authenticate"] = exc.www_authenticate
        return response
