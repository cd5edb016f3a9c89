"""Integrators: conversions into Seoul Mileage, deductions for listed uses and their refunds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import Ctx, Integrator, OperationReader
from api.errors import error_responses
from api.operation_schemas import ConversionIn, DeductionIn, OperationOut, RefundIn
from api.schemas import Hex32
from api.services import operations, refunds
from api.strict_query import StrictQueryRoute

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1",
    tags=["integrators"],
    responses=error_responses(400, 401, 403, 413, 422, 503),
)

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="unique per request; the same key with the same body returns the same "
        "operation, with another body 409",
        examples=["2f1c7a9e-conv-0001"],
    ),
]

_WRITE_RESPONSES = {
    200: {"model": OperationOut, "description": "replay of an earlier request with this key"},
    **error_responses(409),
}


async def _submitted(
    response: Response, submit: Callable[..., tuple[OperationOut, bool]], *args: Any
) -> OperationOut:
    """Run ``submit`` in the thread pool: 201 when it recorded a new operation, 200 when it
    replayed the one an earlier request with the same Idempotency-Key recorded."""
    out, created = await run_in_threadpool(submit, *args)
    response.status_code = 201 if created else 200
    return out


@router.post(
    "/conversions",
    response_model=OperationOut,
    status_code=201,
    responses=_WRITE_RESPONSES,
    summary="Convert mileage (by default into SEOUL)",
)
async def post_conversion(
    ctx: Ctx,
    caller: Integrator,
    body: ConversionIn,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> OperationOut:
    return await _submitted(
        response, operations.submit, ctx, caller, "conversion", body, idempotency_key
    )


@router.post(
    "/deductions",
    response_model=OperationOut,
    status_code=201,
    responses=_WRITE_RESPONSES,
    summary="Deduct mileage for a listed use",
)
async def post_deduction(
    ctx: Ctx,
    caller: Integrator,
    body: DeductionIn,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> OperationOut:
    return await _submitted(
        response, operations.submit, ctx, caller, "deduction", body, idempotency_key
    )


@router.get(
    "/conversions/{op_id}",
    response_model=OperationOut,
    responses=error_responses(404),
    summary="Follow a conversion to final (the integrator that asked, or an auditor)",
)
async def get_conversion(ctx: Ctx, caller: OperationReader, op_id: Hex32) -> OperationOut:
    return await run_in_threadpool(operations.get_operation, ctx, caller, "conversion", op_id)


@router.get(
    "/deductions/{op_id}",
    response_model=OperationOut,
    responses=error_responses(404),
    summary="Follow a deduction to final (the integrator that asked, or an auditor)",
)
async def get_deduction(ctx: Ctx, caller: OperationReader, op_id: Hex32) -> OperationOut:
    return await run_in_threadpool(operations.get_operation, ctx, caller, "deduction", op_id)


@router.post(
    "/deductions/{op_id}/refunds",
    response_model=OperationOut,
    status_code=201,
    responses={**_WRITE_RESPONSES, **error_responses(404)},
    summary="Refund all or part of a deduction (a cancelled purchase)",
    description="Scope `integrator`: only the API key that made the deduction refunds it (403 "
    "for another). The refund is credited to the deduction's account and program once mined "
    "(a REFUND entry referencing the deduction; the refunded mileage is valid for the "
    "program's validity from the refund). The deduction must be mined (409 "
    "`deduction_not_settled`); its refunds, queued or recorded, never total more than it "
    "deducted (409 `refund_exceeds_deduction`, with what is still refundable). Follow it with "
    "`GET /v1/deductions/{id}/refunds/{refund_id}`.",
)
async def post_refund(
    ctx: Ctx,
    caller: Integrator,
    op_id: Hex32,
    body: RefundIn,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> OperationOut:
    return await _submitted(
        response, refunds.submit_refund, ctx, caller, op_id, body, idempotency_key
    )


@router.get(
    "/deductions/{op_id}/refunds/{refund_id}",
    response_model=OperationOut,
    responses=error_responses(404),
    summary="Follow a refund to final (the integrator that asked, or an auditor)",
)
async def get_refund(
    ctx: Ctx, caller: OperationReader, op_id: Hex32, refund_id: Hex32
) -> OperationOut:
    return await run_in_threadpool(refunds.get_refund, ctx, caller, op_id, refund_id)
