"""Helpers of the submitter's tests: a submitter on the deployed test ledger, and the outbox's
award rows and states."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.award_state import award_state, with_tx
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
    """How many awards are in each state (a signed award's is its transaction's)."""
    state = award_state()
    with session_factory() as s:
        return {
            str(k): int(n)
            for k, n in s.execute(with_tx(sa.select(state, sa.func.count())).group_by(state))
        }


def award_rows(session_factory: Any) -> dict[int, SimpleNamespace]:
    """Every award's columns by number, ``status`` its state (ledger.adapters.award_state)."""
    cols = [c for c in Award.__table__.c if c.name != "status"]
    with session_factory() as s:
        return {
            row.award_no: SimpleNamespace(**row._asdict())
            for row in s.execute(with_tx(sa.select(*cols, award_state().label("status"))))
        }
