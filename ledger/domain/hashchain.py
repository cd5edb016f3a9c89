"""The per-account hash chain of ledger entries (docs/DESIGN.md, "Entries and the hash chain").

Per account the contract keeps `count` (uint64) and `head` (bytes32), starting at 0 and
bytes32(0). Appending an entry sets `seq = count + 1` and

    head' = keccak256(abi.encode(head, account, seq, kind, program, amount, reason, ref,
                                 timestamp))
            types: bytes32, bytes32, uint64, uint8, uint8, uint96, uint8, bytes32, uint64

`abi.encode` of static types is one 32-byte word per value: bytes32 as is, unsigned integers
big-endian and left-padded with zeros. Replaying an account's `EntryRecorded` events through
`next_head` must reproduce the contract's head and count; that is the completeness proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_hash.auto import keccak

from ledger.domain.errors import ChainBroken, InvalidValue

ZERO_HEAD = bytes(32)
WORD = 32
_UINT_BITS = {
    "seq": 64,
    "kind": 8,
    "program": 8,
    "amount": 96,
    "reason": 8,
    "timestamp": 64,
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry, as emitted in `EntryRecorded` (the head excluded).

    `kind`, `program` and `reason` are the uint8 codes (pass `EntryKind`, `Program`, `Reason`
    members or plain ints as read from events).
    """

    account: bytes
    seq: int
    kind: int
    program: int
    amount: int
    reason: int
    ref: bytes
    timestamp: int

    def __post_init__(self) -> None:
        for name in ("account", "ref"):
            value: bytes = getattr(self, name)
            if len(value) != WORD:
                raise InvalidValue(name, f"must be 32 bytes (got {len(value)})")
        for name, bits in _UINT_BITS.items():
            number: int = getattr(self, name)
            if not 0 <= number < 1 << bits:
                raise InvalidValue(name, f"{number} does not fit in uint{bits}")


def _word(value: int) -> bytes:
    return value.to_bytes(WORD, "big")


def encode_entry(prev_head: bytes, entry: Entry) -> bytes:
    """`abi.encode(head, account, seq, kind, program, amount, reason, ref, timestamp)`."""
    if len(prev_head) != WORD:
        raise InvalidValue("prev_head", f"must be 32 bytes (got {len(prev_head)})")
    return b"".join(
        (
            prev_head,
            entry.account,
            _word(entry.seq),
            _word(int(entry.kind)),
            _word(int(entry.program)),
            _word(entry.amount),
            _word(int(entry.reason)),
            entry.ref,
            _word(entry.timestamp),
        )
    )


def next_head(prev_head: bytes, entry: Entry) -> bytes:
    """The head after appending `entry` to a chain whose head is `prev_head`."""
    return keccak(encode_entry(prev_head, entry))


def verify_chain(entries: Iterable[Entry], expected_head: bytes, expected_count: int) -> bytes:
    """Replay one account's entries (in seq order) and check them against the contract.

    Returns the recomputed head. Raises `ChainBroken` if the entries belong to different
    accounts, skip or repeat a seq, or do not end at `expected_count` / `expected_head`.
    An empty chain is valid for count 0 and head bytes32(0).
    """
    head = ZERO_HEAD
    count = 0
    account: bytes | None = None
    for entry in entries:
        if account is None:
            account = entry.account
        elif entry.account != account:
            raise ChainBroken(account, entry.seq, f"entry of account 0x{entry.account.hex()}")
        if entry.seq != count + 1:
            raise ChainBroken(account, count + 1, f"expected seq {count + 1}, got {entry.seq}")
        head = next_head(head, entry)
        count = entry.seq
    owner = account if account is not None else ZERO_HEAD
    if count != expected_count:
        raise ChainBroken(
            owner, count, f"replayed {count} entries but the contract counts {expected_count}"
        )
    if head != expected_head:
        raise ChainBroken(
            owner,
            count,
            f"replayed head 0x{head.hex()} differs from the contract's 0x{expected_head.hex()}",
        )
    return head
