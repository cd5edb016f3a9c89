"""Signing keys of the bridge: encrypted keystore files, one key per role.

Roles and files (under ``MILEAGE_KEYSTORE_DIR``, default ``<data_dir>/keys``):

- ``issuer-<PROGRAM>.json``: grants of one program (``issuerRole(program)`` on the contract),
  e.g. ``issuer-CAR.json``;
- ``converter.json`` (``CONVERTER_ROLE``), ``spender.json`` (``SPENDER_ROLE``), ``admin.json``.

Files are Ethereum V3 keystores (``eth_account.Account.encrypt``, scrypt); the password comes from
``MILEAGE_KEYSTORE_PASSWORD`` or the file named by ``MILEAGE_KEYSTORE_PASSWORD_FILE``. For
development ``MILEAGE_PRIVATE_KEY`` replaces every keystore (one key for every role).

Each running bridge process signs with its own key: two processes sharing a key would compete for
the same nonces (see :mod:`bridge.submitter`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from coincurve import PrivateKey as CurveKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_checksum_address
from sha3 import keccak_256

from bridge.errors import SigningKeyError
from ledger.adapters.private_files import private_dir
from ledger.domain.codes import Program
from ledger.settings import Settings

ROLE_PATTERN = re.compile(r"^(issuer-[A-Z_]+|converter|spender|admin|expirer|registrar)$")


def issuer_role(program: str) -> str:
    """The keystore role name of a program's issuer (``issuer-CAR``)."""
    return f"issuer-{Program[program].name}"


def validate_role(role: str) -> str:
    """Return ``role`` if it names a known role, else raise :class:`SigningKeyError`."""
    if not ROLE_PATTERN.match(role):
        raise SigningKeyError(
            f"unknown role {role!r}: use issuer-<PROGRAM> (e.g. issuer-CAR), converter, spender, "
            "admin, expirer or registrar"
        )
    if role.startswith("issuer-"):
        name = role.removeprefix("issuer-")
        if name not in Program.__members__:
            raise SigningKeyError(
                f"unknown program {name!r} in role {role!r}: "
                f"one of {', '.join(Program.__members__)}"
            )
    return role


@dataclass(frozen=True)
class Signer:
    """A loaded signing key. ``repr`` never shows the key."""

    account: LocalAccount
    role: str = "dev"

    @property
    def address(self) -> str:
        return str(self.account.address)

    def sign(self, tx: dict[str, Any]) -> tuple[bytes, str]:
        """Sign a transaction dict; returns the raw transaction and its 0x-hash.

        The submitter's transactions (legacy, EIP-155: exactly ``to``, ``value``, ``data``,
        ``gas``, ``gasPrice``, ``nonce``, ``chainId``, as plain ints, a checksum address and
        ``0x``-hex or bytes data) are signed by :func:`sign_legacy`, byte for byte what
        eth_account gives (tested) in a fraction of its CPU; anything else by eth_account."""
        fast = sign_legacy(self._curve_key, tx)
        if fast is not None:
            return fast
        signed = self.account.sign_transaction(tx)
        return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()

    @cached_property
    def _curve_key(self) -> CurveKey:
        return CurveKey(bytes(self.account.key))

    def __repr__(self) -> str:
        return f"Signer(role={self.role!r}, address={self.address})"


_LEGACY_KEYS = frozenset({"to", "value", "data", "gas", "gasPrice", "nonce", "chainId"})
_U256 = 1 << 256


def _rlp_bytes(b: bytes) -> bytes:
    n = len(b)
    if n == 1 and b[0] < 0x80:
        return b
    if n <= 55:
        return bytes((0x80 + n,)) + b
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(size),)) + size + b


def _rlp_int(i: int) -> bytes:
    return _rlp_bytes(i.to_bytes((i.bit_length() + 7) // 8, "big"))


def _rlp_list(items: list[bytes]) -> bytes:
    payload = b"".join(items)
    n = len(payload)
    if n <= 55:
        return bytes((0xC0 + n,)) + payload
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size + payload


def sign_legacy(key: CurveKey, tx: dict[str, Any]) -> tuple[bytes, str] | None:
    """An EIP-155 legacy transaction signed directly: RLP written by hand, keccak in C
    (``safe-pysha3``), the signature by libsecp256k1 (``coincurve``, what eth_keys uses too, so
    the same deterministic signature). None for any dict that is not plainly such a
    transaction (other keys, hex-string or bool numbers, a non-checksum address...):
    eth_account signs it, or refuses it with its own error."""
    if tx.keys() != _LEGACY_KEYS:
        return None
    to, data = tx["to"], tx["data"]
    ints = (tx["nonce"], tx["gasPrice"], tx["gas"], tx["value"], tx["chainId"])
    if any(type(i) is not int or not 0 <= i < _U256 for i in ints):
        return None
    if type(to) is not str or len(to) != 42 or not is_checksum_address(to):
        return None
    if type(data) is str:
        if data[:2] != "0x":
            return None
        try:
            raw_data = bytes.fromhex(data[2:])
        except ValueError:
            return None
        if 2 * len(raw_data) != len(data) - 2:  # fromhex skips whitespace; eth_account not
            return None
    elif type(data) is bytes:
        raw_data = data
    else:
        return None
    nonce, gas_price, gas, value, chain_id = ints
    fields = [
        _rlp_int(nonce),
        _rlp_int(gas_price),
        _rlp_int(gas),
        _rlp_bytes(bytes.fromhex(to[2:])),
        _rlp_int(value),
        _rlp_bytes(raw_data),
    ]
    unsigned = _rlp_list([*fields, _rlp_int(chain_id), b"\x80", b"\x80"])
    sig = key.sign_recoverable(keccak_256(unsigned).digest(), hasher=None)
    if sig[64] > 1:  # never in practice (r overflowing the curve order): eth_keys refuses it
        return None
    v = sig[64] + 35 + 2 * chain_id
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:64], "big")
    raw = _rlp_list([*fields, _rlp_int(v), _rlp_int(r), _rlp_int(s)])
    return raw, "0x" + keccak_256(raw).hexdigest()


def keystore_password(settings: Settings) -> str:
    """The keystore password from the environment (variable, else file)."""
    if settings.keystore_password is not None:
        return settings.keystore_password.get_secret_value()
    if settings.keystore_password_file is not None:
        try:
            return settings.keystore_password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read MILEAGE_KEYSTORE_PASSWORD_FILE {settings.keystore_password_file}: "
                f"{exc.strerror}"
            ) from exc
    raise SigningKeyError(
        "no keystore password: set MILEAGE_KEYSTORE_PASSWORD or MILEAGE_KEYSTORE_PASSWORD_FILE"
    )


def keystore_path(settings: Settings, role: str) -> Path:
    return settings.effective_keystore_dir / f"{validate_role(role)}.json"


def signer_from_key(private_key: str, role: str = "dev") -> Signer:
    try:
        return Signer(Account.from_key(private_key), role)
    except Exception as exc:  # eth_account raises ValueError/binascii errors with the key inside
        raise SigningKeyError(f"the private key for role {role!r} is malformed") from exc


def load_keystore(path: Path, password: str, role: str) -> Signer:
    """Decrypt one keystore file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise SigningKeyError(
            f"no keystore for role {role!r} at {path}: create it with "
            f"`mileage keys new --role {role}` or set MILEAGE_KEYSTORE_DIR"
        ) from exc
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"keystore {path} is unreadable or not JSON: {exc}") from exc
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        raise SigningKeyError(
            f"cannot decrypt {path}: wrong password (MILEAGE_KEYSTORE_PASSWORD[_FILE])?"
        ) from exc
    return Signer(Account.from_key(key), role)


def load_signer(settings: Settings, role: str) -> Signer:
    """The signer of ``role``: ``MILEAGE_PRIVATE_KEY`` if set (development), else its keystore."""
    validate_role(role)
    if settings.private_key is not None:
        return signer_from_key(settings.private_key.get_secret_value(), role)
    return load_keystore(keystore_path(settings, role), keystore_password(settings), role)


def available_roles(settings: Settings) -> list[str]:
    """Roles that have a keystore file in the keystore directory."""
    d = settings.effective_keystore_dir
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.json") if ROLE_PATTERN.match(p.stem))


def write_keystore(
    directory: Path,
    role: str,
    password: str,
    *,
    private_key: str | None = None,
    overwrite: bool = False,
    kdf: Literal["pbkdf2", "scrypt"] | None = None,
    iterations: int | None = None,
) -> tuple[Path, str]:
    """Create ``<directory>/<role>.json`` (mode 0600) with a new (or the given) key.

    Returns the path and the address; the private key is never returned or printed."""
    validate_role(role)
    if not password:
        raise SigningKeyError("refusing to write a keystore with an empty password")
    path = directory / f"{role}.json"
    if path.exists() and not overwrite:
        raise SigningKeyError(
            f"{path} exists: remove it first (or pass --force) to replace the key"
        )
    acct = Account.from_key(private_key) if private_key else Account.create()
    data = (
        Account.encrypt(acct.key, password, kdf=kdf, iterations=iterations)
        if kdf
        else Account.encrypt(acct.key, password)
    )
    private_dir(directory)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover .tmp keeps its old mode through O_CREAT
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    tmp.replace(path)
    return path, str(acct.address)
