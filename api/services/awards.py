"""Award batches from program operators, recorded by the feeds' one recording path.

The JSON items are rows of the program's feed format (``ledger.feeds.COLUMNS``) and go, as
parsed rows (no CSV in between), through ``ledger.service.feeds.record_awards``: the same cell
checks, registry check, rules, periods, uniqueness and BIKE caps as a feed file, and the same
all-or-nothing recording: if any item is rejected nothing is recorded and the answer is 422
listing every rejected item by index. Award ids are deterministic, so a batch sent twice
records nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from api.context import AppContext
from api.errors import RowsRejected, RuleViolation
from api.schemas import AwardResult, AwardsIn, AwardsOut
from ledger.adapters.orm import Award
from ledger.domain.codes import Program
from ledger.feeds import COLUMNS, ComputedAward, FeedOptions
from ledger.feeds.reader import RowItem, RowProblem
from ledger.service.feeds import record_awards


def _cell(value: Any) -> str | None:
    """The text of a JSON value as a feed cell would hold it (None: not a scalar)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def item_rows(items: list[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[RowItem]:
    """The items as feed rows numbered from 1 (item ``i`` is row ``i + 1``)."""
    for i, item in enumerate(items):
        problems = [
            f"items.{i}.{k}: unknown column; expected {', '.join(columns)}"
            for k in sorted(set(item) - set(columns))
        ]
        row: dict[str, str] = {}
        for column in columns:
            text = _cell(item.get(column))
            if text is None:
                problems.append(f"items.{i}.{column}: must be a string or a number")
                text = ""
            row[column] = text
        yield RowProblem(i + 1, "; ".join(problems)) if problems else (i + 1, row)


def submit_awards(ctx: AppContext, body: AwardsIn, period: str | None) -> AwardsOut:
    program = Program[body.program.value]
    columns = COLUMNS.get(program)
    if columns is None:
        raise RuleViolation(f"{program.name} is not awarded from feeds", {"program": program.name})
    outcomes: dict[int, tuple[ComputedAward, str]] = {}

    def outcome(award: ComputedAward, status: str) -> None:
        outcomes[award.line - 1] = (award, status)

    members = {str(item.get("member_id", "")) for item in body.items}
    report = record_awards(
        ctx.sessions,
        program,
        "items",
        lambda: item_rows(body.items, columns),
        source=f"api:{body.source}",
        options=FeedOptions(org_period=period, award_key=ctx.id_keys.award),
        members=members,
        outcome=outcome,
    )
    if report.rejects and report.rejects[0].line == 0:  # the batch as a whole
        raise RuleViolation(report.rejects[0].reason, {"program": program.name})
    if report.rejected:
        rejects = [
            {
                "index": r.line - 1,
                "field": f"items.{r.line - 1}",
                "member_id": _member(body.items[r.line - 1]),
                "message": r.reason,
            }
            for r in report.rejects
        ]
        raise RowsRejected(
            f"{report.rejected} of {len(body.items)} items rejected; nothing was recorded. "
            "Fix the items listed in details.rejects and send the batch again.",
            {"program": program.name, "rejects": rejects},
        )
    numbers = _award_numbers(ctx, [a for a, status in outcomes.values() if status != "zero"])
    results = [
        _result(i, award, status, numbers) for i, (award, status) in sorted(outcomes.items())
    ]
    return AwardsOut(
        program=program.name,
        recorded=report.recorded,
        already_recorded=report.already_recorded,
        zero=report.zero,
        rejected=0,
        results=results,
    )


def _award_numbers(ctx: AppContext, awards: list[ComputedAward]) -> dict[str, int]:
    ids = {"0x" + bytes(a.award_id).hex() for a in awards}
    if not ids:
        return {}
    with ctx.sessions() as s:
        rows = s.execute(sa.select(Award.award_id, Award.award_no).where(Award.award_id.in_(ids)))
        return {str(aid): int(no) for aid, no in rows}


def _result(i: int, a: ComputedAward, status: str, numbers: dict[str, int]) -> AwardResult:
    aid = "0x" + bytes(a.award_id).hex()
    return AwardResult(
        index=i,
        member_id=a.member_id,
        status=status,  # type: ignore[arg-type]
        award_id=aid,
        award_no=numbers.get(aid),
        amount=a.amount,
        tier=a.tier,
    )


def _member(item: dict[str, Any]) -> str | None:
    value = item.get("member_id")
    return str(value) if value is not None else None
