"""The signed-in citizen's donation consent: read it, change it (``/v1/me/consent``).

A change is one ``consent_history`` row (channel ``wallet``) and one queued ``consent``
operation, in one transaction (:func:`ledger.service.consent.record_consent`); the bridge's
registrar lane sends it. Asking for the consent already recorded (same terms) changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.consent_schemas import ConsentIn, ConsentOut
from api.context import AppContext
from api.errors import NotFound
from ledger.adapters.orm import Account, ConsentChange, Operation, utcnow
from ledger.service.consent import CONSENT_KIND, DEFAULT_TERMS, WAITING, record_consent

WALLET = "wallet"


class NotAMember(NotFound):
    """The signed-in citizen has no account yet: there is nothing to consent for."""

    code = "not_a_member"


def _latest(session: Session, account: str) -> ConsentChange | None:
    return session.scalars(
        sa.select(ConsentChange)
        .where(ConsentChange.account_id == account)
        .order_by(ConsentChange.id.desc())
        .limit(1)
    ).first()


def consent_state(ctx: AppContext, session: Session, account: str) -> ConsentOut:
    """The consent of ``account`` as recorded, whether a change is pending, and the chain's
    flag; an account with no history (or none at all) consents to nothing."""
    last = _latest(session, account)
    pending = session.scalar(
        sa.select(sa.func.count())
        .select_from(Operation)
        .where(
            Operation.kind == CONSENT_KIND,
            Operation.account_id == account,
            Operation.status.in_(WAITING),
        )
    )
    on_chain = ctx.client.account_state(bytes.fromhex(account[2:])).donation
    return ConsentOut(
        account=account,
        consent=last.consent if last is not None else False,
        terms_version=last.terms_version if last is not None else None,
        at=last.at if last is not None else None,
        channel=last.channel if last is not None else None,
        pending=bool(pending),
        on_chain=bool(on_chain),
    )


def change_consent(ctx: AppContext, session: Session, account: str, body: ConsentIn) -> ConsentOut:
    """Record ``body`` for ``account`` and queue the chain update, in one transaction; the
    consent already recorded (same value and, when consenting, same terms) changes nothing."""
    with session.begin():
        acct = session.scalars(
            sa.select(Account).where(Account.account_id == account).with_for_update()
        ).first()
        if acct is None:
            raise NotAMember(
                "you are not a member of any mileage program yet: join one, then give consent"
            )
        last = _latest(session, account)
        current = last.consent if last is not None else acct.donation_consent
        same_terms = not body.consent or (
            last is not None and last.terms_version == body.terms_version
        )
        if not (current == body.consent and same_terms):
            terms = body.terms_version or (
                last.terms_version if last is not None else DEFAULT_TERMS
            )
            record_consent(
                session,
                acct,
                body.consent,
                at=utcnow(),
                terms_version=terms,
                channel=WALLET,
                source=f"{WALLET}:{account}",
                on_chain=acct.donation_consent,
            )
    return consent_state(ctx, session, account)
