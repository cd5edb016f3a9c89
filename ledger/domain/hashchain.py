"""The per-account hash chain of ledger entries (docs/DESIGN.md, "Entries and the hash chain").

Per account the contract keeps `count` (uint48) and `head` (bytes24) in one storage word,
starting at 0 and 24 zero bytes. Appending an entry sets `seq = count + 1` and

    entry = seq | kind << 48 | program << 56 | reason << 64 | timestamp << 72 | amount << 112
    head' = bytes24(keccak256(abi.encodePacked(head, account, entry, ref)))
            types: bytes24, bytes32, uint256, bytes32 (120 bytes)

`EntryRecorded(bytes32 indexed account, uint256 entry, bytes32 ref)` carries exactly those
words: the preimage is `head ‖ topics[1] ‖ data` (the log's 64 data bytes verbatim). Replaying an
account's `EntryRecorded` events through `next_head` must reproduce the contract's head and
count; that is the completeness proof. The head is truncated to 24 bytes so that it and the
count fit one storage word (a grant then writes one word for the proof); 192 bits leave 2**96
work for a collision and 2**192 for a second preimage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sha3 import keccak_256

from ledger.domain.errors import ChainBroken, InvalidValue

HEAD_BYTES = 24
ZERO_HEAD = bytes(HEAD_BYTES)
WORD = 32
PREIMAGE_BYTES = HEAD_BYTES + 3 * WORD
#: (field, bit offset, width) of the packed entry word, low bits first.
ENTRY_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("seq", 0, 48),
    ("kind", 48, 8),
    ("program", 56, 8),
    ("reason", 64, 8),
    ("timestamp", 72, 40),
    ("amount", 112, 96),
)
_UINT_BITS = {name: bits for name, _, bits in ENTRY_LAYOUT}
_FIELDS = tuple(name for name, _, _ in ENTRY_LAYOUT)
#: Bits the layout uses: a word with a bit at or above this is not an entry.
ENTRY_BITS = 208
_M40 = (1 << 40) - 1
_M48 = (1 << 48) - 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry, as emitted in `EntryRecorded` (unpacked).

    `kind`, `program` and `reason` are the uint8 codes (pass `EntryKind`, `Program`, `Reason`
    members or plain ints as read from events).

    Why this shape: it is the entry exactly as the contract hashes it (32-byte account and ref,
    every field range-checked), the only input of the hash chain (`next_head`) and so of every
    completeness check. An entry has four other shapes, each for one job: the database row
    (ORM `ledger.adapters.orm.Entry`: hex strings plus the chain position, what the API serves),
    a decoded log before it is stored (`bridge.client.EntryEvent`: adds block, transaction and
    log index), the six fields the replays read (`ledger.domain.checkpoints.EntryLike`, with
    `EntryView` as its plain record when no database row is at hand), and the indexer's bulk
    insert tuple (`bridge.indexer.EntryRow`, positional for speed).
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

    @property
    def word(self) -> int:
        """The packed entry word of the event and the preimage."""
        return pack_entry(
            self.seq, self.kind, self.program, self.reason, self.timestamp, self.amount
        )

    @classmethod
    def from_word(cls, account: bytes, word: int, ref: bytes) -> Entry:
        """The entry of an event's `account` topic, `entry` word and `ref`."""
        fields = unpack_entry(word)
        return cls(account=account, ref=ref, **fields)


def pack_entry(seq: int, kind: int, program: int, reason: int, timestamp: int, amount: int) -> int:
    """The packed entry word (layout in :data:`ENTRY_LAYOUT`); fields must be in range."""
    values = {
        "seq": seq,
        "kind": int(kind),
        "program": int(program),
        "reason": int(reason),
        "timestamp": timestamp,
        "amount": amount,
    }
    word = 0
    for name, offset, bits in ENTRY_LAYOUT:
        value = values[name]
        if not 0 <= value < 1 << bits:
            raise InvalidValue(name, f"{value} does not fit in uint{bits}")
        word |= value << offset
    return word


def decode_entry(word: int) -> tuple[int, int, int, int, int, int]:
    """``(seq, kind, program, reason, timestamp, amount)`` of a packed entry word, in
    :data:`ENTRY_LAYOUT` order: the one decoder of the word (``unpack_entry``, the indexer and the
    verifier's replay). Unchecked and generic over codes, for hot loops: bits at or above
    :data:`ENTRY_BITS` end up in ``amount`` (check ``word >> ENTRY_BITS`` or ``amount`` against
    uint96 where it matters), and a kind or program need not be a known code.
    """
    return (
        word & _M48,
        word >> 48 & 0xFF,
        word >> 56 & 0xFF,
        word >> 64 & 0xFF,
        word >> 72 & _M40,
        word >> 112,
    )


def unpack_entry(word: int) -> dict[str, int]:
    """The fields of a packed entry word by name. Raises `InvalidValue` if bits above 208 are
    set."""
    if not 0 <= word < 1 << ENTRY_BITS:
        raise InvalidValue("entry", f"0x{word:x} sets bits outside the entry layout")
    return dict(zip(_FIELDS, decode_entry(word), strict=True))


def encode_entry(prev_head: bytes, entry: Entry) -> bytes:
    """`abi.encodePacked(head, account, entry, ref)`: the 120-byte preimage."""
    if len(prev_head) != HEAD_BYTES:
        raise InvalidValue("prev_head", f"must be {HEAD_BYTES} bytes (got {len(prev_head)})")
    return prev_head + entry.account + entry.word.to_bytes(WORD, "big") + entry.ref


def head_of(preimage: bytes) -> bytes:
    """The head of a 120-byte preimage: the first 24 bytes of its keccak256.

    ``safe-pysha3``'s C ``keccak_256`` (hashlib's interface; an ``eth_hash`` backend too): the
    indexer and the verifier hash one preimage per entry, millions in a run, and this is the
    cheapest call per hash a public API offers."""
    digest: bytes = keccak_256(preimage).digest()
    return digest[:HEAD_BYTES]


def next_head(prev_head: bytes, entry: Entry) -> bytes:
    """The head after appending `entry` to a chain whose head is `prev_head`."""
    return head_of(encode_entry(prev_head, entry))


def verify_chain(entries: Iterable[Entry], expected_head: bytes, expected_count: int) -> bytes:
    """Replay one account's entries (in seq order) and check them against the contract.

    Returns the recomputed head. Raises `ChainBroken` if the entries belong to different
    accounts, skip or repeat a seq, or do not end at `expected_count` / `expected_head`.
    An empty chain is valid for count 0 and the zero head.
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
    owner = account if account is not None else bytes(WORD)
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
