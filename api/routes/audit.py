"""Auditors: hash-chain trails, program totals against the chain, offline-verifiable bundles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.deps import AccountPath, Auditor, Ctx
from api.errors import error_responses
from api.schemas import BundleOut, ProgramsAuditOut, TrailOut
from api.services import audit
from api.strict_query import StrictQueryRoute

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1/audit",
    tags=["audit"],
    responses=error_responses(400, 401, 403, 422, 503),
)


@router.get(
    "/accounts/{account}/trail",
    response_model=TrailOut,
    summary="Every entry with its hash-chain link, against the on-chain head and count",
)
async def get_trail(ctx: Ctx, _caller: Auditor, account: AccountPath) -> TrailOut:
    return await run_in_threadpool(audit.trail, ctx, account.lower())


@router.get(
    "/programs",
    response_model=ProgramsAuditOut,
    summary="Per-program totals: indexed against on-chain, and budgets",
)
async def get_programs(
    ctx: Ctx,
    _caller: Auditor,
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
) -> ProgramsAuditOut:
    return await run_in_threadpool(audit.programs, ctx, fiscal_year)


@router.get(
    "/accounts/{account}/bundle",
    response_model=BundleOut,
    summary="Self-contained proof bundle (header, proofs, entries) for offline checks",
)
async def get_bundle(ctx: Ctx, _caller: Auditor, account: AccountPath) -> dict[str, Any]:
    return await run_in_threadpool(audit.bundle, ctx, account.lower())
