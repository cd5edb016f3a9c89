"""Database tables (SQLAlchemy 2, SQLite and PostgreSQL).

Invariants the database enforces:
- an award id is recorded once (``awards.award_id`` unique) and gets one sequential on-chain
  number (``awards.award_no``, the primary key): re-importing a feed never grants twice;
- a month of a program is held by one award per member, or per vehicle for cars
  (``award_windows`` primary key): a member's windows never overlap, across every feed;
- indexed entries are unique per (account, seq): the index cannot hold an entry twice;
- the indexer cursor and the rows it indexed are written in one transaction;
- an idempotency key maps to exactly one operation (``operations.idempotency_key`` unique);
- a signed transaction is unique per (sender, nonce).
Amounts are integers (1 mileage = 1 KRW); ids are 0x-prefixed lowercase hex.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.domain.outbox import AwardState, OperationKind, OperationState, TxState, check_in

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The states of an award's outbox row (ledger.domain.outbox): the filter of operations_list.
AWARD_STATES = tuple(s.value for s in AwardState)
HEX32 = 66  # "0x" + 64 hex digits


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Deployment(Base):
    """A deployed ledger contract; ``make run`` and the bridge reuse the newest for the chain."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("chain_id", "address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(HEX32))
    abi_hash: Mapped[str] = mapped_column(String(64))
    deployer: Mapped[str] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Account(Base):
    """A citizen's unified account; ``account_id`` is the on-chain pseudonymous bytes32."""

    __tablename__ = "accounts"
    account_id: Mapped[str] = mapped_column(String(HEX32), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(128), unique=True)
    district: Mapped[str] = mapped_column(String(64), default="")
    donation_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into: Mapped[str | None] = mapped_column(String(HEX32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsentChange(Base):
    """One donation consent or withdrawal of an account (append-only; never updated). The
    account's current consent (``Account.donation_consent``) is the consent of its latest row."""

    __tablename__ = "consent_history"
    __table_args__ = (Index("ix_consent_history_account", "account_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(HEX32))
    consent: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    terms_version: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Member(Base):
    """A program membership (eco household, car, bike ... member id) of one account."""

    __tablename__ = "members"
    program: Mapped[str] = mapped_column(String(16), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    district: Mapped[str] = mapped_column(String(64), default="")
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Sign-up date in the program's own system (members file `joined_at`; the import date
    # when the file has none). No award for a window starting before it (docs/rules.md §2.5).
    joined_at: Mapped[date | None] = mapped_column(Date, nullable=True)


class Award(Base):
    """An award to mirror on-chain: the outbox row of a grant.

    pending → signed (its batch transaction is signed and stored) → sent → mined → final; or
    failed (the contract rejects it for good; ``error`` holds the decoded custom error); or
    conflict (mined, but skipped: its award number holds another award on chain; never retried
    by the bridge, ``error`` says what the chain holds).
    """

    __tablename__ = "awards"
    __table_args__ = (
        CheckConstraint(check_in("status", AwardState), name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_awards_status_program", "status", "program", "award_no"),
        # BIKE yearly cap at import: what a member was already awarded in a year.
        Index("ix_awards_program_member_period", "program", "member_id", "period"),
        # the awards of a transaction; those not yet claimed have no entry (migration 0023)
        Index(
            "ix_awards_tx_id",
            "tx_id",
            sqlite_where=text("tx_id IS NOT NULL"),
            postgresql_where=text("tx_id IS NOT NULL"),
        ),
    )
    award_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    award_id: Mapped[str] = mapped_column(String(HEX32), unique=True)
    program: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(64))
    # not indexed: no query finds awards by account alone (migration 0023)
    account_id: Mapped[str] = mapped_column(String(HEX32))
    period: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    tier: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(256), default="")
    # What the member saved (JSON: electricity_kwh, gas_m3, water_m3, heat_mcal, km), for reports.
    savings: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class AwardWindow(Base):
    """A month held by an award: one award per member (vehicle) per window, across every feed
    (ledger.domain.windows). Written with the award, in its transaction; the primary key is
    what stops two imports, even concurrent ones, from paying overlapping windows."""

    __tablename__ = "award_windows"
    # SQLite: the rows live in the primary key's B-tree (migration 0020): one write a window
    __table_args__ = ({"sqlite_with_rowid": False},)
    program: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    # not indexed: no query looks a window up by its award (migration 0018)
    award_id: Mapped[str] = mapped_column(String(HEX32))


class BikeAccrual(Base):
    """A member's BIKE mileage of one month, accrued at import with the caps of §2.4 applied,
    and paid later, once per payout period (ledger.domain.rules.bike_payout): ``award_id`` is
    the payout award that paid it (None: accrued, unpaid)."""

    __tablename__ = "bike_accruals"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        # every query asks for unpaid months: the payout's, in the table's order (the keys are
        # all NULL), and an account's; a month leaves both when it is paid (migration 0023)
        Index(
            "ix_bike_accruals_unpaid",
            "award_id",
            sqlite_where=text("award_id IS NULL"),
            postgresql_where=text("award_id IS NULL"),
        ),
        Index(
            "ix_bike_accruals_unpaid_account",
            "account_id",
            sqlite_where=text("award_id IS NULL"),
            postgresql_where=text("award_id IS NULL"),
        ),
    )
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(HEX32))
    amount: Mapped[int] = mapped_column(BigInteger)
    tier: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(256), default="")
    savings: Mapped[str | None] = mapped_column(Text, nullable=True)
    award_id: Mapped[str | None] = mapped_column(String(HEX32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AwardFlag(Base):
    """A follow-up a rule asked for, kept with its round: e.g. ``energy_saving_notice`` when a
    household's use rose by 10 % or more (docs/rules.md §2.1). Recorded by the import that
    computed it, whether or not the row earned anything."""

    __tablename__ = "award_flags"
    program: Mapped[str] = mapped_column(String(16), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    flag: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CorrectionReason(Base):
    """Why an award was corrected: the chain's CORRECTION entry has no field for it, so the
    reason given to `mileage correct` is kept here by the correction's transaction."""

    __tablename__ = "correction_reasons"
    tx_hash: Mapped[str] = mapped_column(String(HEX32), primary_key=True)
    award_no: Mapped[int] = mapped_column(Integer, index=True)
    award_id: Mapped[str] = mapped_column(String(HEX32))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChainTx(Base):
    """A signed transaction: raw bytes and hash stored *before* it is sent, so a restart resends
    the identical transaction instead of signing a new one."""

    __tablename__ = "chain_txs"
    __table_args__ = (
        UniqueConstraint("sender", "nonce"),
        CheckConstraint(check_in("status", TxState), name="status"),
        # the submitter's per-step reads (transactions in flight, mined ones): by this index
        # SQLite reads the matching rows only; through (sender, nonce) it walks every row's
        # raw_tx overflow pages to reach status (64 kB per batch of 500, on every pass)
        Index("ix_chain_txs_sender_status", "sender", "status", "nonce"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    program: Mapped[str | None] = mapped_column(String(16), nullable=True)
    raw_tx: Mapped[str] = mapped_column(Text)
    tx_hash: Mapped[str] = mapped_column(String(HEX32), unique=True)
    status: Mapped[str] = mapped_column(String(8), default="signed")
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(HEX32), nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class SignerNonce(Base):
    """The next nonce of a bridge signer, tracked here and reconciled with the node."""

    __tablename__ = "signer_nonces"
    sender: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class Operation(Base):
    """An operation for the chain (outbox row, idempotent by key): a conversion or deduction an
    integrator requested, a donation consent, ... (``kind``: ledger.domain.outbox.OperationKind;
    ``status``: OperationState)."""

    __tablename__ = "operations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(check_in("status", OperationState), name="status"),
        CheckConstraint(check_in("kind", OperationKind), name="kind"),
    )
    op_id: Mapped[str] = mapped_column(String(HEX32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(HEX32), index=True)
    program: Mapped[str] = mapped_column(String(16))
    to_program: Mapped[str | None] = mapped_column(String(16), nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(24), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(HEX32), nullable=True)
    #: a refund's deduction (its op id, the ref on chain); NULL for other kinds
    deduction_id: Mapped[str | None] = mapped_column(String(HEX32), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    # indexed: every batch moves its transaction's operations by tx_id (migration 0021)
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), nullable=True, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Entry(Base):
    """An indexed ``EntryRecorded`` event: the database's copy of the on-chain trail.

    Why this shape: the stored entry, with hex ids and its chain position (block, transaction,
    log) and the hash-chain head after it; the other shapes are listed with
    `ledger.domain.hashchain.Entry`."""

    __tablename__ = "entries"
    account_id: Mapped[str] = mapped_column(String(HEX32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[int] = mapped_column(Integer)
    program: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(String(HEX32))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[str] = mapped_column(String(HEX32))
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(HEX32))
    tx_hash: Mapped[str] = mapped_column(String(HEX32))
    log_index: Mapped[int] = mapped_column(Integer)


class Balance(Base):
    """Projection of balances per (account, program), maintained by the indexer with the entries."""

    __tablename__ = "balances"
    __table_args__ = (CheckConstraint("balance >= 0", name="nonnegative"),)
    account_id: Mapped[str] = mapped_column(String(HEX32), primary_key=True)
    program: Mapped[int] = mapped_column(Integer, primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class AccountHead(Base):
    """Projection of each account's hash-chain position, maintained by the indexer with the
    entries: ``count`` and ``head`` equal the contract's ``accountState`` at the cursor block."""

    __tablename__ = "account_heads"
    __table_args__ = (CheckConstraint("count >= 0", name="count"),)
    account_id: Mapped[str] = mapped_column(String(HEX32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[str] = mapped_column(String(HEX32))


class IndexedBlock(Base):
    """Recent indexed blocks (number, hash, parent) to detect reorgs by parent hash."""

    __tablename__ = "indexed_blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(HEX32))
    parent_hash: Mapped[str] = mapped_column(String(HEX32))


class IndexCursor(Base):
    """Where the indexer stands, advanced in the same transaction as the rows it indexed."""

    __tablename__ = "index_cursor"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(HEX32))


class ApiKey(Base):
    """A bearer API key, stored as its SHA-256 hash, with scopes (and an account for wallets)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(512))  # space-separated
    account_id: Mapped[str | None] = mapped_column(String(HEX32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FeedRun(Base):
    """One import of awards (a feed file or an operator's API batch): what the console shows as
    a round, with the rows it rejected (rejected rows are not otherwise stored)."""

    __tablename__ = "feed_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    program: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(256))  # the awards' source prefix
    rows: Mapped[int] = mapped_column(Integer, default=0)
    recorded: Mapped[int] = mapped_column(Integer, default=0)
    already_recorded: Mapped[int] = mapped_column(Integer, default=0)
    zero: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class ReconcileRun(Base):
    """The outcome of one ``mileage reconcile`` (the console shows the last one)."""

    __tablename__ = "reconcile_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    accounts: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(BigInteger)
    discrepancies: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
