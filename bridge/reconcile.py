"""Reconciliation: the database index against the contract's own state at the cursor block.

For every account in scope (all accounts the database knows, or the ones asked for) it compares,
at the block the indexer's cursor names:

- ``account_heads`` (the indexer's projection) with ``accountState``: ``count``, ``head``;
- ``balances`` (projection) with ``balancesOf``, per program;
- the ``entries`` rows themselves: their number and last seq with the count, the last row's head
  with the head, their credits minus debits with the balances, and their hash chain replayed
  from the zero head (24 zero bytes, ``ledger.domain.hashchain``): an edited amount, reference or
  timestamp breaks the chain at that row. (The ``EntryRecorded`` log carries no head: the
  indexer computed each stored head, so the contract's head is what proves them.)
- every award the database holds as ``mined`` or ``final`` (mined by the cursor block) with its
  GRANT entry (award id, account, program, amount; ``bridge.award_audit``): an award the chain
  skipped (``AwardSkipped``: its number was squatted) has none, and is reported by number.

Every difference is a :class:`Discrepancy` (account, field, index value, chain value). The chain
is read with batched ``eth_call`` at one block, so the comparison is consistent even while new
blocks arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bridge.award_audit import unmatched_in_index
from bridge.errors import BridgeError
from bridge.indexer import CURSOR_NAME, signed_amount_sql
from bridge.raw_reader import PROGRAMS, ChainAccount, RawLedgerReader, norm_account
from ledger.adapters.orm import Account, AccountHead, Award, Balance, Entry, IndexCursor
from ledger.domain.codes import Program
from ledger.domain.hashchain import ZERO_HEAD, next_head
from ledger.domain.hashchain import Entry as ChainEntry

_IN_CHUNK = 500
_ZERO_HEX = "0x" + ZERO_HEAD.hex()


class ReconcileError(BridgeError):
    """Reconciliation could not run (nothing indexed yet, or the node lacks the cursor block's
    state); nothing was compared. Run the indexer (``mileage bridge run``) first."""


@dataclass(frozen=True)
class Discrepancy:
    """One difference between the index and the chain."""

    account: str
    field: str
    index_value: str
    chain_value: str

    def __str__(self) -> str:
        return f"{self.account}  {self.field}: index {self.index_value}, chain {self.chain_value}"


@dataclass
class ReconcileReport:
    """Outcome of :func:`reconcile`."""

    block: int
    accounts: int
    entries: int
    discrepancies: list[Discrepancy] = field(default_factory=list)
    awards_without_grant: int = 0

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.discrepancies)} DISCREPANCY(IES)"
        return (
            f"index vs chain at block {self.block}: {self.accounts} accounts, "
            f"{self.entries} indexed entries: {verdict} ({self.awards_without_grant} "
            "mined/final/conflict awards without their GRANT entry)"
        )


@dataclass
class _IndexedAccount:
    count: int | None = None  # account_heads
    head: str | None = None
    balances: dict[int, int] = field(default_factory=dict)  # balances projection
    rows: int = 0  # entries
    last_seq: int = 0
    last_head: str = _ZERO_HEX
    sums: dict[int, int] = field(default_factory=dict)
    chain_break: str | None = None


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]


def _scope(s: Session, accounts: Sequence[str] | None) -> list[str]:
    if accounts is not None:
        return sorted({norm_account(a) for a in accounts})
    found: set[str] = set()
    for col in (
        Entry.account_id,
        AccountHead.account_id,
        Balance.account_id,
        Account.account_id,
        Award.account_id,
    ):
        found.update(a.lower() for (a,) in s.execute(sa.select(col).distinct()))
    return sorted(found)


def _load(s: Session, part: Sequence[str]) -> dict[str, _IndexedAccount]:
    out = {a: _IndexedAccount() for a in part}
    for a, count, head in s.execute(
        sa.select(AccountHead.account_id, AccountHead.count, AccountHead.head).where(
            AccountHead.account_id.in_(part)
        )
    ):
        out[a].count, out[a].head = int(count), head
    for a, p, bal in s.execute(
        sa.select(Balance.account_id, Balance.program, Balance.balance).where(
            Balance.account_id.in_(part)
        )
    ):
        out[a].balances[int(p)] = int(bal)
    for a, p, total in s.execute(
        sa.select(Entry.account_id, Entry.program, sa.func.sum(signed_amount_sql()))
        .where(Entry.account_id.in_(part))
        .group_by(Entry.account_id, Entry.program)
    ):
        out[a].sums[int(p)] = int(total)
    # replay each account's stored trail (streamed in (account, seq) order)
    q = (
        sa.select(
            Entry.account_id,
            Entry.seq,
            Entry.kind,
            Entry.program,
            Entry.amount,
            Entry.reason,
            Entry.ref,
            Entry.timestamp,
            Entry.head,
        )
        .where(Entry.account_id.in_(part))
        .order_by(Entry.account_id, Entry.seq)
    )
    running: dict[str, bytes] = {}
    for a, seq, kind, program, amount, reason, ref, ts, head in s.execute(q):
        acc = out[a]
        acc.rows += 1
        acc.last_seq = int(seq)
        acc.last_head = head
        if acc.chain_break is not None:
            continue
        if seq != acc.rows:
            acc.chain_break = f"row {acc.rows} has seq {seq}"
            continue
        try:
            entry = ChainEntry(
                account=bytes.fromhex(a[2:]),
                seq=int(seq),
                kind=int(kind),
                program=int(program),
                amount=int(amount),
                reason=int(reason),
                ref=bytes.fromhex(ref[2:]),
                timestamp=int(ts),
            )
        except ValueError as exc:
            acc.chain_break = f"seq {seq}: {exc}"
            continue
        computed = next_head(running.get(a, ZERO_HEAD), entry)
        running[a] = computed
        if "0x" + computed.hex() != head.lower():
            acc.chain_break = f"seq {seq}: stored head is not keccak256(previous head, entry)"
    return out


def _compare(a: str, idx: _IndexedAccount, chain: ChainAccount) -> list[Discrepancy]:
    out: list[Discrepancy] = []

    def diff(fld: str, mine: object, theirs: object) -> None:
        if mine != theirs:
            out.append(Discrepancy(a, fld, str(mine), str(theirs)))

    chain_head = "0x" + chain.head.hex()
    diff("count", idx.count if idx.count is not None else 0, chain.count)
    diff("head", (idx.head or _ZERO_HEX).lower(), chain_head)
    diff("entries.count", idx.rows, chain.count)
    diff("entries.last_seq", idx.last_seq, chain.count)
    diff("entries.last_head", idx.last_head.lower(), chain_head)
    for p in PROGRAMS:
        name = Program(p).name
        diff(f"balance[{name}]", idx.balances.get(p, 0), chain.balances[p])
        diff(f"entries.balance[{name}]", idx.sums.get(p, 0), chain.balances[p])
    if idx.chain_break is not None:
        out.append(Discrepancy(a, "entries.hash_chain", idx.chain_break, "intact"))
    return out


def reconcile(
    session_factory: sessionmaker[Session],
    reader: RawLedgerReader,
    *,
    accounts: Sequence[str] | None = None,
    block: int | None = None,
    cursor_name: str = CURSOR_NAME,
) -> ReconcileReport:
    """Compare the index with the chain at ``block`` (default: the indexer's cursor block)."""
    with session_factory() as s:
        if block is None:
            cur = s.get(IndexCursor, cursor_name)
            if cur is None:
                raise ReconcileError(
                    "the index is empty (no cursor): run the indexer first (`mileage bridge run`)"
                )
            block = int(cur.block_number)
        scope = _scope(s, accounts)
        report = ReconcileReport(block=block, accounts=len(scope), entries=0)
        for part in _chunks(scope):
            indexed = _load(s, part)
            chain = reader.account_states(part, block)
            for a in part:
                report.entries += indexed[a].rows
                report.discrepancies.extend(_compare(a, indexed[a], chain[a]))
        only = None if accounts is None else set(scope)
        for u in unmatched_in_index(s, block, only):
            report.awards_without_grant += 1
            report.discrepancies.append(
                Discrepancy(
                    u.account,
                    f"award {u.award_no} ({u.program}, {u.award_id})",
                    f"{u.status}, {u.amount:,}",
                    u.found,
                )
            )
    return report
