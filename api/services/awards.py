"""Award batches from program operators, validated by the feed code itself.

The JSON items are written as a CSV of the program's feed format (``ledger.feeds.COLUMNS``) and
run through ``ledger.feeds.iter_awards``: the same cell checks, registry check, rules,
uniqueness and BIKE caps as a feed file. Accepted awards become pending ``Award`` rows (the
bridge's outbox); award ids are deterministic, so a batch sent twice records nothing twice.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api.context import AppContext
from api.errors import RuleViolation
from api.schemas import AwardResult, AwardsIn, AwardsOut
from ledger.adapters.orm import Award, Member
from ledger.domain.codes import Program
from ledger.feeds import COLUMNS, ComputedAward, FeedOptions, Reject, iter_awards
from ledger.service.feeds import bike_earned_before, recorded_awards


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def submit_awards(ctx: AppContext, body: AwardsIn, period: str | None) -> AwardsOut:
    program = Program[body.program.value]
    columns = COLUMNS.get(program)
    if columns is None:
        raise RuleViolation(f"{program.name} is not awarded from feeds", {"program": program.name})
    results: dict[int, AwardResult] = {}
    good: list[int] = []
    for i, item in enumerate(body.items):
        extra = sorted(set(item) - set(columns))
        if extra:
            results[i] = AwardResult(
                index=i,
                member_id=_member(item),
                status="rejected",
                errors=[
                    {
                        "field": f"items.{i}.{k}",
                        "message": f"unknown column; expected {', '.join(columns)}",
                    }
                    for k in extra
                ],
            )
        else:
            good.append(i)
    computed: dict[int, ComputedAward] = {}
    if good:
        members = {str(body.items[i].get("member_id", "")) for i in good}
        with ctx.sessions() as s:
            known = set(
                s.scalars(
                    sa.select(Member.member_id).where(
                        Member.program == program.name, Member.member_id.in_(members)
                    )
                )
            )

        earned_before = bike_earned_before(ctx.sessions)
        with tempfile.TemporaryDirectory(prefix="mileage-awards-") as tmp:
            path = Path(tmp) / "batch.csv"
            with path.open("w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(columns)
                for i in good:
                    w.writerow([_cell(body.items[i].get(c)) for c in columns])
            options = FeedOptions(org_period=period, award_key=ctx.id_keys.award)
            for res in iter_awards(
                program, path, known.__contains__, options=options, bike_earned_before=earned_before
            ):
                if isinstance(res, Reject):
                    if res.line < 2:  # the batch as a whole (e.g. ECO_ORG without a period)
                        raise RuleViolation(res.reason, {"program": program.name})
                    i = good[res.line - 2]
                    results[i] = AwardResult(
                        index=i,
                        member_id=_member(body.items[i]),
                        status="rejected",
                        errors=[{"field": f"items.{i}", "message": res.reason}],
                    )
                else:
                    i = good[res.line - 2]
                    computed[i] = res
    _record(ctx, program, computed, results, body.source)
    ordered = [results[i] for i in sorted(results)]
    return AwardsOut(
        program=program.name,
        recorded=sum(r.status == "recorded" for r in ordered),
        already_recorded=sum(r.status == "already_recorded" for r in ordered),
        zero=sum(r.status == "zero" for r in ordered),
        rejected=sum(r.status == "rejected" for r in ordered),
        results=ordered,
    )


def _member(item: dict[str, Any]) -> str | None:
    value = item.get("member_id")
    return str(value) if value is not None else None


def _record(
    ctx: AppContext,
    program: Program,
    computed: dict[int, ComputedAward],
    results: dict[int, AwardResult],
    source: str,
) -> None:
    if not computed:
        return
    with ctx.sessions() as s, s.begin():
        ids = {i: "0x" + bytes(a.award_id).hex() for i, a in computed.items()}
        existing = recorded_awards(s, program.name, computed.values())
        accounts: dict[str, str] = {
            str(r[0]): str(r[1])
            for r in s.execute(
                sa.select(Member.member_id, Member.account_id).where(
                    Member.program == program.name,
                    Member.member_id.in_({a.member_id for a in computed.values()}),
                )
            )
        }
        for i, a in sorted(computed.items()):
            aid = ids[i]
            base: dict[str, Any] = {
                "index": i,
                "member_id": a.member_id,
                "award_id": aid,
                "amount": a.amount,
                "tier": a.tier,
            }
            if a.amount == 0:
                results[i] = AwardResult(status="zero", **base)
            elif (a.member_id, a.period) in existing:
                results[i] = AwardResult(
                    status="already_recorded", award_no=existing[a.member_id, a.period], **base
                )
            else:
                row = Award(
                    award_id=aid,
                    program=program.name,
                    member_id=a.member_id,
                    account_id=accounts[a.member_id],
                    period=a.period,
                    amount=a.amount,
                    tier=a.tier[:64],
                    source=f"api:{source}"[:256],
                    status="pending",
                )
                s.add(row)
                s.flush()
                existing[a.member_id, a.period] = row.award_no
                results[i] = AwardResult(status="recorded", award_no=row.award_no, **base)
