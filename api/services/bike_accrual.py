"""The accrued, unpaid BIKE mileage of an account (docs/rules.md §2.4), for
``/v1/accounts/{account}/bike-accrual`` and ``/v1/me/bike-accrual``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.context import AppContext
from api.schemas import AccruedMonthOut, BikeAccrualOut
from ledger.service.bike_accruals import accrued_unpaid


def bike_accrual(ctx: AppContext, session: Session, account: str) -> BikeAccrualOut:
    """The account's accrued, unpaid BIKE months with the payout period of each (the cadence
    is ``MILEAGE_BIKE_PAYOUT``)."""
    cadence = ctx.settings.bike_payout
    months = accrued_unpaid(session, account, cadence)
    return BikeAccrualOut(
        account=account,
        payout_cadence=cadence.value,
        accrued_unpaid=sum(m.amount for m in months),
        months=[
            AccruedMonthOut(month=m.month, amount=m.amount, payout_period=m.payout_period)
            for m in months
        ],
    )
