"""Wallet reads (Seoul Wallet app): balances, history, expiring mileage, storage proofs."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.context import AppContext
from api.deps import AccountPath, Ctx, DbSession, ReadableAccount
from api.errors import error_responses
from api.history_params import HistoryQuery, history_answer
from api.history_schemas import ReadableHistoryOut
from api.schemas import BalancesOut, ExpiringOut, ProofOut
from api.services import proofs, wallet
from api.strict_query import StrictQueryRoute

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1/accounts",
    tags=["wallet"],
    responses=error_responses(400, 401, 403, 422, 503),
)


@router.get(
    "/{account}/balances",
    response_model=BalancesOut,
    summary="Balances per program, total and Seoul Mileage, at the anchor block",
    openapi_extra={"security": [{"ApiKey": []}]},
)
async def get_balances(request: Request, account: AccountPath) -> Response:
    # The hot path (>= 2,000 req/s): no dependency injection (FastAPI resolves each dependency
    # per request), one short indexed query inline (cheaper than a thread-pool hop), a plain
    # dict serialised once (its shape is BalancesOut, checked by the schemathesis test).
    # Same checks as the ReadableAccount dependency.
    ctx: AppContext = request.app.state.ctx
    caller = getattr(request.state, "principal", None) or ctx.keys.resolve(
        request.headers.get("authorization")
    )
    acct = account.lower()
    caller.require_account(acct)
    body = json.dumps(wallet.balances(ctx, acct), separators=(",", ":"))
    return Response(body, media_type="application/json")


@router.get(
    "/{account}/history",
    response_model=ReadableHistoryOut,
    summary="Entries of the account, newest first (cursor pagination), labelled for the reader",
)
def get_history(
    ctx: Ctx, session: DbSession, account: ReadableAccount, q: HistoryQuery, response: Response
) -> ReadableHistoryOut:
    return history_answer(ctx, session, account, q, response)


@router.get(
    "/{account}/expiring",
    response_model=ExpiringOut,
    summary="Mileage that lapses within N days unless spent (FIFO)",
)
def get_expiring(
    ctx: Ctx,
    session: DbSession,
    account: ReadableAccount,
    days: Annotated[int, Query(ge=0, le=3650)] = 60,
) -> ExpiringOut:
    return wallet.expiring_soon(ctx, session, account, days)


@router.get(
    "/{account}/proof",
    response_model=ProofOut,
    summary="EIP-1186 proof of the account word (count, head) and balances at the anchor block",
)
async def get_proof(ctx: Ctx, account: ReadableAccount) -> ProofOut:
    return await run_in_threadpool(proofs.account_proof, ctx, account)
