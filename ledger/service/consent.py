"""Donation consent: its append-only history and the outbox operations that bring the chain's
flag (``setDonationConsent``, REGISTRAR key) in line with it.

Every consent or withdrawal is one :class:`~ledger.adapters.orm.ConsentChange` row (when, terms
version, channel, source); ``Account.donation_consent`` is the consent of the account's latest
recorded row (``id`` order: what the newest import said; ``at`` is the evidence's date, which a
file may give for a past consent). A change is queued for the chain as an ``operations`` row of
kind ``consent`` in the same database transaction that records it, so a crash loses nothing:
the bridge submitter (registrar lane) signs, stores and sends it like any operation. The
contract has no batch call for consent: one transaction per change.

At most one consent operation of an account waits at a time: a newer change fails the older
still-pending one (``error`` says it was superseded), so the chain ends at the latest consent
whatever order the submitter meets them in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.adapters.orm import Account, ConsentChange, Operation, utcnow
from ledger.domain.outbox import ConsentReason, OperationKind

#: ``operations.kind`` of a consent change; ``operations.program`` holds :data:`CONSENT_LANE`
#: (not a program: spendable sums never see it), ``reason`` ``consent`` or ``withdrawal``.
CONSENT_KIND = OperationKind.CONSENT.value
CONSENT_LANE = "CONSENT"
GIVEN, WITHDRAWN = ConsentReason.GIVEN.value, ConsentReason.WITHDRAWN.value
DEFAULT_TERMS = "unspecified"
DEFAULT_CHANNEL = "members-file"
#: Operations of a kind still on their way to the chain.
WAITING = ("pending", "signed", "sent")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def queue_consent(session: Session, account_id: str, consent: bool, source: str) -> Operation:
    """Queue ``setDonationConsent(account_id, consent)`` in ``session``'s transaction; an older
    consent operation of the account still ``pending`` is superseded (failed, with the reason)."""
    account_id = account_id.lower()
    now = utcnow()
    session.execute(
        sa.update(Operation)
        .where(
            Operation.kind == CONSENT_KIND,
            Operation.account_id == account_id,
            Operation.status == "pending",
        )
        .values(status="failed", error=f"superseded by a later consent change ({source})")
        .execution_options(synchronize_session=False)
    )
    seq = session.scalar(
        sa.select(sa.func.count())
        .select_from(Operation)
        .where(Operation.kind == CONSENT_KIND, Operation.account_id == account_id)
    )
    key = f"consent:{account_id}:{int(seq or 0)}"
    op = Operation(
        op_id="0x" + _digest(key),
        kind=CONSENT_KIND,
        idempotency_key=key,
        request_hash=_digest(f"{key}:{consent}:{source}"),
        account_id=account_id,
        program=CONSENT_LANE,
        amount=1,
        reason=GIVEN if consent else WITHDRAWN,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(op)
    return op


def record_consent(
    session: Session,
    account: Account,
    consent: bool,
    *,
    at: datetime,
    terms_version: str,
    channel: str,
    source: str,
    on_chain: bool,
) -> None:
    """Append a consent (or withdrawal) of ``account`` to its history and make it current;
    queue the chain update unless the chain already holds ``consent`` (``on_chain`` is what the
    chain holds, or will once the account's queued operations are sent)."""
    session.add(
        ConsentChange(
            account_id=account.account_id,
            consent=consent,
            at=at,
            terms_version=terms_version,
            channel=channel,
            source=source[:200],
        )
    )
    account.donation_consent = consent
    if on_chain != consent:
        queue_consent(session, account.account_id, consent, source)
