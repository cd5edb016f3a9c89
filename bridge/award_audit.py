"""The database's awards against the chain's GRANT entries.

An award the database holds as ``mined`` or ``final`` must have its GRANT entry on chain: award
id as the ref, the award's account, program and amount. The chain cannot refuse what breaks this
(an award number squatted by a compromised issuer key of the same program makes the bridge's
award an ``AwardSkipped``, and nothing else happens on chain), so every audit checks it:

- :func:`unmatched_in_index` against the indexed entries (``mileage reconcile``, which proves the
  index equal to the chain; ``/v1/audit/programs``; ``mileage bridge status``): one SQL query
  (``NOT EXISTS`` on the entries), then the differing GRANT, if any, of the few awards found;
- :func:`unmatched_in_grants` against the GRANT entries the verifier replayed from the chain's
  events (``mileage audit verify``, ``bridge.audit_rules.AwardRules.grant_of``): one pass over
  the awards, a dictionary look-up each.

Only awards whose transaction was mined at or before the block checked are compared (a newer
one is not in the index or the replay yet).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bridge.audit_rules import Grant
from ledger.adapters.award_state import award_state
from ledger.adapters.orm import Award, ChainTx, Entry
from ledger.domain.codes import EntryKind, Program

#: Award states that claim the award's number on chain. "conflict" is the state the submitter
#: gives an award the chain skipped (branch h2); harmless in the IN list where it does not exist,
#: and such an award must keep being reported until it is resolved.
ON_CHAIN_STATES = ("mined", "final", "conflict")
_CHUNK = 5_000


@dataclass(frozen=True)
class UnmatchedAward:
    """A database award (``mined``/``final``) without a matching GRANT entry."""

    award_no: int
    award_id: str
    program: str
    account: str
    amount: int
    status: str
    found: str  # what the chain holds under the award id instead

    def __str__(self) -> str:
        return (
            f"award {self.award_no} ({self.award_id}, {self.program}, {self.amount:,} to "
            f"{self.account}) is {self.status} in the database but {self.found}"
        )


def _program_code() -> Any:
    """SQL: the award's program name as its code."""
    return sa.case({p.name: int(p) for p in Program}, value=Award.program, else_=-1)


def _on_chain_awards(max_block: int | None, accounts: Collection[str] | None) -> Any:
    q = (
        sa.select(
            Award.award_no,
            Award.award_id,
            Award.program,
            Award.account_id,
            Award.amount,
            award_state().label("status"),
        )
        .join(ChainTx, ChainTx.id == Award.tx_id, isouter=True)
        .where(award_state().in_(ON_CHAIN_STATES))
    )
    if max_block is not None:
        q = q.where(sa.or_(ChainTx.block_number.is_(None), ChainTx.block_number <= max_block))
    if accounts is not None:
        q = q.where(sa.func.lower(Award.account_id).in_(sorted(accounts)))
    return q


def _describe(grant: tuple[str, int, int] | None) -> str:
    if grant is None:
        return "the chain has no GRANT entry with its award id (skipped or never sent)"
    account, program, amount = grant
    name = Program(program).name if program in Program._value2member_map_ else str(program)
    return f"its GRANT entry differs: {amount:,} {name} to {account}"


def _matches(row: Any, grant: tuple[str, int, int] | None) -> bool:
    if grant is None:
        return False
    account, program, amount = grant
    code = Program[row.program] if row.program in Program.__members__ else -1
    return (
        account.lower() == str(row.account_id).lower()
        and program == code
        and amount == int(row.amount)
    )


def _unmatched(row: Any, grant: tuple[str, int, int] | None) -> UnmatchedAward:
    return UnmatchedAward(
        award_no=int(row.award_no),
        award_id=str(row.award_id),
        program=str(row.program),
        account=str(row.account_id),
        amount=int(row.amount),
        status=str(row.status),
        found=_describe(grant),
    )


def unmatched_in_index(
    session: Session, max_block: int | None, accounts: Collection[str] | None = None
) -> list[UnmatchedAward]:
    """The ``mined``/``final`` awards (mined at or before ``max_block``; of ``accounts`` only,
    lower-case ids, if given) without a GRANT entry in the index naming their award id,
    account, program and amount."""
    entry_ok = (
        sa.select(Entry.seq)
        .where(
            Entry.ref == Award.award_id,
            Entry.kind == int(EntryKind.GRANT),
            Entry.account_id == Award.account_id,
            Entry.program == _program_code(),
            Entry.amount == Award.amount,
        )
        .correlate(Award)
    )
    if max_block is not None:
        entry_ok = entry_ok.where(Entry.block_number <= max_block)
    rows = session.execute(
        _on_chain_awards(max_block, accounts).where(~entry_ok.exists()).order_by(Award.award_no)
    ).all()
    if not rows:
        return []
    found: dict[str, tuple[str, int, int]] = {}
    ids = [str(r.award_id) for r in rows]
    for i in range(0, len(ids), _CHUNK):
        for ref, account, program, amount in session.execute(
            sa.select(Entry.ref, Entry.account_id, Entry.program, Entry.amount).where(
                Entry.ref.in_(ids[i : i + _CHUNK]), Entry.kind == int(EntryKind.GRANT)
            )
        ):
            found[str(ref).lower()] = (str(account), int(program), int(amount))
    return [_unmatched(r, found.get(str(r.award_id).lower())) for r in rows]


def count_unmatched_in_index(session: Session, max_block: int | None) -> dict[str, int]:
    """How many ``mined``/``final`` awards per program have no matching GRANT entry indexed."""
    counts: dict[str, int] = {}
    for u in unmatched_in_index(session, max_block):
        counts[u.program] = counts.get(u.program, 0) + 1
    return counts


def unmatched_in_grants(
    rows: Iterable[Any], grant_of: Callable[[bytes], Grant | None]
) -> list[UnmatchedAward]:
    """The award ``rows`` (from :func:`load_on_chain_awards`) whose GRANT, looked up by award id
    with ``grant_of`` (replayed from the chain's events), is missing or differs."""
    out = []
    for r in rows:
        try:
            g = grant_of(bytes.fromhex(str(r.award_id)[2:]))
        except ValueError:
            g = None
        grant = None if g is None else ("0x" + g.account.hex(), g.program, g.amount)
        if not _matches(r, grant):
            out.append(_unmatched(r, grant))
    return out


def load_on_chain_awards(
    session: Session, max_block: int | None, accounts: Collection[str] | None = None
) -> list[Any]:
    """The ``mined``/``final`` award rows mined at or before ``max_block`` (of ``accounts``)."""
    return list(session.execute(_on_chain_awards(max_block, accounts).order_by(Award.award_no)))


def check_database_awards(
    database_url: str,
    address: str,
    chain_id: int,
    block: int,
    grant_of: Callable[[bytes], Grant | None],
    accounts: Collection[str] | None = None,
) -> list[UnmatchedAward] | None:
    """:func:`unmatched_in_grants` of the awards in the database at ``database_url``, if that
    database mirrors the ledger at ``address`` on ``chain_id`` (a ``deployments`` row); None if
    it does not (or cannot be read), so there is nothing to compare."""
    from ledger.adapters.db import make_engine
    from ledger.adapters.orm import Deployment

    engine = make_engine(database_url)
    try:
        with Session(engine) as s:
            try:
                mirrored = s.scalar(
                    sa.select(sa.func.count())
                    .select_from(Deployment)
                    .where(
                        Deployment.chain_id == chain_id,
                        sa.func.lower(Deployment.address) == address.lower(),
                    )
                )
            except sa.exc.SQLAlchemyError:
                return None
            if not mirrored:
                return None
            rows = load_on_chain_awards(s, block, accounts)
    finally:
        engine.dispose()
    return unmatched_in_grants(rows, grant_of)
