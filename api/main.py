"""The HTTP API of the mileage ledger: ``create_app(settings)`` builds it.

Served by ``mileage run`` (uvicorn). Everything under ``/v1``; one error body
``{code, message, details}``; bearer API keys with scopes (see :mod:`api.auth`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from api.context import AppContext
from api.errors import install_error_handlers
from api.metrics import MetricsMiddleware
from ledger.settings import Settings, get_settings

DESCRIPTION = """
Seoul environment mileage ledger: balances and history for the Seoul Wallet app, conversions
and deductions for integrators, award submission for program operators, and audit trails with
self-verifying proofs for auditors.

Every read carries its **anchor**: chain id, contract address, block number and block hash of
the indexer's cursor. `GET /v1/accounts/{account}/proof` and the audit bundle let a client
holding a trusted block header verify an answer without trusting this server.

Authenticate with `Authorization: Bearer <API key>` (keys: `mileage apikeys create`).
Errors always have the body `{"code", "message", "details"}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    cursor_name: str | None = "entries",
    max_lag_blocks: int = 20,
) -> FastAPI:
    """Build the API for ``settings`` (default: the process settings)."""
    from api.routes import audit, console, health, integrators, operators, summary, wallet

    settings = settings or get_settings()
    ctx = AppContext.build(settings, engine)
    ctx.cursor_name = cursor_name
    ctx.max_lag_blocks = max_lag_blocks

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if engine is None:
            ctx.engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: api.routes.console, with assets served offline
        redoc_url=None,
        title="Seoul environment mileage ledger API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "wallet", "description": "reads of one account (wallet, auditor keys)"},
            {"name": "integrators", "description": "conversions and deductions (integrator)"},
            {"name": "operators", "description": "award batches (operator:<PROGRAM>)"},
            {"name": "audit", "description": "trails, totals and proof bundles (auditor)"},
            {"name": "health", "description": "liveness, readiness, metrics"},
        ],
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    for module in (wallet, integrators, operators, summary, audit, health, console):
        app.include_router(module.router)
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)

    return app


def app_factory() -> Any:
    """``uvicorn --factory api.main:app_factory``."""
    return create_app()
