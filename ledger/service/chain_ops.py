"""Operator actions on the chain that are not bulk outbox work: account merges (the eco/car
account integration), donation-consent sync and the quarterly expiry run."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from bridge.client import hex32, to_bytes32
from bridge.signer import load_signer
from bridge.txs import call_contract
from ledger.adapters.orm import Account, Award, Balance, Member, Operation
from ledger.domain.codes import PROGRAM_CODES, Program
from ledger.domain.errors import LedgerError
from ledger.service.consent import CONSENT_KIND, WAITING, queue_consent
from ledger.service.runtime import Runtime
from ledger.service.witness import IndexBehind, live_lists

EXPIRE_CHUNK = 200
ZERO32 = b"\x00" * 32


class UnknownCitizen(LedgerError):
    """No account is registered for the citizen id; import the member first."""


@dataclass(frozen=True)
class MergeResult:
    from_account: str
    into_account: str
    sent: bool
    members_moved: int
    awards_moved: int


def merge_citizens(rt: Runtime, from_citizen: str, into_citizen: str) -> MergeResult:
    """Merge ``from_citizen``'s account into ``into_citizen``'s on-chain (MERGE_OUT/MERGE_IN
    entries), then point the memberships and pending awards of the old account at the new one.
    Idempotent: a merge already on chain is not sent again."""
    with rt.sessions() as s:
        accounts = {
            a.citizen_id: a.account_id
            for a in s.scalars(
                sa.select(Account).where(Account.citizen_id.in_([from_citizen, into_citizen]))
            )
        }
    for cid in (from_citizen, into_citizen):
        if cid not in accounts:
            raise UnknownCitizen(f"no account for citizen {cid!r}: import its membership first")
    src, dst = accounts[from_citizen], accounts[into_citizen]
    client = rt.client
    state = client.account_state(to_bytes32(src))
    sent = False
    if state.successor == ZERO32:
        registrar = load_signer(rt.settings, "registrar")
        # both accounts' live checkpoints of every program, from the index (IndexBehind if the
        # index is behind the chain: nothing is sent)
        from_live = _all_lists(rt, src)
        into_live = _all_lists(rt, dst)
        call_contract(
            rt.w3,
            registrar.account,
            client.function(
                "mergeAccounts", to_bytes32(src), to_bytes32(dst), from_live, into_live
            ),
            gas_price=rt.settings.gas_price,
            decode=client.decode_revert,
        )
        sent = True
    elif state.successor != to_bytes32(dst):
        raise LedgerError(
            f"account of {from_citizen!r} was already merged into "
            f"0x{state.successor.hex()}, not into {into_citizen!r}'s account"
        )
    with rt.sessions() as s, s.begin():
        s.execute(sa.update(Account).where(Account.account_id == src).values(merged_into=dst))
        members = s.execute(
            sa.update(Member).where(Member.account_id == src).values(account_id=dst)
        )
        awards = s.execute(
            sa.update(Award)
            .where(Award.account_id == src, Award.status == "pending")
            .values(account_id=dst)
        )
    return MergeResult(src, dst, sent, members.rowcount, awards.rowcount)  # type: ignore[attr-defined]


def _all_lists(rt: Runtime, account_id: str) -> list[list[int]]:
    """``account_id``'s live checkpoints of programs 1..7 (index program - 1), as
    ``mergeAccounts`` takes them."""
    lists = live_lists(rt.client, rt.sessions, account_id, PROGRAM_CODES)
    return [lists[p] for p in PROGRAM_CODES]


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class ExpiryResult:
    """What an expiry run did: accounts checked, due accounts (``nextExpiry`` passed) sent to
    ``expireBatch``, the amount expired, and the due accounts skipped because their live
    checkpoints could not be built from the index (account id → why): run again once the index
    has caught up."""

    checked: int = 0
    sent: int = 0
    expired: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def due(self) -> int:
        return self.sent + len(self.skipped)


def expire_program(
    rt: Runtime,
    program: Program,
    accounts: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExpiryResult:
    """Expire lapsed, unspent mileage of ``program`` (``expireBatch``, EXPIRER key) for the given
    accounts, or every account holding a balance of it in the index.

    An account is due once its ``nextExpiry`` (0: holds nothing) is at or before the latest
    block's time; its live checkpoints come from the indexed entries (`live_lists`, checked
    against the chain's root). A due account whose list the index cannot give yet (`IndexBehind`)
    is skipped and reported in the result; the others are sent."""
    client = rt.client
    code = int(program)
    if accounts is None:
        with rt.sessions() as s:
            accounts = list(
                s.scalars(
                    sa.select(Balance.account_id)
                    .where(Balance.program == code, Balance.balance > 0)
                    .order_by(Balance.account_id)
                )
            )
    expirer = load_signer(rt.settings, "expirer")
    validity = client.program_config(code).validity
    result = ExpiryResult(checked=len(accounts))
    for chunk in _chunks(list(accounts), EXPIRE_CHUNK):
        block = rt.w3.eth.get_block("latest")
        now, number = int(block["timestamp"]), int(block["number"])
        due: list[bytes] = []
        before = 0
        lives: list[list[int]] = []
        for account_id in chunk:
            acc = to_bytes32(account_id)
            # one read gives both whether it is due (`nextExpiry` = oldest + validity while it
            # holds anything) and the count and root its list is checked against
            state = client.position_of(acc, code, number)
            if state.balance == 0 or state.oldest + validity > now:
                continue
            try:
                live = live_lists(
                    client, rt.sessions, hex32(acc), [code], number, known={code: state}
                )[code]
            except IndexBehind as exc:
                result.skipped[hex32(acc)] = str(exc)
                continue
            due.append(acc)
            lives.append(live)
            before += state.balance
        if due:
            call_contract(
                rt.w3,
                expirer.account,
                client.function("expireBatch", code, due, lives),
                gas_price=rt.settings.gas_price,
                decode=client.decode_revert,
            )
            result.sent += len(due)
            result.expired += before - sum(client.balance_of(a, code) for a in due)
        if progress is not None:
            progress(len(chunk))
    return result


def sync_donation_consent(rt: Runtime) -> int:
    """Repair: queue ``setDonationConsent`` (ledger.service.consent) for every live account whose
    chain flag differs from its current consent and that has no consent operation on its way.
    The bridge (``mileage bridge run`` / ``mileage run``, registrar key) sends them. Returns how
    many were queued."""
    client = rt.client
    with rt.sessions() as s:
        waiting = set(
            s.scalars(
                sa.select(Operation.account_id).where(
                    Operation.kind == CONSENT_KIND, Operation.status.in_(WAITING)
                )
            )
        )
        rows = list(
            s.execute(
                sa.select(Account.account_id, Account.donation_consent).where(
                    Account.merged_into.is_(None)
                )
            )
        )
    stale = [
        (account_id, bool(consent))
        for account_id, consent in rows
        if account_id.lower() not in waiting
        and client.account_state(to_bytes32(account_id)).donation != bool(consent)
    ]
    with rt.sessions() as s, s.begin():
        for account_id, consent in stale:
            queue_consent(s, account_id, consent, "members sync-consent")
    return len(stale)
