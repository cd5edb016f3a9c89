"""EIP-1186 proofs of the ledger's storage, and their offline verification.

Fetching (``fetch_account_proof``) uses raw JSON-RPC (``eth_getProof``, ``eth_getBlockByNumber``
through :class:`bridge.rpc.JsonRpc`) so the answer stays in its wire form (hex strings) and can
be stored in a bundle. Verifying needs no node at all: it recomputes the block hash from the
header fields (keccak of the RLP header), walks the Merkle-Patricia proofs from the header's
``stateRoot`` to the contract's account and from its ``storageRoot`` to each slot, and checks
every hash on the way.

Storage layout of ``MileageLedger`` (contracts/README.md, "Storage layout"; pinned by
tests/contracts/test_storage_layout.py and tests/integration/test_proofs.py): slots 0-2 belong to
OpenZeppelin's access control, then

- ``_accounts`` (slot 3): ``mapping(bytes32 => uint256[8])``, eight words per account from
  ``base = keccak(account . 3)``:
  - the account word at ``base``: count = bits 0-47, donation consent = bit 48, merged = bit 49,
    head = bits 64-255 (the ``bytes24`` hash-chain head, ``word >> 64``;
    contracts/types/AccountWord.sol);
  - the position word of program ``p`` at ``base + p`` (contracts/types/Position.sol): granted
    [0,40) | debited [40,80) | lastTime [80,112) | oldest [112,144) | count [144,160) | root
    [160,256); balance = granted − debited.

A bundle (built by ``api.services.audit.bundle``) is the self-contained audit export of one
account: header, proofs and the entries; ``verify_bundle`` checks that the entries replay to the
proven head and count and sum to the proven balances. Version 2 is the 24-byte head and the
single account word (version 1 bundles, with a 32-byte head and separate head and count slots,
are refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp  # type: ignore[import-untyped]
from eth_hash.auto import keccak

from bridge.errors import BridgeError
from bridge.rpc import JsonRpc, RpcError
from ledger.domain.checkpoints import PositionState, decode_position
from ledger.domain.codes import PROGRAM_CODES
from ledger.domain.hashchain import HEAD_BYTES, ZERO_HEAD

ACCOUNTS_SLOT = 3
PROGRAMS = PROGRAM_CODES
#: The position word (contracts/types/Position.sol): 40-bit cumulative credits and debits.
#: The account word (contracts/types/AccountWord.sol): count, two flags, the bytes24 head on top.
COUNT_MASK = (1 << 48) - 1
CONSENT_BIT = 48
MERGED_BIT = 49
HEAD_SHIFT = 64
EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))
BUNDLE_VERSION = 2

# Header fields in RLP order; later forks append fields, absent ones are left out.
HEADER_FIELDS: tuple[str, ...] = (
    "parentHash",
    "sha3Uncles",
    "miner",
    "stateRoot",
    "transactionsRoot",
    "receiptsRoot",
    "logsBloom",
    "difficulty",
    "number",
    "gasLimit",
    "gasUsed",
    "timestamp",
    "extraData",
    "mixHash",
    "nonce",
    "baseFeePerGas",
    "withdrawalsRoot",
    "blobGasUsed",
    "excessBlobGas",
    "parentBeaconBlockRoot",
    "requestsHash",
)
INT_FIELDS = frozenset(
    {
        "difficulty",
        "number",
        "gasLimit",
        "gasUsed",
        "timestamp",
        "baseFeePerGas",
        "blobGasUsed",
        "excessBlobGas",
    }
)


class ProofError(BridgeError):
    """A proof or bundle does not verify; the message names the first check that failed."""


# --- slots ----------------------------------------------------------------------------------


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def account_slot(account: bytes) -> int:
    """The slot of ``account``'s word (count, flags and head): ``keccak(account . 3)``."""
    return int.from_bytes(keccak(account + _word(ACCOUNTS_SLOT)), "big")


def position_slot(account: bytes, program: int) -> int:
    """The slot of ``account``'s position word in ``program``: the account word's slot +
    ``program`` (the account's ``uint256[8]`` array)."""
    return account_slot(account) + program


def account_slots(account: bytes) -> list[tuple[str, int]]:
    """(label, slot) of everything the proofs cover for ``account``: its word, then the
    position of every program."""
    from ledger.domain.codes import Program

    return [("account", account_slot(account))] + [
        (f"balance:{Program(p).name}", position_slot(account, p)) for p in PROGRAMS
    ]


def position_of_word(word: int) -> PositionState:
    """The fields of a position word (see :func:`ledger.domain.checkpoints.decode_position`)."""
    return decode_position(word)


def balance_of_word(word: int) -> int:
    """The balance a position word holds: granted (bits 0-39) − debited (bits 40-79)."""
    return decode_position(word).balance


def count_of_word(word: int) -> int:
    """The entry count of an account word (bits 0-47)."""
    return word & COUNT_MASK


def head_of_word(word: int) -> bytes:
    """The 24-byte hash-chain head of an account word (its top 192 bits)."""
    return (word >> HEAD_SHIFT).to_bytes(HEAD_BYTES, "big")


def consent_of_word(word: int) -> bool:
    """The donation-consent flag of an account word (bit 48)."""
    return bool((word >> CONSENT_BIT) & 1)


def merged_of_word(word: int) -> bool:
    """The merged flag of an account word (bit 49)."""
    return bool((word >> MERGED_BIT) & 1)


# --- hex helpers --------------------------------------------------------------------------------


def _b(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    text = value[2:] if value.startswith(("0x", "0X")) else value
    if len(text) % 2:
        text = "0" + text
    return bytes.fromhex(text)


def _i(value: str | int) -> int:
    return value if isinstance(value, int) else int(value, 16)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


# --- block headers ----------------------------------------------------------------------------


def header_rlp(header: Mapping[str, Any]) -> bytes:
    """RLP of a block header given as JSON-RPC fields (hex strings)."""
    items: list[Any] = []
    for name in HEADER_FIELDS:
        if name not in header or header[name] is None:
            continue
        items.append(_i(header[name]) if name in INT_FIELDS else _b(header[name]))
    return bytes(rlp.encode(items))


def header_hash(header: Mapping[str, Any]) -> bytes:
    return bytes(keccak(header_rlp(header)))


def header_fields(block: Mapping[str, Any]) -> dict[str, Any]:
    """The header part of a raw ``eth_getBlockByNumber`` answer."""
    return {k: block[k] for k in HEADER_FIELDS if k in block and block[k] is not None}


# --- Merkle-Patricia proofs ---------------------------------------------------------------------


def _nibbles(key: bytes) -> list[int]:
    out: list[int] = []
    for byte in key:
        out += [byte >> 4, byte & 0x0F]
    return out


def _hex_prefix(encoded: bytes) -> tuple[list[int], bool]:
    nib = _nibbles(encoded)
    flag = nib[0]
    is_leaf = flag >= 2
    path = nib[1:] if flag % 2 == 1 else nib[2:]
    return path, is_leaf


def verify_mpt_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The value stored under ``keccak(key)`` in the trie with ``root``, proven by ``proof``
    (RLP nodes); None if the proof shows the key is absent. Raises ProofError otherwise."""
    nodes = {bytes(keccak(n)): n for n in proof}
    path = _nibbles(bytes(keccak(key)))
    ref: Any = root
    pos = 0
    if root == EMPTY_TRIE_ROOT:
        return None
    for _ in range(2 * len(path) + 2):
        if isinstance(ref, bytes):
            if len(ref) == 32:
                raw = nodes.get(ref)
                if raw is None:
                    raise ProofError(f"proof lacks the trie node 0x{ref.hex()}")
                node = rlp.decode(raw)
            elif ref == b"":
                return None
            else:
                node = rlp.decode(ref)
        else:
            node = ref
        if len(node) == 17:
            if pos == len(path):
                return bytes(node[16]) or None
            ref = node[path[pos]]
            pos += 1
            if ref == b"":
                return None
        elif len(node) == 2:
            segment, is_leaf = _hex_prefix(bytes(node[0]))
            if is_leaf:
                return bytes(node[1]) if path[pos:] == segment else None
            if path[pos : pos + len(segment)] != segment:
                return None
            pos += len(segment)
            ref = node[1]
        else:
            raise ProofError(f"malformed trie node with {len(node)} items")
    raise ProofError("proof path is longer than the key")


@dataclass(frozen=True)
class AccountLeaf:
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes


def verify_account(
    state_root: bytes, address: str | bytes, proof: Sequence[str | bytes]
) -> AccountLeaf:
    """The account at ``address`` proven against ``state_root``."""
    value = verify_mpt_proof(state_root, _b(address), [_b(n) for n in proof])
    if value is None:
        return AccountLeaf(0, 0, EMPTY_TRIE_ROOT, bytes(keccak(b"")))
    nonce, balance, storage_root, code_hash = rlp.decode(value)
    return AccountLeaf(
        int.from_bytes(nonce, "big"),
        int.from_bytes(balance, "big"),
        bytes(storage_root),
        bytes(code_hash),
    )


def verify_storage(storage_root: bytes, slot: int, proof: Sequence[str | bytes]) -> int:
    """The value of ``slot`` proven against ``storage_root`` (0 if proven absent)."""
    value = verify_mpt_proof(storage_root, _word(slot), [_b(n) for n in proof])
    if value is None:
        return 0
    return int.from_bytes(rlp.decode(value), "big")


# --- fetching -----------------------------------------------------------------------------------


def fetch_block(rpc: JsonRpc, block: int | str) -> dict[str, Any]:
    """The raw ``eth_getBlockByNumber`` answer for ``block`` (a number or a tag), without
    transactions. Raises :class:`bridge.rpc.RpcError` if the node has no such block."""
    ident = hex(block) if isinstance(block, int) else block
    result: dict[str, Any] | None = rpc.call("eth_getBlockByNumber", [ident, False])
    if result is None:
        raise RpcError("eth_getBlockByNumber", f"block {block} not found")
    return result


def fetch_account_proof(
    rpc: JsonRpc,
    contract: str,
    account: bytes,
    block: int,
    *,
    block_data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``eth_getProof`` of ``account``'s word (count, flags, head) and balance slots at
    ``block``, with the block header: the wire form the API serves and bundles store.
    ``block_data``: that block's ``eth_getBlockByNumber`` answer if already at hand
    (``bridge.proof_cache`` keeps it per block).

    The node's errors are :class:`bridge.rpc.RpcError` (:class:`~bridge.rpc.NodeUnreachable`
    without an answer); an answer that is not the proof asked for is a :class:`ProofError`."""
    labelled = account_slots(account)
    raw = rpc.call("eth_getProof", [contract, [_hex(_word(s)) for _, s in labelled], hex(block)])
    blk = block_data if block_data is not None else fetch_block(rpc, block)
    if _i(blk["number"]) != block:
        raise ProofError(f"block data is for block {_i(blk['number'])}, not {block}")
    proofs = []
    for (label, slot), sp in zip(labelled, raw["storageProof"], strict=True):
        if _i(sp["key"]) != slot:
            raise ProofError(f"node answered slot {sp['key']} for {label}")
        proofs.append(
            {
                "label": label,
                "key": _hex(_word(slot)),
                "value": sp["value"],
                "proof": list(sp["proof"]),
            }
        )
    return {
        "address": raw["address"],
        "block_number": _i(blk["number"]),
        "block_hash": blk["hash"],
        "header": header_fields(blk),
        "account_proof": list(raw["accountProof"]),
        "nonce": _i(raw["nonce"]),
        "balance": _i(raw["balance"]),
        "code_hash": raw["codeHash"],
        "storage_hash": raw["storageHash"],
        "storage_proofs": proofs,
    }


# --- verification -------------------------------------------------------------------------------


@dataclass
class ProvenState:
    """What a verified proof establishes about one account at one block.

    ``head`` is the 24-byte hash-chain head as ``0x`` + 48 hex digits."""

    block_number: int
    block_hash: str
    count: int
    head: str
    balances: dict[str, int] = field(default_factory=dict)
    donation_consent: bool = False
    merged: bool = False


def verify_account_proof(
    proof: Mapping[str, Any],
    account: str | bytes,
    contract: str,
    *,
    trusted_block_hash: str | None = None,
) -> ProvenState:
    """Verify a proof in the wire form of :func:`fetch_account_proof` (the API's ``/proof``).

    The slots are recomputed from ``account`` (never taken from the proof); the account proof
    must be for ``contract``. With ``trusted_block_hash`` the header must be that block."""
    header = proof["header"]
    computed = _hex(header_hash(header))
    if computed != str(proof["block_hash"]).lower():
        raise ProofError(f"header hashes to {computed}, not the claimed {proof['block_hash']}")
    if trusted_block_hash is not None and computed != trusted_block_hash.lower():
        raise ProofError(f"header hashes to {computed}, not the trusted {trusted_block_hash}")
    if _i(header["number"]) != int(proof["block_number"]):
        raise ProofError("header number differs from the claimed block number")
    if _b(proof["address"]) != _b(contract):
        raise ProofError(f"proof is for {proof['address']}, not the ledger {contract}")
    leaf = verify_account(_b(header["stateRoot"]), contract, proof["account_proof"])
    if leaf.storage_root != _b(proof["storage_hash"]):
        raise ProofError("claimed storage hash differs from the proven storage root")
    acct = _b(account)
    by_label = {sp["label"]: sp for sp in proof["storage_proofs"]}
    values: dict[str, int] = {}
    for label, slot in account_slots(acct):
        sp = by_label.get(label)
        if sp is None:
            raise ProofError(f"proof lacks the {label} slot")
        if _i(sp["key"]) != slot:
            raise ProofError(f"{label} proof is for slot {sp['key']}, not {_hex(_word(slot))}")
        value = verify_storage(leaf.storage_root, slot, sp["proof"])
        if value != _i(sp["value"]):
            raise ProofError(f"{label}: claimed value {sp['value']} but the proof gives {value}")
        values[label] = value
    word = values["account"]
    return ProvenState(
        block_number=int(proof["block_number"]),
        block_hash=computed,
        count=count_of_word(word),
        head=_hex(head_of_word(word)),
        donation_consent=consent_of_word(word),
        merged=merged_of_word(word),
        balances={
            label.split(":", 1)[1]: balance_of_word(v)
            for label, v in values.items()
            if label.startswith("balance:")
        },
    )


def verify_bundle(
    bundle: Mapping[str, Any], *, trusted_block_hash: str | None = None
) -> ProvenState:
    """Verify an audit bundle offline; raises ProofError naming the first failed check.

    Checks: header hash, account and storage proofs (the account word's count and head, the
    balances), then that the entries are exactly seq 1..count in order, each head is the first
    24 bytes of keccak of the previous head and the entry (a listed ``head`` must match it), the
    last head is the proven head, and the entries sum to the proven balances."""
    from ledger.domain.codes import EntryKind, Program
    from ledger.domain.errors import ChainBroken, InvalidValue
    from ledger.domain.hashchain import Entry, next_head, verify_chain

    if bundle.get("version") != BUNDLE_VERSION:
        raise ProofError(f"unsupported bundle version {bundle.get('version')!r}")
    account = _b(bundle["account"])
    state = verify_account_proof(
        bundle["proof"], account, bundle["contract"], trusted_block_hash=trusted_block_hash
    )
    entries: list[Entry] = []
    head = ZERO_HEAD
    totals: dict[str, int] = {Program(p).name: 0 for p in PROGRAMS}
    try:
        for i, e in enumerate(bundle["entries"]):
            entry = Entry(
                account=account,
                seq=int(e["seq"]),
                kind=int(e["kind"]),
                program=int(e["program"]),
                amount=int(e["amount"]),
                reason=int(e["reason"]),
                ref=_b(e["ref"]),
                timestamp=int(e["timestamp"]),
            )
            if entry.seq != i + 1:
                raise ProofError(
                    f"entry {i + 1} has seq {entry.seq}: entries are missing or out of order"
                )
            head = next_head(head, entry)
            if "head" in e and _b(e["head"]) != head:
                raise ProofError(
                    f"entry seq {entry.seq}: recomputed head {_hex(head)} differs "
                    f"from the listed {e['head']}"
                )
            name = Program(entry.program).name
            sign = 1 if EntryKind(entry.kind).is_credit else -1
            totals[name] += sign * entry.amount
            entries.append(entry)
        verify_chain(entries, _b(state.head), state.count)
    except ChainBroken as exc:
        raise ProofError(f"hash chain does not match the proven state: {exc}") from exc
    except (InvalidValue, ValueError, KeyError) as exc:
        raise ProofError(f"malformed entry: {exc}") from exc
    for name, proven in state.balances.items():
        if totals[name] != proven:
            raise ProofError(
                f"entries sum to {totals[name]} {name} but the proven balance is {proven}"
            )
    return state
