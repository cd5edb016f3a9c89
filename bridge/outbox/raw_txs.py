"""The transaction log's per-batch work on a raw pooled connection (:mod:`bridge.outbox.fast`):
the same statements, in the same order, as :class:`bridge.outbox.txs.TxLog`'s SQLAlchemy path,
which calls these when :attr:`OutboxBase.raw` is set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bridge.errors import BridgeError
from bridge.outbox.fast import RawDb
from bridge.outbox.rows import ClaimedAward, LeaseLost, OutboxBase, StoredTx
from ledger.domain.outbox import OperationState, TxState


class RawTxLog(OutboxBase):
    """Claim and sign, the reads by state and the landing of a transaction, on :class:`RawDb`."""

    def _claim_and_sign_raw(
        self,
        raw: RawDb,
        now: datetime,
        sender: str,
        program: str,
        limit: int,
        sign_for: Callable[[list[ClaimedAward]], Callable[[int], tuple[bytes, str]]],
    ) -> tuple[StoredTx | None, list[ClaimedAward]]:
        """:meth:`claim_and_sign` on a raw connection (:mod:`bridge.outbox.fast`): the same
        statements in the same order, in one transaction."""
        at = raw.stamp(now)
        worker = self.worker_id
        try:
            with raw.begin() as cur:
                # the nonce first: a write, so SQLite holds the write lock from here on
                cur.execute(raw.sql["take_nonce"], {"sender": sender})
                got = cur.fetchone()
                if got is None:
                    raise BridgeError(f"no tracked nonce for {sender}: reconcile_nonce first")
                use = int(got[0]) - 1
                cur.execute(
                    raw.sql["claim_select_locked"],
                    {"program": program, "now": at, "worker": worker, "limit": limit},
                )
                awards = [
                    ClaimedAward(
                        no, award_id, account.lower(), int(amount), program, error is not None
                    )
                    for no, award_id, account, amount, error in cur.fetchall()
                ]
                if not awards or any(a.retry for a in awards):
                    raise _NotSigned(awards)
                raw_bytes, tx_hash = sign_for(awards)(use)
                raw_tx, tx_hash = "0x" + raw_bytes.hex(), tx_hash.lower()
                cur.execute(
                    raw.sql["insert_tx"],
                    {
                        "sender": sender,
                        "nonce": use,
                        "kind": "grant",
                        "program": program,
                        "raw_tx": raw_tx,
                        "tx_hash": tx_hash,
                        "now": at,
                    },
                )
                tx_id = int(cur.fetchone()[0])
                signed = {
                    "tx_id": tx_id,
                    "worker": worker,
                    "until": raw.stamp(now + self.lease),
                    "now": at,
                }
                if raw.postgres:  # the rows locked above (others may commit in between)
                    cur.execute(
                        raw.sql["sign_listed"], {**signed, "nos": [a.award_no for a in awards]}
                    )
                else:  # SQLite: under the write lock since take_nonce, one range (as CLAIM)
                    cur.execute(
                        raw.sql["sign_range"],
                        {
                            **signed,
                            "program": program,
                            "first": awards[0].award_no,
                            "last": awards[-1].award_no,
                        },
                    )
                if cur.rowcount != len(awards):  # cannot happen under the lock
                    raise LeaseLost(
                        f"{len(awards) - cur.rowcount} of {len(awards)} awards moved while signing"
                    )
        except _NotSigned as nothing:
            return None, nothing.awards
        stored = StoredTx(
            id=tx_id,
            sender=sender,
            nonce=use,
            kind="grant",
            program=program,
            raw_tx=raw_tx,
            tx_hash=tx_hash,
            status=TxState.SIGNED.value,
            block_number=None,
            block_hash=None,
            created_at=raw.stored_stamp(now),
        )
        return stored, awards

    def _raw_txs(self, query: str, sender: str) -> list[StoredTx]:
        """The transactions of ``sender`` a raw query (:data:`bridge.outbox.fast.SQL`) reads."""
        raw = self.raw
        assert raw is not None
        with raw.read() as cur:
            cur.execute(raw.sql[query], {"sender": sender})
            rows = cur.fetchall()
        return [
            StoredTx(
                id=r[0],
                sender=r[1],
                nonce=r[2],
                kind=r[3],
                program=r[4],
                raw_tx=r[5],
                tx_hash=r[6],
                status=r[7],
                block_number=r[8],
                block_hash=r[9],
                created_at=raw.read_stamp(r[10]),
            )
            for r in rows
        ]

    def _mark_mined_raw(
        self,
        raw: RawDb,
        tx_id: int,
        now: datetime,
        block_number: int,
        block_hash: str,
        gas_used: int,
        final: bool,
    ) -> int:
        """:meth:`mark_mined` without conflicts on a raw connection: the same statements."""
        at = raw.stamp(now)
        with raw.begin() as cur:
            cur.execute(
                raw.sql["tx_landed"],
                {
                    "tx_id": tx_id,
                    "now": at,
                    "status": TxState.FINAL.value if final else TxState.MINED.value,
                    "block_number": block_number,
                    "block_hash": block_hash.lower(),
                    "gas_used": gas_used,
                },
            )
            cur.execute(raw.sql["award_count"], {"tx_id": tx_id})
            n_awards = int(cur.fetchone()[0] or 0)
            moved = {
                "tx_id": tx_id,
                "now": at,
                "to_state": OperationState.FINAL.value if final else OperationState.MINED.value,
            }
            cur.execute(raw.sql["ops_landed"], moved)  # the awards follow the transaction
        return n_awards


class _NotSigned(Exception):
    """:meth:`TxLog.claim_and_sign` found nothing to sign at once (rolls its transaction back)."""

    def __init__(self, awards: list[ClaimedAward]) -> None:
        super().__init__("nothing signed")
        self.awards = awards
