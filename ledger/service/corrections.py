"""Correction reasons: what `mileage correct --reason` says, kept by the correction's
transaction (the chain's CORRECTION entry has no field for it) and shown with the entry in the
audit trail (`GET /v1/audit/accounts/{account}/trail`, ``note``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import CorrectionReason


def keep_reason(
    factory: sessionmaker[Session],
    *,
    tx_hash: str,
    award_no: int,
    award_id: str,
    amount: int,
    reason: str,
) -> None:
    """Store the reason of the correction sent in `tx_hash` (once; a repeat is a no-op)."""
    with factory() as session, session.begin():
        if session.get(CorrectionReason, tx_hash.lower()) is None:
            session.add(
                CorrectionReason(
                    tx_hash=tx_hash.lower(),
                    award_no=award_no,
                    award_id=award_id,
                    amount=amount,
                    reason=reason,
                )
            )


def reasons_by_tx(session: Session, tx_hashes: Iterable[str]) -> dict[str, str]:
    """{transaction hash: reason} of the corrections sent in `tx_hashes`."""
    wanted = {h.lower() for h in tx_hashes}
    if not wanted:
        return {}
    query = select(CorrectionReason.tx_hash, CorrectionReason.reason).where(
        CorrectionReason.tx_hash.in_(wanted)
    )
    return {tx: reason for tx, reason in session.execute(query)}
