"""Program operators: award batches (validated like feeds, recorded once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.deps import Caller, Ctx
from api.errors import error_responses
from api.schemas import AwardsIn, AwardsOut
from api.services import awards
from api.strict_query import StrictQueryRoute

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1",
    tags=["operators"],
    responses=error_responses(400, 401, 403, 413, 422, 503),
)


@router.post(
    "/awards",
    response_model=AwardsOut,
    summary="Submit a batch of awards of one program (operator:<PROGRAM>)",
)
async def post_awards(
    ctx: Ctx,
    caller: Caller,
    body: AwardsIn,
    period: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{4}-[0-9]{2}\.\.[0-9]{4}-[0-9]{2}$",
            description="ECO_ORG round YYYY-MM..YYYY-MM, e.g. 2024-12..2025-03",
        ),
    ] = None,
) -> AwardsOut:
    caller.require(f"operator:{body.program.value}")
    return await run_in_threadpool(awards.submit_awards, ctx, body, period)
