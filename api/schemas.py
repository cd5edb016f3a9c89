"""Request and response models of the HTTP API (pydantic 2), with OpenAPI examples."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints

from ledger.domain.codes import EntryKind, Program, Reason

EX_ACCOUNT = "0x" + "3f" * 32
EX_HASH = "0x" + "ab" * 32
EX_REF = "0x" + "00" * 31 + "2a"
EX_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
EX_HEAD = "0x" + "5e" * 24
#: what a hash-chain head is, for the docs (ledger.domain.hashchain: 24 bytes, bytes24 on chain)
HEAD_DOC = 'hash-chain head: 24 bytes, "0x" + 48 hex digits (all zero before the first entry)'

Hex32 = Annotated[
    str,
    StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$", to_lower=True),
    Field(description="0x-prefixed 32-byte hex", examples=[EX_ACCOUNT]),
]

Head24 = Annotated[
    str,
    Field(pattern=r"^0x[0-9a-f]{48}$", description=HEAD_DOC, examples=[EX_HEAD]),
]

#: the largest amount a position can ever hold: the contract's 40-bit credit accumulator
#: (contracts/README.md, "Limits of the packing"); anything larger can never be spent
MAX_AMOUNT = 2**40 - 1

Amount = Annotated[
    int,
    Strict(),
    Field(
        gt=0,
        le=MAX_AMOUNT,
        description="whole mileage points (KRW): a JSON integer, 1 to 2^40 - 1; "
        "true, strings, floats (1.0, 1e3) are refused with 422",
        examples=[10000],
    ),
]


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime (SQLite drops the zone) is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_iso(ts: int) -> str:
    """Unix seconds as the API writes times: ISO 8601 in UTC with its zone ("...Z")."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


#: every timestamp the API returns: UTC, serialised with its zone ("...Z")
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]

ProgramName = StrEnum("ProgramName", {p.name: p.name for p in Program})  # type: ignore[misc]
KindName = StrEnum("KindName", {k.name: k.name for k in EntryKind})  # type: ignore[misc]
ReasonName = StrEnum("ReasonName", {r.name: r.name for r in Reason})  # type: ignore[misc]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnchorOut(Model):
    """The chain position an answer is anchored at: the indexer's cursor block."""

    chain_id: int = Field(examples=[31337])
    contract: str = Field(description="ledger contract address", examples=[EX_CONTRACT])
    block_number: int = Field(ge=0, examples=[1234])
    block_hash: str = Field(examples=[EX_HASH])


class ProgramBalance(Model):
    program: str = Field(examples=["ECO_HOUSEHOLD"])
    code: int = Field(ge=1, le=7, examples=[1])
    balance: int = Field(ge=0, description="the balance as on chain", examples=[30000])
    spendable: int = Field(
        ge=0,
        description="what a conversion or deduction may take now: the balance less what has "
        "lapsed at the chain's time (the contract expires that before any spend)",
        examples=[30000],
    )
    lapsed: int = Field(
        ge=0, description="lapsed (validity ended) but not yet expired on chain", examples=[0]
    )
    lapsed_since: UtcDateTime | None = Field(
        description="when the oldest lapsed mileage lapsed; null: nothing lapsed"
    )


class BalancesOut(Model):
    """Balances of one account per program, at the anchor block."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account": EX_ACCOUNT,
                    "balances": [
                        {
                            "program": "ECO_HOUSEHOLD",
                            "code": 1,
                            "balance": 30000,
                            "spendable": 30000,
                            "lapsed": 0,
                            "lapsed_since": None,
                        }
                    ],
                    "total": 40000,
                    "seoul_mileage": 10000,
                    "spendable": 40000,
                    "convertible": 30000,
                    "anchor": {
                        "chain_id": 31337,
                        "contract": EX_CONTRACT,
                        "block_number": 1234,
                        "block_hash": EX_HASH,
                    },
                }
            ]
        },
    )

    account: str
    balances: list[ProgramBalance] = Field(description="every program, 0 included")
    total: int = Field(ge=0, description="sum of the balances over all programs")
    seoul_mileage: int = Field(ge=0, description="the SEOUL (Seoul Mileage) balance")
    spendable: int = Field(ge=0, description="sum of spendable over all programs")
    convertible: int = Field(
        ge=0, description="spendable over the environment programs (not SEOUL)"
    )
    anchor: AnchorOut


class EntryOut(Model):
    """One ledger entry as indexed from ``EntryRecorded``."""

    seq: int = Field(ge=1, examples=[1])
    kind: str = Field(examples=["GRANT"])
    program: str = Field(examples=["ECO_HOUSEHOLD"])
    amount: int = Field(ge=0, examples=[30000])
    direction: Literal["credit", "debit"]
    reason: str = Field(examples=["NONE"])
    ref: str = Field(examples=[EX_REF])
    timestamp: int = Field(ge=0, description="block timestamp (unix seconds)")
    time: UtcDateTime
    head: str = Field(
        description="the account's hash-chain head after this entry, as indexed; " + HEAD_DOC,
        examples=[EX_HEAD],
    )
    block_number: int = Field(ge=0)
    block_hash: str
    tx_hash: str
    log_index: int = Field(ge=0)


class HistoryOut(Model):
    """A page of an account's entries, newest first."""

    account: str
    entries: list[EntryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: done")
    anchor: AnchorOut


class ExpiringLot(Model):
    program: str
    amount: int = Field(ge=0)
    granted_at: UtcDateTime
    expires_at: UtcDateTime


class ExpiringProgram(Model):
    program: str
    amount: int = Field(ge=0)


class ExpiringOut(Model):
    """Mileage that lapses within ``days`` days unless spent (FIFO over the indexed entries)."""

    account: str
    days: int
    as_of: UtcDateTime = Field(description="the chain's time: the latest block's timestamp")
    until: UtcDateTime
    total: int = Field(ge=0)
    by_program: list[ExpiringProgram]
    lots: list[ExpiringLot]
    anchor: AnchorOut


class AccruedMonthOut(Model):
    month: str = Field(description="riding month YYYY-MM")
    amount: int = Field(ge=0, description="accrued after the caps of docs/rules.md §2.4")
    payout_period: str = Field(description="the payout period that will pay it, e.g. 2025, 2025-H1")


class BikeAccrualOut(Model):
    """BIKE mileage accrued and not yet paid (docs/rules.md §2.4): not on chain, not spendable
    until the payout of its period (`mileage bike payout`)."""

    account: str
    payout_cadence: str = Field(description="MILEAGE_BIKE_PAYOUT: yearly, half-yearly, ...")
    accrued_unpaid: int = Field(ge=0)
    months: list[AccruedMonthOut]


class StorageProofOut(Model):
    label: str = Field(
        description=(
            "what the slot holds: account (the account word at keccak(account . 3): count in "
            "bits 0-47, donation consent bit 48, merged bit 49, the 24-byte head in bits "
            "64-255) or balance:<PROGRAM> (the position word at the account word's slot + "
            "program: granted in bits 0-39, debited in bits 40-79, balance = granted - "
            "debited; then the newest credit's time, the oldest live time, the live "
            "checkpoint count and their 96-bit root)"
        ),
        examples=["account", "balance:ECO_HOUSEHOLD"],
    )
    key: str = Field(description="storage slot (32-byte hex)")
    value: str = Field(description="slot value (hex quantity)")
    proof: list[str] = Field(description="RLP-encoded trie nodes, root first")


class ProofOut(Model):
    """EIP-1186 proof of an account's word (count, flags, 24-byte hash-chain head) and balance
    slots at the anchor block; ``count``, ``head`` and ``balances`` are what the proofs prove."""

    account: str
    anchor: AnchorOut
    header: dict[str, Any] = Field(
        description="block header fields (hex); keccak(rlp(header)) is the block hash"
    )
    address: str
    account_proof: list[str]
    nonce: int
    balance: int
    code_hash: str
    storage_hash: str
    storage_proofs: list[StorageProofOut]
    count: int = Field(ge=0, description="entries of the account (the last entry's seq)")
    head: Head24
    balances: dict[str, int]


# --- operators ----------------------------------------------------------------------------------


class AwardsIn(Model):
    """A batch of awards of one program (validated exactly like a feed file)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "program": "BIKE",
                    "source": "bike-2026-05",
                    "items": [
                        {
                            "member_id": "B-1",
                            "month": "2026-05",
                            "riding_days": 12,
                            "riding_minutes": 300,
                        }
                    ],
                }
            ]
        },
    )

    program: ProgramName
    source: str = Field(default="api", max_length=200)
    items: list[dict[str, Any]] = Field(min_length=1, max_length=5000)


class AwardResult(Model):
    index: int
    member_id: str | None
    status: Literal["recorded", "already_recorded", "zero", "rejected"]
    award_id: str | None = None
    award_no: int | None = None
    amount: int | None = None
    tier: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


class AwardsOut(Model):
    program: str
    recorded: int
    already_recorded: int
    zero: int
    rejected: int
    results: list[AwardResult]


# --- audit ----------------------------------------------------------------------------------------


class TrailEntry(EntryOut):
    prev_head: Head24
    recomputed_head: Head24
    link_ok: bool = Field(description="the recomputed head equals the indexed head")
    note: str | None = Field(
        default=None,
        description="CORRECTION entries: the reason given to `mileage correct` (kept off chain)",
    )


class ChainState(Model):
    count: int = Field(ge=0)
    head: Head24


class TrailOut(Model):
    """Every entry of an account with its hash-chain link, against the on-chain state."""

    account: str
    anchor: AnchorOut
    entries: list[TrailEntry]
    onchain: ChainState
    recomputed: ChainState
    verdict: Literal["ok", "broken"]
    problems: list[str]


class ProgramAudit(Model):
    program: str
    code: int
    indexed_balance: int = Field(description="sum of the Balance projection")
    indexed_credited: int
    indexed_debited: int
    indexed_granted: int
    onchain_granted: int
    onchain_credited: int
    onchain_debited: int
    onchain_balance: int
    fiscal_year: int
    budget: int
    used: int
    budget_left: int
    awards_without_grant: int = Field(
        0,
        description="awards mined/final/conflict in the database whose GRANT entry (award id, "
        "account, amount) is missing from the index or differs: e.g. the chain skipped them "
        "because their number was already taken (`mileage reconcile` names them)",
    )
    ok: bool


class ProgramsAuditOut(Model):
    anchor: AnchorOut
    programs: list[ProgramAudit]
    verdict: Literal["ok", "mismatch"]


class HealthOut(Model):
    status: str
    checks: dict[str, Any] = Field(default_factory=dict)


class BundleOut(BaseModel):
    """A self-contained proof bundle of one account: verify offline with
    ``mileage audit verify-bundle FILE`` (or ``api.client.verify_bundle``)."""

    model_config = ConfigDict(extra="allow")

    version: int = Field(description="bundle format: 2 (24-byte heads, one account word)")
    chain_id: int
    contract: str
    account: str
    block_number: int
    block_hash: str
    proof: dict[str, Any] = Field(description="header, account proof and storage proofs")
    entries: list[dict[str, Any]] = Field(
        description="the entries in seq order, each with its indexed 24-byte head"
    )
