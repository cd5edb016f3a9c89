"""The API's bearer keys as stored: generation, hashing, scopes, creation, listing, revocation.

A key is ``mlk_`` + 43 url-safe characters (32 random bytes); the database stores only its
SHA-256 (hex) and an 8-character prefix for listing. A key is shown once, when created
(`mileage apikeys create`). The API resolves keys to principals in :mod:`api.auth`.

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
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

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
