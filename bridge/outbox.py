"""The database side of the bridge: claiming outbox rows, nonces, and every state transition.

States (awards and operations alike)::

    pending ──claim+sign──▶ signed ──send──▶ sent ──receipt──▶ mined ──confirmations──▶ final
       │                                      │  ▲    │  (reverted / nonce taken by another tx:
       ▼                                      │  └────┤   back to pending, the next simulation
    failed (rejected for good; ``error`` says │  left │   isolates the cause)
    why, as the decoded custom error)         ▼  chain▼
                                            conflict (award skipped, its number holds another
                                            award on chain: not granted, never retried)

A mined or final transaction that left the chain (reorg) goes back to ``sent`` with its rows and
its stored bytes are sent again (:meth:`Outbox.unmine`).

Invariants, each kept by one database transaction:

- an award is signed into at most one live transaction: claiming is a compare-and-set lease
  (``claimed_by``/``claimed_until``; on PostgreSQL also ``FOR UPDATE SKIP LOCKED``) and signing
  re-checks the lease in the transaction that stores the signed transaction;
- a nonce is allocated, the transaction signed, the raw bytes and hash stored (``ChainTx``) and the
  rows moved to ``signed`` in one transaction, before anything is sent: after a crash the identical
  bytes are sent again, never a second signature for the same rows;
- an operation (conversion/deduction) moves ``pending → signed`` with a compare-and-set in that
  same transaction, so two workers can never both sign it.

SQLite serialises writers; every transaction here starts with a write (so a stale read snapshot
can never need upgrading) and is retried when the database is briefly locked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bridge.errors import BridgeError
from ledger.adapters.orm import Award, ChainTx, IndexCursor, Operation, SignerNonce, utcnow

P = ParamSpec("P")
T = TypeVar("T")

AWARDS = cast(sa.Table, Award.__table__)
OPS = cast(sa.Table, Operation.__table__)
TXS = cast(sa.Table, ChainTx.__table__)
NONCES = cast(sa.Table, SignerNonce.__table__)
UNRESOLVED = ("signed", "sent")


class LeaseLost(BridgeError):
    """Another worker took over rows this worker had claimed (its lease expired); nothing was
    signed. Harmless: the rows are now that worker's."""


def _rows(session: Session, stmt: Any) -> int:
    """Execute an UPDATE and return how many rows it changed."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return int(result.rowcount)


def _transient_db_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        s in text
        for s in (
            "database is locked",
            "database is busy",
            "deadlock detected",
            "could not serialize",
            "sqlite_busy",
        )
    )


def retry_db(fn: Callable[P, T]) -> Callable[P, T]:
    """Retry a whole unit of work when SQLite is locked or PostgreSQL reports a deadlock."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        delay = 0.02
        for attempt in range(12):
            try:
                return fn(*args, **kwargs)
            except (OperationalError, DBAPIError) as exc:
                if attempt == 11 or not _transient_db_error(exc):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@dataclass(frozen=True)
class ClaimedAward:
    """An award claimed by this worker, as it goes into ``grantBatch``."""

    award_no: int
    award_id: str
    account_id: str
    amount: int
    program: str


@dataclass(frozen=True)
class PendingOperation:
    """A conversion or deduction waiting to be signed."""

    op_id: str
    kind: str
    account_id: str
    program: str
    to_program: str | None
    amount: int
    reason: str | None
    reference: str | None


@dataclass(frozen=True)
class StoredTx:
    """A signed transaction as stored in ``chain_txs``."""

    id: int
    sender: str
    nonce: int
    kind: str
    program: str | None
    raw_tx: str
    tx_hash: str
    status: str
    block_number: int | None
    block_hash: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> StoredTx:
        return cls(
            id=row.id,
            sender=row.sender,
            nonce=row.nonce,
            kind=row.kind,
            program=row.program,
            raw_tx=row.raw_tx,
            tx_hash=row.tx_hash,
            status=row.status,
            block_number=row.block_number,
            block_hash=row.block_hash,
            created_at=row.created_at,
        )


@dataclass
class QueueStatus:
    """A snapshot of the outbox for ``mileage bridge status`` and the metrics."""

    awards: dict[tuple[str, str], int] = field(default_factory=dict)  # (program, state) -> n
    operations: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, state) -> n
    oldest_pending_seconds: dict[str, float] = field(default_factory=dict)  # program -> age
    unresolved_txs: int = 0
    index_cursor: int | None = None
    chain_head: int | None = None

    @property
    def conflicts(self) -> int:
        """Awards in ``conflict`` (every program): each needs an operator."""
        return sum(n for (_, state), n in self.awards.items() if state == "conflict")

    @property
    def indexer_lag(self) -> int | None:
        if self.chain_head is None:
            return None
        return self.chain_head - (self.index_cursor if self.index_cursor is not None else 0)


def _aware(dt: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC)."""
    from datetime import UTC

    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class Outbox:
    """Outbox operations of one worker (``worker_id``) over one database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        worker_id: str,
        *,
        lease_seconds: float = 120.0,
    ) -> None:
        self.factory = session_factory
        self.worker_id = worker_id[:64]
        self.lease = timedelta(seconds=lease_seconds)
        dialect = session_factory.kw["bind"].dialect.name if "bind" in session_factory.kw else ""
        self.postgres = dialect == "postgresql"

    # --- claiming --------------------------------------------------------------------------
    @retry_db
    def claim_awards(self, program: str, limit: int) -> list[ClaimedAward]:
        """Lease up to ``limit`` pending awards of ``program`` (oldest number first).

        A worker re-claims its own leases at once (a restarted process keeps its worker id),
        another worker's only after they expire."""
        now = utcnow()
        candidates = (
            sa.select(AWARDS.c.award_no)
            .where(
                AWARDS.c.status == "pending",
                AWARDS.c.program == program,
                sa.or_(
                    AWARDS.c.claimed_until.is_(None),
                    AWARDS.c.claimed_until < now,
                    AWARDS.c.claimed_by == self.worker_id,
                ),
            )
            .order_by(AWARDS.c.award_no)
            .limit(limit)
        )
        if self.postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            sa.update(AWARDS)
            .where(AWARDS.c.award_no.in_(candidates.scalar_subquery()))
            .values(claimed_by=self.worker_id, claimed_until=now + self.lease, updated_at=now)
            .returning(
                AWARDS.c.award_no,
                AWARDS.c.award_id,
                AWARDS.c.account_id,
                AWARDS.c.amount,
                AWARDS.c.program,
            )
        )
        with self.factory() as s, s.begin():
            rows = s.execute(stmt).all()
        return sorted(
            (
                ClaimedAward(r.award_no, r.award_id, r.account_id.lower(), int(r.amount), r.program)
                for r in rows
            ),
            key=lambda a: a.award_no,
        )

    @retry_db
    def release_awards(self, award_nos: Iterable[int]) -> None:
        """Give up this worker's lease on awards that stay pending (e.g. the program is paused)."""
        nos = list(award_nos)
        if not nos:
            return
        with self.factory() as s, s.begin():
            _rows(
                s,
                sa.update(AWARDS)
                .where(
                    AWARDS.c.award_no.in_(nos),
                    AWARDS.c.claimed_by == self.worker_id,
                    AWARDS.c.status == "pending",
                )
                .values(claimed_by=None, claimed_until=None, updated_at=utcnow()),
            )

    @retry_db
    def fail_awards(self, failures: dict[int, str]) -> int:
        """Mark awards failed for good with their decoded reason. Returns how many changed."""
        n = 0
        with self.factory() as s, s.begin():
            for no, reason in failures.items():
                n += _rows(
                    s,
                    sa.update(AWARDS)
                    .where(AWARDS.c.award_no == no, AWARDS.c.status == "pending")
                    .values(
                        status="failed",
                        error=reason[:2000],
                        claimed_by=None,
                        claimed_until=None,
                        updated_at=utcnow(),
                    ),
                )
        return n

    def pending_operations(self, kinds: Sequence[str], limit: int) -> list[PendingOperation]:
        """Pending conversions/deductions of ``kinds``, oldest first (not claimed: signing is a
        compare-and-set, see :meth:`store_signed`)."""
        if not kinds:
            return []
        with self.factory() as s:
            rows = s.execute(
                sa.select(OPS)
                .where(OPS.c.status == "pending", OPS.c.kind.in_(list(kinds)))
                .order_by(OPS.c.created_at, OPS.c.op_id)
                .limit(limit)
            ).all()
        return [
            PendingOperation(
                op_id=r.op_id,
                kind=r.kind,
                account_id=r.account_id.lower(),
                program=r.program,
                to_program=r.to_program,
                amount=int(r.amount),
                reason=r.reason,
                reference=r.reference,
            )
            for r in rows
        ]

    @retry_db
    def fail_operation(self, op_id: str, reason: str) -> bool:
        with self.factory() as s, s.begin():
            n = _rows(
                s,
                sa.update(OPS)
                .where(OPS.c.op_id == op_id, OPS.c.status == "pending")
                .values(status="failed", error=reason[:2000], updated_at=utcnow()),
            )
        return bool(n)

    # --- nonces and signing -------------------------------------------------------------------
    @retry_db
    def reconcile_nonce(self, sender: str, node_pending: int) -> int:
        """Make the tracked next nonce at least the node's pending count (and past every stored
        transaction); returns it."""
        with self.factory() as s, s.begin():
            # write first (SQLite: take the write lock before reading)
            _rows(
                s,
                sa.update(NONCES)
                .where(
                    NONCES.c.sender == sender,
                    NONCES.c.next_nonce < node_pending,
                )
                .values(next_nonce=node_pending),
            )
            row = s.get(SignerNonce, sender)
            top = s.scalar(sa.select(sa.func.max(TXS.c.nonce)).where(TXS.c.sender == sender))
            want = max(node_pending, (top + 1) if top is not None else 0)
            if row is None:
                s.add(SignerNonce(sender=sender, next_nonce=want))
                return want
            if row.next_nonce < want:
                row.next_nonce = want
            return int(row.next_nonce)

    @retry_db
    def store_signed(
        self,
        sender: str,
        kind: str,
        program: str | None,
        sign: Callable[[int], tuple[bytes, str]],
        *,
        award_nos: Sequence[int] = (),
        op_id: str | None = None,
        nonce: int | None = None,
    ) -> StoredTx:
        """Allocate the next nonce, sign with it (``sign(nonce) -> (raw, hash)``), store the
        transaction and move its rows to ``signed``, all in one transaction.

        ``nonce`` forces a specific nonce (a filler for a gap); it does not advance the counter.
        Raises :class:`LeaseLost` (nothing stored) if any row is no longer this worker's to sign.
        """
        now = utcnow()
        nonces = NONCES
        with self.factory() as s, s.begin():
            if nonce is None:
                got = s.execute(
                    sa.update(nonces)
                    .where(nonces.c.sender == sender)
                    .values(next_nonce=nonces.c.next_nonce + 1)
                    .returning(nonces.c.next_nonce)
                ).scalar()
                if got is None:
                    raise BridgeError(f"no tracked nonce for {sender}: reconcile_nonce first")
                use = int(got) - 1
            else:
                use = nonce
            raw, tx_hash = sign(use)
            tx = ChainTx(
                sender=sender,
                nonce=use,
                kind=kind,
                program=program,
                raw_tx="0x" + raw.hex(),
                tx_hash=tx_hash.lower(),
                status="signed",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            s.add(tx)
            s.flush()
            if award_nos:
                n = _rows(
                    s,
                    sa.update(AWARDS)
                    .where(
                        AWARDS.c.award_no.in_(list(award_nos)),
                        AWARDS.c.status == "pending",
                        AWARDS.c.claimed_by == self.worker_id,
                    )
                    .values(status="signed", tx_id=tx.id, updated_at=now),
                )
                if n != len(award_nos):
                    raise LeaseLost(
                        f"{len(award_nos) - n} of {len(award_nos)} awards are no longer "
                        f"claimed by {self.worker_id}"
                    )
            if op_id is not None:
                n = _rows(
                    s,
                    sa.update(OPS)
                    .where(OPS.c.op_id == op_id, OPS.c.status == "pending")
                    .values(status="signed", tx_id=tx.id, updated_at=now),
                )
                if n != 1:
                    raise LeaseLost(f"operation {op_id} is no longer pending")
            return StoredTx.of(tx)

    # --- transaction lifecycle ----------------------------------------------------------------
    def unresolved_txs(self, sender: str) -> list[StoredTx]:
        """Signed or sent transactions of ``sender`` without a receipt yet, by nonce."""
        with self.factory() as s:
            rows = s.execute(
                sa.select(TXS)
                .where(TXS.c.sender == sender, TXS.c.status.in_(UNRESOLVED))
                .order_by(TXS.c.nonce)
            ).all()
        return [StoredTx.of(r) for r in rows]

    def mined_txs(self, sender: str) -> list[StoredTx]:
        """Mined (not yet final) transactions of ``sender``."""
        with self.factory() as s:
            rows = s.execute(
                sa.select(TXS)
                .where(TXS.c.sender == sender, TXS.c.status == "mined")
                .order_by(TXS.c.nonce)
            ).all()
        return [StoredTx.of(r) for r in rows]

    def landed_from(self, sender: str, nonce: int) -> list[StoredTx]:
        """Mined or final transactions of ``sender`` with a nonce of at least ``nonce``, by nonce.

        Cheap when nothing is wrong: the newest landed transaction is read first, through the
        ``(sender, nonce)`` index, and only if its nonce reaches ``nonce`` is the rest fetched."""
        landed = (TXS.c.sender == sender, TXS.c.status.in_(("mined", "final")))
        with self.factory() as s:
            top = s.scalar(
                sa.select(TXS.c.nonce).where(*landed).order_by(TXS.c.nonce.desc()).limit(1)
            )
            if top is None or top < nonce:
                return []
            rows = s.execute(
                sa.select(TXS).where(*landed, TXS.c.nonce >= nonce).order_by(TXS.c.nonce)
            ).all()
        return [StoredTx.of(r) for r in rows]

    def txs_by_nonce(self, sender: str, nonces: Iterable[int]) -> dict[int, StoredTx]:
        ns = list(nonces)
        if not ns:
            return {}
        with self.factory() as s:
            rows = s.execute(
                sa.select(TXS).where(TXS.c.sender == sender, TXS.c.nonce.in_(ns))
            ).all()
        return {r.nonce: StoredTx.of(r) for r in rows}

    def tx_rows(self, tx_id: int) -> tuple[list[ClaimedAward], list[PendingOperation]]:
        """The awards and operations a transaction carries."""
        with self.factory() as s:
            awards = s.execute(
                sa.select(AWARDS).where(AWARDS.c.tx_id == tx_id).order_by(AWARDS.c.award_no)
            ).all()
            ops = s.execute(sa.select(OPS).where(OPS.c.tx_id == tx_id)).all()
        return (
            [
                ClaimedAward(r.award_no, r.award_id, r.account_id.lower(), int(r.amount), r.program)
                for r in awards
            ],
            [
                PendingOperation(
                    r.op_id,
                    r.kind,
                    r.account_id.lower(),
                    r.program,
                    r.to_program,
                    int(r.amount),
                    r.reason,
                    r.reference,
                )
                for r in ops
            ],
        )

    @retry_db
    def mark_sent(self, tx_id: int) -> None:
        """The node accepted the transaction (or already knew it)."""
        now = utcnow()
        with self.factory() as s, s.begin():
            _rows(
                s,
                sa.update(TXS)
                .where(TXS.c.id == tx_id, TXS.c.status.in_(UNRESOLVED))
                .values(status="sent", attempts=TXS.c.attempts + 1, updated_at=now),
            )
            for table in (AWARDS, OPS):
                _rows(
                    s,
                    sa.update(table)
                    .where(table.c.tx_id == tx_id, table.c.status == "signed")
                    .values(status="sent", updated_at=now),
                )

    @retry_db
    def mark_mined(
        self,
        tx_id: int,
        *,
        block_number: int,
        block_hash: str,
        gas_used: int,
        final: bool,
        conflicts: Mapping[int, str] | None = None,
    ) -> None:
        """The transaction succeeded in ``block_number``: its rows are mined (or final), except
        the awards in ``conflicts`` (award number → what the chain holds instead), which go to
        ``conflict`` in the same database transaction.

        An award the contract skipped is mined/final only when the chain holds its GRANT (an
        idempotent resend, :mod:`bridge.skips`); the caller puts every other skip in
        ``conflicts``."""
        state = "final" if final else "mined"
        now = utcnow()
        with self.factory() as s, s.begin():
            for no, why in (conflicts or {}).items():
                _rows(
                    s,
                    sa.update(AWARDS)
                    .where(
                        AWARDS.c.award_no == no,
                        AWARDS.c.tx_id == tx_id,
                        AWARDS.c.status.in_(("signed", "sent", "mined")),
                    )
                    .values(status="conflict", error=why[:2000], updated_at=now),
                )
            _rows(
                s,
                sa.update(TXS)
                .where(TXS.c.id == tx_id)
                .values(
                    status=state,
                    block_number=block_number,
                    block_hash=block_hash.lower(),
                    gas_used=gas_used,
                    error=None,
                    updated_at=now,
                ),
            )
            for table in (AWARDS, OPS):
                _rows(
                    s,
                    sa.update(table)
                    .where(table.c.tx_id == tx_id, table.c.status.in_(("signed", "sent", "mined")))
                    .values(status=state, updated_at=now),
                )

    @retry_db
    def finalize(self, tx_ids: Sequence[int]) -> None:
        """Mined transactions with enough confirmations: they and their rows become final."""
        if not tx_ids:
            return
        now = utcnow()
        with self.factory() as s, s.begin():
            _rows(
                s,
                sa.update(TXS)
                .where(TXS.c.id.in_(list(tx_ids)), TXS.c.status == "mined")
                .values(status="final", updated_at=now),
            )
            for table in (AWARDS, OPS):
                _rows(
                    s,
                    sa.update(table)
                    .where(table.c.tx_id.in_(list(tx_ids)), table.c.status == "mined")
                    .values(status="final", updated_at=now),
                )

    @retry_db
    def unmine(self, tx_id: int) -> None:
        """A mined (or even final) transaction is no longer in the chain (reorg, or a node that
        restarted from an older state): back to ``sent``, so the stored bytes are sent again."""
        now = utcnow()
        gone = ("mined", "final")
        with self.factory() as s, s.begin():
            _rows(
                s,
                sa.update(TXS)
                .where(TXS.c.id == tx_id, TXS.c.status.in_(gone))
                .values(status="sent", block_number=None, block_hash=None, updated_at=now),
            )
            for table in (AWARDS, OPS):
                _rows(
                    s,
                    sa.update(table)
                    .where(table.c.tx_id == tx_id, table.c.status.in_(gone))
                    .values(status="sent", updated_at=now),
                )

    @retry_db
    def abandon_tx(
        self,
        tx_id: int,
        *,
        status: str,
        error: str,
        failed_ops: dict[str, str] | None = None,
        block_number: int | None = None,
        block_hash: str | None = None,
        gas_used: int | None = None,
    ) -> None:
        """The transaction will never take effect (``failed``: reverted; ``replaced``: its nonce
        went to another transaction). Its awards return to ``pending`` (the next simulation
        isolates a bad one; the contract skips numbers already recorded); its operations return
        to ``pending`` unless ``failed_ops`` fails them for good with a reason."""
        now = utcnow()
        with self.factory() as s, s.begin():
            _rows(
                s,
                sa.update(TXS)
                .where(TXS.c.id == tx_id)
                .values(
                    status=status,
                    error=error[:2000],
                    block_number=block_number,
                    block_hash=block_hash,
                    gas_used=gas_used,
                    updated_at=now,
                ),
            )
            _rows(
                s,
                sa.update(AWARDS)
                .where(AWARDS.c.tx_id == tx_id, AWARDS.c.status.in_(("signed", "sent", "mined")))
                .values(status="pending", tx_id=None, updated_at=now),
            )
            for op_id, reason in (failed_ops or {}).items():
                _rows(
                    s,
                    sa.update(OPS)
                    .where(OPS.c.op_id == op_id, OPS.c.tx_id == tx_id)
                    .values(status="failed", error=reason[:2000], updated_at=now),
                )
            _rows(
                s,
                sa.update(OPS)
                .where(OPS.c.tx_id == tx_id, OPS.c.status.in_(("signed", "sent", "mined")))
                .values(status="pending", tx_id=None, updated_at=now),
            )

    # --- reporting ----------------------------------------------------------------------------
    def has_work(self, programs: Sequence[str], op_kinds: Sequence[str], sender: str) -> bool:
        """Anything left for this worker: pending rows in its lanes or unresolved transactions."""
        with self.factory() as s:
            if (
                programs
                and s.scalar(
                    sa.select(AWARDS.c.award_no)
                    .where(AWARDS.c.status == "pending", AWARDS.c.program.in_(list(programs)))
                    .limit(1)
                )
                is not None
            ):
                return True
            if (
                op_kinds
                and s.scalar(
                    sa.select(OPS.c.op_id)
                    .where(OPS.c.status == "pending", OPS.c.kind.in_(list(op_kinds)))
                    .limit(1)
                )
                is not None
            ):
                return True
            return (
                s.scalar(
                    sa.select(TXS.c.id)
                    .where(TXS.c.sender == sender, TXS.c.status.in_((*UNRESOLVED, "mined")))
                    .limit(1)
                )
                is not None
            )


def queue_status(
    factory: sessionmaker[Session], chain_head: int | None = None, now: datetime | None = None
) -> QueueStatus:
    """Counts by state per program (awards) and per kind (operations), the oldest pending award's
    age per program, and the indexer cursor (lag = ``chain_head`` − cursor)."""
    now = now or utcnow()
    st = QueueStatus(chain_head=chain_head)
    with factory() as s:
        for program, state, n in s.execute(
            sa.select(AWARDS.c.program, AWARDS.c.status, sa.func.count()).group_by(
                AWARDS.c.program, AWARDS.c.status
            )
        ):
            st.awards[(program, state)] = int(n)
        for kind, state, n in s.execute(
            sa.select(OPS.c.kind, OPS.c.status, sa.func.count()).group_by(OPS.c.kind, OPS.c.status)
        ):
            st.operations[(kind, state)] = int(n)
        for program, oldest in s.execute(
            sa.select(AWARDS.c.program, sa.func.min(AWARDS.c.created_at))
            .where(AWARDS.c.status == "pending")
            .group_by(AWARDS.c.program)
        ):
            if oldest is not None:
                st.oldest_pending_seconds[program] = max(
                    0.0, (now - _aware(oldest)).total_seconds()
                )
        st.unresolved_txs = int(
            s.scalar(
                sa.select(sa.func.count()).select_from(TXS).where(TXS.c.status.in_(UNRESOLVED))
            )
            or 0
        )
        cursor = s.scalar(sa.select(sa.func.max(IndexCursor.__table__.c.block_number)))
        st.index_cursor = int(cursor) if cursor is not None else None
    return st
