"""Signed transactions: nonces, signing into ``chain_txs``, and every later state transition of a
transaction and its rows (sent, mined, final, back to sent after a reorg, abandoned)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bridge.outbox.raw_txs import RawTxLog, _NotSigned
from bridge.outbox.rows import (
    AWARDS,
    IN_FLIGHT,
    NONCES,
    OPS,
    TXS,
    UNRESOLVED,
    ClaimedAward,
    LeaseLost,
    PendingOperation,
    StoredTx,
    _rows,
    retry_db,
    take_nonce,
)
from bridge.outbox.statements import CLAIM, HOT
from ledger.adapters.orm import ChainTx, SignerNonce, utcnow
from ledger.domain.outbox import AwardState, OperationState, TxState


class TxLog(RawTxLog):
    """Nonces and the lifecycle of signed transactions, with their awards and operations."""

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
        with self.factory() as s, s.begin():
            use = take_nonce(s, sender) if nonce is None else nonce
            raw, tx_hash = sign(use)
            tx = ChainTx(
                sender=sender,
                nonce=use,
                kind=kind,
                program=program,
                raw_tx="0x" + raw.hex(),
                tx_hash=tx_hash.lower(),
                status=TxState.SIGNED,
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
                        AWARDS.c.status == AwardState.PENDING,
                        AWARDS.c.claimed_by == self.worker_id,
                    )
                    .values(status=AwardState.SIGNED, tx_id=tx.id, error=None, updated_at=now),
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
                    .where(OPS.c.op_id == op_id, OPS.c.status == OperationState.PENDING)
                    .values(status=OperationState.SIGNED, tx_id=tx.id, updated_at=now),
                )
                if n != 1:
                    raise LeaseLost(f"operation {op_id} is no longer pending")
            return StoredTx.of(tx)

    @retry_db
    def claim_and_sign(
        self,
        sender: str,
        program: str,
        limit: int,
        sign_for: Callable[[list[ClaimedAward]], Callable[[int], tuple[bytes, str]]],
    ) -> tuple[StoredTx | None, list[ClaimedAward]]:
        """The common case of a batch in one database transaction and one write per award:
        lease the next ``limit`` pending awards of ``program`` (as :meth:`claim_awards` picks
        them), sign them with the next nonce (``sign_for(awards)(nonce) -> (raw, hash)``),
        store the transaction and move them to ``signed``.

        Returns (the stored transaction, its awards). Nothing is written when no award is
        pending (``(None, [])``) or when one of them failed before (``(None, awards)``): that
        batch is claimed and simulated first (:meth:`claim_awards`, then
        :meth:`store_signed`)."""
        now = utcnow()
        if self.raw is not None:
            return self._claim_and_sign_raw(self.raw, now, sender, program, limit, sign_for)
        try:
            with self.factory() as s, s.begin():
                # the nonce first: a write, so SQLite holds the write lock from here on and
                # the candidates below cannot change before they are signed
                use = take_nonce(s, sender)
                claim = {"b_program": program, "b_now": now, "b_worker": self.worker_id}
                awards = [
                    ClaimedAward(
                        no, award_id, account.lower(), int(amount), program, error is not None
                    )
                    for no, award_id, account, amount, error in s.execute(
                        CLAIM.select_locked if self.postgres else CLAIM.select,
                        {**claim, "b_limit": limit},
                    )
                ]
                if not awards or any(a.retry for a in awards):
                    raise _NotSigned(awards)
                raw, tx_hash = sign_for(awards)(use)
                tx_id = s.execute(
                    CLAIM.insert_tx,
                    {
                        "sender": sender,
                        "nonce": use,
                        "kind": "grant",
                        "program": program,
                        "raw_tx": "0x" + raw.hex(),
                        "tx_hash": tx_hash.lower(),
                        "status": TxState.SIGNED,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    },
                ).one()
                nos = [a.award_no for a in awards]
                signed = {
                    "b_tx_id": tx_id.id,
                    "b_claimed_by": self.worker_id,
                    "b_until": now + self.lease,
                }
                if self.sqlite:
                    # SQLite: this transaction has held the write lock since take_nonce, so
                    # the claimable awards up to the last one read are exactly those read (the
                    # first ``limit`` by number): one range, not 500 bound parameters
                    n = _rows(
                        s,
                        CLAIM.sign_range,
                        {**claim, **signed, "b_first": nos[0], "b_last": nos[-1]},
                    )
                else:  # PostgreSQL: the rows locked above (others may commit in between)
                    n = _rows(s, CLAIM.sign_listed, {**signed, "b_now": now, "b_nos": nos})
                if n != len(nos):  # cannot happen under the lock; never sign what moved
                    raise LeaseLost(f"{len(nos) - n} of {len(nos)} awards moved while signing")
                return StoredTx.of(tx_id), awards
        except _NotSigned as nothing:
            return None, nothing.awards

    def unresolved_txs(self, sender: str) -> list[StoredTx]:
        """Signed or sent transactions of ``sender`` without a receipt yet, by nonce."""
        if self.raw is not None:
            return sorted(self._raw_txs("unresolved_txs", sender), key=lambda tx: tx.nonce)
        with self.factory() as s:
            # sorted here, not by ORDER BY: SQLite would then walk (sender, nonce), every
            # transaction ever sent, instead of finding these few by ix_chain_txs_sender_status
            rows = s.execute(
                sa.select(TXS).where(TXS.c.sender == sender, TXS.c.status.in_(UNRESOLVED))
            ).all()
        return sorted((StoredTx.of(r) for r in rows), key=lambda tx: tx.nonce)

    def mined_txs(self, sender: str) -> list[StoredTx]:
        """Mined (not yet final) transactions of ``sender``."""
        if self.raw is not None:
            return self._raw_txs("mined_txs", sender)
        with self.factory() as s:
            rows = s.execute(
                sa.select(TXS)
                .where(TXS.c.sender == sender, TXS.c.status == TxState.MINED)
                .order_by(TXS.c.nonce)
            ).all()
        return [StoredTx.of(r) for r in rows]

    def landed_from(self, sender: str, nonce: int) -> list[StoredTx]:
        """Mined or final transactions of ``sender`` with a nonce of at least ``nonce``, by nonce.

        Cheap when nothing is wrong: the newest landed transaction is read first, through the
        ``(sender, nonce)`` index, and only if its nonce reaches ``nonce`` is the rest fetched."""
        landed = (TXS.c.sender == sender, TXS.c.status.in_((TxState.MINED, TxState.FINAL)))
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

    def award_count(self, tx_id: int) -> int:
        """How many awards a transaction carries."""
        with self.factory() as s:
            return _award_count(s, tx_id)

    def tx_rows(self, tx_id: int) -> tuple[list[ClaimedAward], list[PendingOperation]]:
        """The awards and operations a transaction carries."""
        with self.factory() as s:
            awards = s.execute(
                sa.select(
                    AWARDS.c.award_no,
                    AWARDS.c.award_id,
                    AWARDS.c.account_id,
                    AWARDS.c.amount,
                    AWARDS.c.program,
                )
                .where(AWARDS.c.tx_id == tx_id)
                .order_by(AWARDS.c.award_no)
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
        if self.raw is not None:
            at = {"tx_id": tx_id, "now": self.raw.stamp(now)}
            with self.raw.begin() as cur:
                cur.execute(self.raw.sql["tx_sent"], at)
                cur.execute(self.raw.sql["ops_sent"], at)
            return
        with self.factory() as s, s.begin():
            # _set_txs(UNRESOLVED -> sent, attempts + 1) and _move_rows(operations signed ->
            # sent), as statements built once (HOT): a batch's transitions run them each time
            _rows(s, HOT.tx_sent, {"b_tx_id": tx_id, "b_now": now})
            # the transaction's awards stay ``signed``: a signed award is in a transaction that
            # has not landed, sent or not is the transaction's state (queue_status joins it).
            # One write per award less per batch.
            _rows(s, HOT.ops_sent, {"b_tx_id": tx_id, "b_now": now})

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
    ) -> int:
        """The transaction succeeded in ``block_number``: its rows are mined (or final), except
        the awards in ``conflicts`` (award number → what the chain holds instead), which go to
        ``conflict`` in the same database transaction. Returns how many awards the transaction
        carries (:meth:`award_count`, read in that transaction).

        An award the contract skipped is mined/final only when the chain holds its GRANT (an
        idempotent resend, :mod:`bridge.skips`); the caller puts every other skip in
        ``conflicts``."""
        now = utcnow()
        if self.raw is not None and not conflicts:
            return self._mark_mined_raw(
                self.raw, tx_id, now, block_number, block_hash, gas_used, final
            )
        with self.factory() as s, s.begin():
            # the write lock first (SQLite), then the count: nothing moves in between
            _rows(
                s,
                HOT.tx_landed,
                {
                    "b_tx_id": tx_id,
                    "b_now": now,
                    "b_status": TxState.FINAL if final else TxState.MINED,
                    "b_block_number": block_number,
                    "b_block_hash": block_hash.lower(),
                    "b_gas_used": gas_used,
                },
            )
            n_awards = _award_count(s, tx_id)
            for no, why in (conflicts or {}).items():
                _rows(
                    s,
                    sa.update(AWARDS)
                    .where(
                        AWARDS.c.award_no == no,
                        AWARDS.c.tx_id == tx_id,
                        AWARDS.c.status.in_(IN_FLIGHT),
                    )
                    .values(status=AwardState.CONFLICT, error=why[:2000], updated_at=now),
                )
            # the operations move (_move_rows(IN_FLIGHT -> to)); the awards follow the
            # transaction (ledger.adapters.award_state)
            to_state = OperationState.FINAL if final else OperationState.MINED
            _rows(s, HOT.ops_landed, {"b_tx_id": tx_id, "b_now": now, "b_to_state": to_state})
        return n_awards

    @retry_db
    def finalize(self, tx_ids: Sequence[int]) -> None:
        """Mined transactions with enough confirmations: they and their operations become final
        (their awards with them: they follow the transaction)."""
        if not tx_ids:
            return
        now = utcnow()
        with self.factory() as s, s.begin():
            _set_txs(s, tx_ids, (TxState.MINED,), now, status=TxState.FINAL)
            mined = (OperationState.MINED,)
            _move_rows(s, tx_ids, mined, OperationState.FINAL, now, tables=(OPS,))

    @retry_db
    def unmine(self, tx_id: int) -> None:
        """A mined (or even final) transaction is no longer in the chain (reorg, or a node that
        restarted from an older state): back to ``sent``, so the stored bytes are sent again."""
        now = utcnow()
        landed = (TxState.MINED, TxState.FINAL)
        with self.factory() as s, s.begin():
            _set_txs(
                s, [tx_id], landed, now, status=TxState.SENT, block_number=None, block_hash=None
            )
            landed_ops = (OperationState.MINED, OperationState.FINAL)
            _move_rows(s, [tx_id], landed_ops, OperationState.SENT, now, tables=(OPS,))

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
            _set_txs(
                s,
                [tx_id],
                None,
                now,
                status=status,
                error=error[:2000],
                block_number=block_number,
                block_hash=block_hash,
                gas_used=gas_used,
            )
            # back to pending with the reason: an award that failed before is simulated (and
            # isolated) before it is signed again (bridge.award_lane)
            _move_rows(
                s,
                [tx_id],
                IN_FLIGHT,
                AwardState.PENDING,
                now,
                tables=(AWARDS,),
                tx_id=None,
                error=f"{status}: {error}"[:2000],
            )
            for op_id, reason in (failed_ops or {}).items():
                _rows(
                    s,
                    sa.update(OPS)
                    .where(OPS.c.op_id == op_id, OPS.c.tx_id == tx_id)
                    .values(status=OperationState.FAILED, error=reason[:2000], updated_at=now),
                )
            _move_rows(
                s, [tx_id], IN_FLIGHT, OperationState.PENDING, now, tables=(OPS,), tx_id=None
            )


def _award_count(s: Session, tx_id: int) -> int:
    n = s.scalar(HOT.award_count, {"b_tx_id": tx_id})
    return int(n or 0)


def _set_txs(
    s: Session,
    tx_ids: Sequence[int],
    from_states: Sequence[str] | None,
    now: datetime,
    **values: Any,
) -> None:
    """Update the transactions ``tx_ids`` (those in ``from_states``; None: whatever their
    state) with ``values``."""
    where = [TXS.c.id.in_(list(tx_ids))]
    if from_states is not None:
        where.append(TXS.c.status.in_(list(from_states)))
    _rows(s, sa.update(TXS).where(*where).values(updated_at=now, **values))


def _move_rows(
    s: Session,
    tx_ids: Sequence[int],
    from_states: Sequence[str],
    to_state: str,
    now: datetime,
    *,
    tables: Sequence[sa.Table] = (AWARDS, OPS),
    **values: Any,
) -> None:
    """Move the awards and operations that ``tx_ids`` carry from ``from_states`` to ``to_state``
    (with ``values``): the one state change every transaction transition applies to its rows."""
    for table in tables:
        _rows(
            s,
            sa.update(table)
            .where(table.c.tx_id.in_(list(tx_ids)), table.c.status.in_(list(from_states)))
            .values(status=to_state, updated_at=now, **values),
        )
