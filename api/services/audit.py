"""Audit reads: an account's trail against the chain, program totals, proof bundles.

The trail is recomputed from the database's entries and compared with the contract's own count
and head *at the anchor block*: a doctored row (changed amount, removed or reordered entry)
cannot reproduce the on-chain head, so the verdict turns ``broken``.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import ServiceUnavailable
from api.schemas import ChainState, ProgramAudit, ProgramsAuditOut, TrailEntry, TrailOut
from api.services.common import anchor_out, entry_fields
from api.services.proofs import fetch
from bridge.award_audit import count_unmatched_in_index
from bridge.client import to_bytes32
from bridge.proofs import BUNDLE_VERSION
from ledger.adapters.orm import Balance, Entry
from ledger.domain.codes import CREDIT_CODES, EntryKind, Program
from ledger.domain.errors import InvalidValue
from ledger.domain.hashchain import ZERO_HEAD, next_head
from ledger.domain.hashchain import Entry as ChainEntry
from ledger.service.corrections import reasons_by_tx


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _entries(session: Session, account: str, max_block: int) -> list[Entry]:
    return list(
        session.execute(
            sa.select(Entry)
            .where(Entry.account_id == account, Entry.block_number <= max_block)
            .order_by(Entry.seq)
        ).scalars()
    )


def trail(ctx: AppContext, account: str) -> TrailOut:
    with ctx.sessions() as s:
        anchor = ctx.current_anchor(s)
        rows = _entries(s, account, anchor.block_number)
        corrections = [r.tx_hash for r in rows if r.kind == int(EntryKind.CORRECTION)]
        notes = reasons_by_tx(s, corrections)
    try:
        state = ctx.client.account_state(to_bytes32(account), anchor.block_number)
    except Exception as exc:
        raise ServiceUnavailable(f"chain unreachable: {type(exc).__name__}") from exc
    acct = to_bytes32(account)
    head = ZERO_HEAD
    problems: list[str] = []
    out: list[TrailEntry] = []
    for i, row in enumerate(rows):
        prev = head
        if row.seq != i + 1:
            problems.append(f"entry {i + 1} has seq {row.seq}: entries missing or out of order")
        try:
            head = next_head(
                prev,
                ChainEntry(
                    account=acct,
                    seq=row.seq,
                    kind=row.kind,
                    program=row.program,
                    amount=row.amount,
                    reason=row.reason,
                    ref=to_bytes32(row.ref),
                    timestamp=row.timestamp,
                ),
            )
        except (InvalidValue, ValueError) as exc:
            problems.append(f"seq {row.seq}: malformed entry ({exc})")
        ok = _hex(head) == row.head.lower()
        if not ok:
            problems.append(
                f"seq {row.seq}: recomputed head {_hex(head)} differs from the indexed {row.head}"
            )
        out.append(
            TrailEntry(
                **entry_fields(row),
                prev_head=_hex(prev),
                recomputed_head=_hex(head),
                link_ok=ok,
                note=notes.get(row.tx_hash.lower()),
            )
        )
    if len(rows) != state.count:
        problems.append(f"{len(rows)} entries indexed but the contract counts {state.count}")
    if head != state.head:
        problems.append(
            f"recomputed head {_hex(head)} differs from the on-chain head {_hex(state.head)}"
        )
    return TrailOut(
        account=account,
        anchor=anchor_out(anchor),
        entries=out,
        onchain=ChainState(count=state.count, head=_hex(state.head)),
        recomputed=ChainState(count=len(rows), head=_hex(head)),
        verdict="ok" if not problems else "broken",
        problems=problems,
    )


def programs(ctx: AppContext, fiscal_year: int | None = None) -> ProgramsAuditOut:
    with ctx.sessions() as s:
        anchor = ctx.current_anchor(s)
        balances = dict(
            s.execute(
                sa.select(
                    Balance.program, sa.func.coalesce(sa.func.sum(Balance.balance), 0)
                ).group_by(Balance.program)
            ).all()
        )
        is_credit = Entry.kind.in_(sorted(CREDIT_CODES))
        sums = {
            int(r[0]): (int(r[1]), int(r[2]), int(r[3]))
            for r in s.execute(
                sa.select(
                    Entry.program,
                    sa.func.coalesce(sa.func.sum(sa.case((is_credit, Entry.amount), else_=0)), 0),
                    sa.func.coalesce(sa.func.sum(sa.case((is_credit, 0), else_=Entry.amount)), 0),
                    sa.func.coalesce(
                        sa.func.sum(
                            sa.case((Entry.kind == int(EntryKind.GRANT), Entry.amount), else_=0)
                        ),
                        0,
                    ),
                )
                .where(Entry.block_number <= anchor.block_number)
                .group_by(Entry.program)
            ).all()
        }
        unmatched = count_unmatched_in_index(s, anchor.block_number)
    client = ctx.client
    block = anchor.block_number
    try:
        year = fiscal_year or client.fiscal_year_of(int(time.time()), block)
        items = []
        for p in Program:
            totals = client.program_totals(int(p), block)
            granted, credited, debited = totals.granted, totals.credited, totals.debited
            budget, used = client.budget_of(int(p), year, block)
            ic, idb, ig = sums.get(int(p), (0, 0, 0))
            ib = int(balances.get(int(p), 0))
            missing = unmatched.get(p.name, 0)
            ok = (
                ib == ic - idb
                and ic == int(credited)
                and idb == int(debited)
                and ig == int(granted)
                and missing == 0
            )
            items.append(
                ProgramAudit(
                    program=p.name,
                    code=int(p),
                    indexed_balance=ib,
                    indexed_credited=ic,
                    indexed_debited=idb,
                    indexed_granted=ig,
                    onchain_granted=int(granted),
                    onchain_credited=int(credited),
                    onchain_debited=int(debited),
                    onchain_balance=int(credited) - int(debited),
                    fiscal_year=year,
                    budget=int(budget),
                    used=int(used),
                    budget_left=max(0, int(budget) - int(used)),
                    awards_without_grant=missing,
                    ok=ok,
                )
            )
    except ServiceUnavailable:
        raise
    except Exception as exc:
        raise ServiceUnavailable(f"chain unreachable: {type(exc).__name__}") from exc
    return ProgramsAuditOut(
        anchor=anchor_out(anchor),
        programs=items,
        verdict="ok" if all(i.ok for i in items) else "mismatch",
    )


def bundle(ctx: AppContext, account: str) -> dict[str, Any]:
    """A self-contained proof bundle (see ``bridge.proofs.verify_bundle``)."""
    with ctx.sessions() as s:
        anchor = ctx.current_anchor(s)
        rows = _entries(s, account, anchor.block_number)
    proof = fetch(ctx, account, anchor)
    return {
        "version": BUNDLE_VERSION,
        "chain_id": anchor.chain_id,
        "contract": anchor.contract,
        "account": account,
        "block_number": anchor.block_number,
        "block_hash": anchor.block_hash,
        "proof": proof,
        "entries": [
            {
                "seq": r.seq,
                "kind": r.kind,
                "program": r.program,
                "amount": r.amount,
                "reason": r.reason,
                "ref": r.ref,
                "timestamp": r.timestamp,
                "head": r.head,
                "block_number": r.block_number,
                "tx_hash": r.tx_hash,
                "log_index": r.log_index,
            }
            for r in rows
        ],
    }
