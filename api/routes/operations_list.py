"""Settlement for integrators: ``GET /v1/operations`` (JSON, or CSV with ``Accept: text/csv``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from api.auth import Principal
from api.deps import Ctx, require
from api.errors import error_responses
from api.history_params import IsoDateTime
from api.operation_schemas import OperationOut
from api.schemas import EX_HASH, Hex32, Model
from api.services import operations_list
from api.services.operations_list import OperationsQuery
from api.strict_query import StrictQueryRoute
from ledger.adapters.orm import AWARD_STATES

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1",
    tags=["integrators"],
    responses=error_responses(401, 403, 422, 503),
)

OperationStatus = Literal[AWARD_STATES]  # type: ignore[valid-type]


class OperationsPageOut(Model):
    """A page of the caller's conversions, deductions and refunds, newest first."""

    operations: list[OperationOut]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null: done", examples=[None]
    )


_CSV_EXAMPLE = (
    "id,kind,status,account,program,to_program,amount,reason,reference,deduction,tx_hash,"
    "block_number,"
    f"error,created_at,updated_at\r\n{EX_HASH},deduction,final,0x3f3f...,SEOUL,,10000,"
    "GIFT_CERTIFICATE,0x00...2a,,0xab...,1234,,2026-01-01T00:00:00+00:00,2026-01-01T00:00:05+00:00"
)


@router.get(
    "/operations",
    response_model=OperationsPageOut,
    summary="The caller's conversions, deductions and refunds (settlement), newest first",
    description="Scope `integrator` (the operations its API key created) or `auditor` (all). "
    "Filters "
    "combine; pages follow `next_cursor` (JSON) or the `Next-Cursor` header (CSV). "
    "`Accept: text/csv` answers the same rows as CSV (text cells starting with = + - @ are "
    "prefixed with `'`).",
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
            },
            "headers": {
                "Next-Cursor": {
                    "description": "CSV only: the cursor of the next page (absent: done)",
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
async def list_operations(
    ctx: Ctx,
    caller: Annotated[Principal, Depends(require("integrator", "auditor"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    kind: Annotated[Literal["conversion", "deduction", "refund"] | None, Query()] = None,
    status: Annotated[OperationStatus | None, Query()] = None,
    reference: Annotated[
        Hex32 | None, Query(description="the caller's reference of a deduction or refund")
    ] = None,
    deduction: Annotated[
        Hex32 | None, Query(description="the refunds of this deduction (its id)")
    ] = None,
    since: Annotated[IsoDateTime | None, Query(description="created at or after (ISO 8601)")] = (
        None
    ),
    until: Annotated[IsoDateTime | None, Query(description="created before (ISO 8601)")] = None,
    accept: Annotated[str | None, Header(max_length=512, include_in_schema=False)] = None,
) -> Response:
    q = OperationsQuery(limit, cursor, kind, status, reference, since, until, deduction)

    def page() -> tuple[list[OperationOut], str | None]:
        with ctx.sessions() as session:
            return operations_list.list_operations(session, caller, q)

    rows, next_cursor = await run_in_threadpool(page)
    if accept is not None and "text/csv" in accept.lower():
        headers = {"Next-Cursor": next_cursor} if next_cursor else {}
        return Response(
            operations_list.operations_csv(rows), media_type="text/csv", headers=headers
        )
    body = OperationsPageOut(operations=rows, next_cursor=next_cursor)
    return Response(body.model_dump_json(), media_type="application/json")
