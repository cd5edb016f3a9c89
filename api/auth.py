"""Bearer API keys: generation, hashing, lookup and scope checks.

A key is ``mlk_`` + 43 url-safe characters (32 random bytes); the database stores only its
SHA-256 (hex) and an 8-character prefix for listing. A key is shown once, when created.

Scopes (space-separated on the key):
- ``wallet``: reads the one account the key is bound to;
- ``integrator``: conversions and deductions (and follows them);
- ``operator:<PROGRAM>``: submits awards of that program;
- ``auditor``: reads every account and the audit endpoints;
- ``admin``: everything.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from api.errors import Forbidden, Unauthorized
from ledger.adapters.orm import ApiKey
from ledger.domain.codes import AWARDED_PROGRAMS

KEY_PREFIX = "mlk_"
SCOPES_FIXED = ("wallet", "integrator", "auditor", "admin")
OPERATOR_SCOPES = tuple(f"operator:{p.name}" for p in AWARDED_PROGRAMS)
ALL_SCOPES = SCOPES_FIXED + OPERATOR_SCOPES
ACCOUNT_RE = re.compile(r"^0x[0-9a-f]{64}$")


def generate_key() -> str:
    """A new high-entropy API key (shown to its owner once)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    return key[len(KEY_PREFIX) : len(KEY_PREFIX) + 8]


def validate_scopes(scopes: list[str], account_id: str | None) -> None:
    """Raise ValueError unless ``scopes`` are known and ``wallet`` keys name their account."""
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; use {', '.join(ALL_SCOPES)}")
    if not scopes:
        raise ValueError("a key needs at least one scope")
    if "wallet" in scopes and (account_id is None or not ACCOUNT_RE.match(account_id)):
        raise ValueError("a wallet key needs --account 0x<64 lowercase hex>")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, scopes and (for wallet keys) account."""

    key_id: int
    name: str
    scopes: frozenset[str]
    account_id: str | None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def has(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes

    def require(self, *any_of: str) -> None:
        """Raise 403 unless the key holds one of ``any_of`` (admin holds all)."""
        if not any(self.has(s) for s in any_of):
            raise Forbidden(
                f"this API key lacks the scope: needs one of {', '.join(any_of)}",
                {"required": list(any_of), "scopes": sorted(self.scopes)},
            )

    def require_account(self, account_id: str) -> None:
        """Raise 403 unless the key may read ``account_id``: auditor/admin read all, a wallet
        key only its own account."""
        if self.has("auditor"):
            return
        if "wallet" in self.scopes and self.account_id == account_id:
            return
        if "wallet" in self.scopes:
            raise Forbidden("this wallet key reads only its own account", {"account": account_id})
        raise Forbidden(
            "this API key lacks the scope: needs wallet (own account) or auditor",
            {"required": ["wallet", "auditor"], "scopes": sorted(self.scopes)},
        )


class KeyStore:
    """Resolves bearer keys to principals, caching lookups for ``ttl`` seconds (a revocation
    takes effect within ``ttl``; the hot read path then needs no key query)."""

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 5.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def resolve(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("malformed Authorization header: use 'Bearer <key>'")
        digest = hash_key(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            principal = self._load(digest)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (now + self._ttl, principal)
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
        return principal

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def _load(self, digest: str) -> Principal | None:
        with self._sessions() as s:
            row = s.execute(
                sa.select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
            ).scalar_one_or_none()
            if row is None:
                return None
            return Principal(row.id, row.name, frozenset(row.scopes.split()), row.account_id)


@dataclass(frozen=True)
class CreatedKey:
    """A freshly created key: ``key`` is the only time the secret is available."""

    id: int
    name: str
    key: str
    prefix: str
    scopes: list[str]
    account_id: str | None


def create_api_key(
    sessions: sessionmaker[Session], name: str, scopes: list[str], account_id: str | None = None
) -> CreatedKey:
    """Create and store (hashed) a new API key."""
    account = account_id.lower() if account_id else None
    validate_scopes(scopes, account)
    key = generate_key()
    with sessions() as s, s.begin():
        row = ApiKey(
            name=name,
            prefix=key_prefix(key),
            key_hash=hash_key(key),
            scopes=" ".join(scopes),
            account_id=account,
        )
        s.add(row)
        s.flush()
        key_id = row.id
    return CreatedKey(key_id, name, key, key_prefix(key), scopes, account)


def list_api_keys(sessions: sessionmaker[Session]) -> list[ApiKey]:
    with sessions() as s:
        return list(s.execute(sa.select(ApiKey).order_by(ApiKey.id)).scalars())


def revoke_api_key(sessions: sessionmaker[Session], key_id: int) -> bool:
    """Revoke key ``key_id``; False if no such active key."""
    with sessions() as s, s.begin():
        row = s.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = datetime.now(UTC)
        return True
