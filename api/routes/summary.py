"""Program operators: one summary for the console (budgets, rounds, queue, indexer, reconcile)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.deps import Caller, Ctx
from api.errors import error_responses
from api.services.summary import OperatorSummaryOut, operator_summary
from api.strict_query import StrictQueryRoute
from ledger.service.apikeys import OPERATOR_SCOPES

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1/operator",
    tags=["operators"],
    responses=error_responses(400, 401, 403, 422, 503),
)


@router.get(
    "/summary",
    response_model=OperatorSummaryOut,
    summary="Budgets vs issued, recent rounds, bridge queue, indexer lag, last reconcile "
    "(any operator:<PROGRAM> key)",
)
async def get_summary(
    ctx: Ctx,
    caller: Caller,
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    rounds: Annotated[int, Query(ge=1, le=100, description="recent rounds to list")] = 10,
) -> OperatorSummaryOut:
    caller.require(*OPERATOR_SCOPES)
    return await run_in_threadpool(operator_summary, ctx, fiscal_year, rounds)
