"""Helpers of the submitter's tests: a submitter on the deployed test ledger, and the outbox's
award rows and states."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.orm import Award
from ledger.settings import Settings


def make_submitter(
    deployed: Any, session_factory: Any, program: str = "CAR", **kw: Any
) -> Submitter:
    signer = signer_from_key(deployed.issuer_keys[program], f"issuer-{program}")
    settings = Settings(
        batch_size=kw.pop("batch_size", 50), confirmations=kw.pop("confirmations", 0)
    )
    return Submitter(session_factory, deployed.client, signer, settings, **kw)


def states(session_factory: Any) -> dict[str, int]:
    with session_factory() as s:
        return dict(
            s.execute(sa.select(Award.status, sa.func.count()).group_by(Award.status)).all()
        )


def award_rows(session_factory: Any) -> dict[int, Award]:
    with session_factory() as s:
        return {a.award_no: a for a in s.scalars(sa.select(Award))}
