"""Corrections of erroneous awards (``mileage correct``) and the reasons given for them.

`correct_award` reverses (part of) an award on chain with ``CORRECTOR_ROLE`` (``mileage deploy``
grants it to the admin key), sent through :func:`ledger.service.admin_tx.transact`. The reason
that `mileage correct --reason` gives is kept by the correction's transaction (the chain's
CORRECTION entry has no field for it) and shown with the entry in the audit trail
(`GET /v1/audit/accounts/{account}/trail`, ``note``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak
from hexbytes import HexBytes
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.client import EntryEvent, LedgerClient, hex32, to_bytes32
from bridge.errors import ContractRevert
from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Award, ChainTx, CorrectionReason, Entry
from ledger.domain.codes import EntryKind, Program
from ledger.service.admin_tx import ZERO32, AdminError, deployment_block, scan_logs, transact
from ledger.service.runtime import Runtime
from ledger.service.witness import live_lists

AWARD_CORRECTED_TOPIC = HexBytes(keccak(b"AwardCorrected(uint64,bytes32,uint8,uint96)"))
#: Award states in which the award's grant is on chain.
ON_CHAIN_STATES = ("mined", "final")


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


@dataclass(frozen=True)
class CorrectionResult:
    """A correction sent: ``amount`` of award ``award_no`` reversed on ``account``."""

    award_no: int
    award_id: str
    program: Program
    award_account: str  # the account the award was granted to
    account: str  # the account debited: the award's, or its merge successor
    award_amount: int
    corrected_before: int
    amount: int
    granted_at: int
    tx_hash: str


def _find_award(rt: Runtime, award: str) -> Award:
    text = award.strip()
    with rt.sessions() as s:
        if text.isdigit():
            row = s.get(Award, int(text))
        else:
            try:
                key = hex32(to_bytes32(text)).lower()
            except ValueError:
                raise AdminError(
                    f"{award!r} is neither an award number nor a 0x award id (32 bytes)"
                ) from None
            row = s.scalars(sa.select(Award).where(Award.award_id == key)).first()
        if row is None:
            raise AdminError(f"unknown award {award!r}: no such award in the database")
        s.expunge(row)
        return row


def _state(rt: Runtime, award_no: int) -> str:
    """The award's state (a signed award's is its transaction's: ledger.adapters.award_state)."""
    with rt.sessions() as s:
        return str(s.scalar(sa.select(award_state_of()).where(Award.award_no == award_no)))


def _grant_entry(rt: Runtime, award: Award) -> tuple[int, int]:
    """(timestamp, block) of the award's GRANT entry: from the entry index, else from the chain
    (the block of the award's transaction, else every block since the deployment)."""
    with rt.sessions() as s:
        hit = s.execute(
            sa.select(Entry.timestamp, Entry.block_number).where(
                Entry.account_id == award.account_id,
                Entry.kind == int(EntryKind.GRANT),
                Entry.ref == award.award_id,
            )
        ).first()
        tx_block = (
            s.scalar(sa.select(ChainTx.block_number).where(ChainTx.id == award.tx_id))
            if award.tx_id is not None
            else None
        )
    if hit is not None:
        return int(hit[0]), int(hit[1])
    client = rt.client
    account = to_bytes32(award.account_id)
    ref = to_bytes32(award.award_id)

    def grant(events: Iterable[EntryEvent]) -> EntryEvent | None:
        return next((e for e in events if e.kind == EntryKind.GRANT and e.ref == ref), None)

    found = grant(client.entry_logs(tx_block, tx_block, [account])) if tx_block else None
    if found is None:
        topics = [client.entry_topic, hex32(account)]
        logs = scan_logs(rt, topics, deployment_block(rt))
        found = grant(client.decode_entry_log(lg) for lg in logs)
    if found is None:
        raise AdminError(
            f"award {award.award_no} is recorded on chain but its GRANT entry (ref "
            f"{award.award_id}) was not found on account {award.account_id}"
        )
    return found.timestamp, found.block_number


def _corrected_before(rt: Runtime, program: int, award_no: int, from_block: int) -> int:
    """The amount of ``program``'s award ``award_no`` already reversed (its ``AwardCorrected``
    events; numbers are per program, so another program's corrections of the number are not)."""
    topics = [AWARD_CORRECTED_TOPIC, "0x" + award_no.to_bytes(32, "big").hex()]
    total = 0
    for lg in scan_logs(rt, topics, from_block):
        corrected_program, amount = abi_decode(["uint8", "uint96"], bytes(lg["data"]))
        if int(corrected_program) == program:
            total += int(amount)
    return total


def _live_account(client: LedgerClient, account: bytes) -> bytes:
    """``account``, or the account it was (transitively) merged into."""
    for _ in range(256):
        successor = client.account_state(account).successor
        if successor == ZERO32:
            return account
        account = successor
    raise AdminError(f"merge chain of {hex32(account)} does not end")


def correct_award(
    rt: Runtime,
    award: str,
    amount: int | None = None,
    reason: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> CorrectionResult:
    """Reverse ``amount`` (default: all that is left of it) of an erroneous award by its number
    or id: ``correct(account or successor, program, awardNo, awardId, grantedAt, amount, live)``
    with the admin key (it holds ``CORRECTOR_ROLE`` after ``mileage deploy``); ``live`` is the
    position's live checkpoint list, built from the indexed entries (`IndexBehind` while the
    index is behind the chain). The contract records the award id as the CORRECTION entry's
    ref; it has no field for ``reason``, which is kept by the transaction's hash
    (`keep_reason`) and shown with the entry in the audit trail."""
    row = _find_award(rt, award)
    state = _state(rt, row.award_no)
    label = f"award {row.award_no} ({row.award_id})"
    if state == "failed":
        raise AdminError(f"{label} failed and was never granted ({row.error}): nothing to correct")
    if state not in ON_CHAIN_STATES:
        raise AdminError(
            f"{label} is not on chain yet (status {state}): let the bridge mine it "
            "(`mileage bridge run`), or fix it in the outbox instead"
        )
    client = rt.client
    program = Program[row.program]
    if not client.is_award_recorded(int(program), row.award_no):
        raise AdminError(f"{label} is {state} in the database but not recorded on chain")
    granted_at, block = _grant_entry(rt, row)
    before = _corrected_before(rt, int(program), row.award_no, block)
    left = row.amount - before
    if left <= 0:
        raise AdminError(f"{label} was already corrected in full ({before:,} reversed)")
    amount = left if amount is None else amount
    if amount <= 0:
        raise AdminError("the amount to reverse must be positive")
    if amount > left:
        raise AdminError(
            f"{label}: {amount:,} is more than what is left of it to correct: {left:,} "
            f"(awarded {row.amount:,}, corrected before {before:,})"
        )
    target = _live_account(client, to_bytes32(row.account_id))
    if progress is not None and hex32(target) != row.account_id:
        progress(f"account {row.account_id} was merged into {hex32(target)}: correcting there")
    # the target position's live checkpoints, from the index (IndexBehind: nothing is sent)
    live = live_lists(client, rt.sessions, hex32(target), [int(program)])[int(program)]
    args = (target, int(program), row.award_no, to_bytes32(row.award_id), granted_at, amount, live)
    try:
        outcome = transact(rt, ("correct", args), f"correct {label} by {amount:,}")
    except ContractRevert as err:
        if err.error != "CorrectionExceedsRemaining":
            raise
        remaining = min(int(str(err.args_["remaining"])), left)
        hint = (
            f"; pass --amount {remaining} to reverse what remains"
            if remaining
            else "; nothing of it is left to reverse"
        )
        raise ContractRevert(err.error, err.args_, f"{err}{hint}") from err
    if reason and outcome.tx_hash:
        keep_reason(
            rt.sessions,
            tx_hash=outcome.tx_hash,
            award_no=row.award_no,
            award_id=row.award_id,
            amount=amount,
            reason=reason,
        )
    return CorrectionResult(
        award_no=row.award_no,
        award_id=row.award_id,
        program=program,
        award_account=row.account_id,
        account=hex32(target),
        award_amount=row.amount,
        corrected_before=before,
        amount=amount,
        granted_at=granted_at,
        tx_hash=outcome.tx_hash or "",
    )
