"""Bearer API keys at request time: resolving a key to its principal, and scope checks.

Keys are created, listed and revoked by :mod:`ledger.service.apikeys` (``mileage apikeys``),
which says what each scope allows; only the keys' SHA-256 is stored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from api.errors import Forbidden, Unauthorized
from ledger.adapters.orm import ApiKey
from ledger.service.apikeys import hash_key


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
