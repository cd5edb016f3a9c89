"""The city's secrets behind every value written on chain (docs/keys.md).

Two secrets, two lifecycles:

- ``MILEAGE_ACCOUNT_KEY``: account ids, ``HMAC-SHA256(account key, citizen_id)``
  (``ledger.domain.accounts``). Rotating it moves every account (an on-chain merge each).
- ``MILEAGE_REF_KEY``: the master of the references. One subkey per purpose,
  ``HMAC-SHA256(ref key, "mileage-subkey|v1|" + purpose)``: ``award-id`` (award ids, hence
  GRANT and CORRECTION refs) and ``operation-id`` (conversion ids and deduction refs). Rotating
  it is cheap: the database keeps every id it already used.

Nothing on chain links to a member, a citizen or an integrator's reference without them. The
demo keys below are public: only the embedded demo (`mileage run` with its own anvil and
SQLite) may use them; ``ledger.settings`` refuses them everywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from ledger.domain.errors import KeyNotConfigured

#: Fewest bytes a configured secret must have outside the embedded demo.
MIN_SECRET_BYTES = 32
#: Public demo secrets (embedded demo only; the account one predates docs/keys.md).
DEMO_ACCOUNT_KEY = "embedded-demo-account-key-change-me"
DEMO_REF_KEY = "embedded-demo-ref-key-change-me"

SUBKEY_LABEL = b"mileage-subkey|v1|"
AWARD_ID_PURPOSE = "award-id"
OPERATION_ID_PURPOSE = "operation-id"


_BLOCK = 64  # SHA-256's block size (RFC 2104)
_PADS: dict[bytes, tuple[hashlib._Hash, hashlib._Hash]] = {}
_PADS_MAX = 16


def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """The SHA-256 states after the inner and outer padded keys of HMAC (RFC 2104), per key:
    an id then costs two hash copies instead of the key schedule (a process has few keys)."""
    found = _PADS.get(key)
    if found is None:
        block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        if len(_PADS) >= _PADS_MAX:
            _PADS.clear()
        found = _PADS[key] = (inner, outer)
    return found


def keyed_hash(key: bytes, message: str) -> bytes:
    """HMAC-SHA256 of the UTF-8 ``message`` under ``key``: the one keyed function behind every
    on-chain id (32 bytes). Equal to ``hmac.new(key, message, sha256).digest()``."""
    inner, outer = _pads(key)
    h = inner.copy()
    h.update(message.encode("utf-8"))
    out = outer.copy()
    out.update(h.digest())
    return out.digest()


def keyed_hasher(key: bytes, prefix: str) -> Callable[[str], bytes]:
    """``lambda rest: keyed_hash(key, prefix + rest)`` with the prefix hashed once: for many
    ids that share one (a payout's award ids)."""
    inner, outer = _pads(key)
    head = inner.copy()
    head.update(prefix.encode("utf-8"))
    copy_head, copy_outer = head.copy, outer.copy

    def digest(rest: str) -> bytes:
        h = copy_head()
        h.update(rest.encode("utf-8"))
        out = copy_outer()
        out.update(h.digest())
        return out.digest()

    return digest


def subkey(master: bytes, purpose: str) -> bytes:
    """The 32-byte subkey of ``master`` for ``purpose`` (HMAC(master, label ‖ purpose))."""
    return hmac.new(master, SUBKEY_LABEL + purpose.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class IdKeys:
    """The keys a process derives on-chain ids with (never logged, never printed)."""

    account: bytes = b""
    """MILEAGE_ACCOUNT_KEY as bytes: account ids."""
    award: bytes = b""
    """Subkey ``award-id`` of MILEAGE_REF_KEY: award ids."""
    operation: bytes = b""
    """Subkey ``operation-id`` of MILEAGE_REF_KEY: conversion ids and deduction refs."""

    def __repr__(self) -> str:
        return "IdKeys(<secret>)"

    @classmethod
    def from_secrets(cls, account_key: bytes, ref_key: bytes) -> IdKeys:
        """Derive the per-purpose keys from the two secrets."""
        return cls(
            account=account_key,
            award=subkey(ref_key, AWARD_ID_PURPOSE),
            operation=subkey(ref_key, OPERATION_ID_PURPOSE),
        )


DEMO_KEYS = IdKeys.from_secrets(DEMO_ACCOUNT_KEY.encode(), DEMO_REF_KEY.encode())
"""The embedded demo's keys (public: never for real members)."""


def check_secret(variable: str, value: str | None, demo: str) -> bytes:
    """``value`` as bytes if it is a usable secret for ``variable``; raises `KeyNotConfigured`
    when it is missing, the public demo value, or shorter than `MIN_SECRET_BYTES`."""
    if value is None or not value.strip() or value == demo:
        raise KeyNotConfigured(variable, "is not set (or is the public demo key)")
    raw = value.encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        raise KeyNotConfigured(variable, f"has {len(raw)} bytes, fewer than {MIN_SECRET_BYTES}")
    return raw
