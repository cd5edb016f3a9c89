"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Ctx
from api.errors import error_responses
from api.schemas import HealthOut
from api.services import health
from api.strict_query import StrictQueryRoute

router = APIRouter(tags=["health"], route_class=StrictQueryRoute)


@router.get("/healthz", response_model=HealthOut, summary="The process is up")
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut}},
    summary="Database and chain reachable, indexer lag under the bound",
)
async def readyz(ctx: Ctx) -> Response:
    out = await run_in_threadpool(health.readiness, ctx)
    return JSONResponse(out.model_dump(), status_code=200 if out.status == "ok" else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **error_responses()},
)
async def metrics(ctx: Ctx) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
