"""The signed-in citizen's own wallet (``/v1/me/...``): OIDC access token, no API key.

Each read answers exactly what the ``/v1/accounts/{account}/...`` read answers for the citizen's
account (the same service functions, the same anchor). A citizen who is not a member of any
program yet gets the empty answer at the anchor, not an error.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.consent_schemas import ConsentIn, ConsentOut
from api.deps import Ctx, DbSession
from api.errors import error_responses
from api.history_params import HistoryQuery, history_answer
from api.history_schemas import ReadableHistoryOut
from api.oidc import Citizen, verifier_for
from api.schemas import BalancesOut, BikeAccrualOut, ExpiringOut, ProofOut
from api.services import proofs, wallet
from api.services.bike_accrual import bike_accrual
from api.services.consent import change_consent, consent_state
from api.strict_query import StrictQueryRoute

citizen_token = HTTPBearer(
    auto_error=False,
    scheme_name="CitizenToken",
    bearerFormat="JWT",
    description="the citizen's access token from the city's identity provider (OpenID Connect)",
)


def signed_in(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(citizen_token)],
) -> Citizen:
    """The citizen of the request's access token (401 ``invalid_token`` saying why if not)."""
    ctx = request.app.state.ctx
    verifier = verifier_for(request.app, ctx.settings, ctx.id_keys.account)
    header = f"Bearer {credentials.credentials}" if credentials is not None else None
    return verifier.citizen(header)


Me = Annotated[Citizen, Depends(signed_in)]

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1/me",
    tags=["me"],
    responses={
        **error_responses(422, 503),
        401: {
            **error_responses(401)[401],
            "description": "no access token, or an invalid one: WWW-Authenticate says why",
        },
    },
)


@router.get(
    "/balances",
    response_model=BalancesOut,
    summary="The signed-in citizen's balances (as /v1/accounts/{account}/balances)",
)
def get_my_balances(ctx: Ctx, me: Me) -> Response:
    body = json.dumps(wallet.balances(ctx, me.account), separators=(",", ":"))
    return Response(body, media_type="application/json")


@router.get(
    "/history",
    response_model=ReadableHistoryOut,
    summary="The signed-in citizen's history, labelled (as /v1/accounts/{account}/history)",
)
def get_my_history(
    ctx: Ctx, session: DbSession, me: Me, q: HistoryQuery, response: Response
) -> ReadableHistoryOut:
    return history_answer(ctx, session, me.account, q, response)


@router.get(
    "/expiring",
    response_model=ExpiringOut,
    summary="The signed-in citizen's mileage lapsing within N days (as .../expiring)",
)
def get_my_expiring(
    ctx: Ctx, session: DbSession, me: Me, days: Annotated[int, Query(ge=0, le=3650)] = 60
) -> ExpiringOut:
    return wallet.expiring_soon(ctx, session, me.account, days)


@router.get(
    "/bike-accrual",
    response_model=BikeAccrualOut,
    summary="The signed-in citizen's accrued, unpaid BIKE mileage (as .../bike-accrual)",
)
def get_my_bike_accrual(ctx: Ctx, session: DbSession, me: Me) -> BikeAccrualOut:
    return bike_accrual(ctx, session, me.account)


@router.get(
    "/proof",
    response_model=ProofOut,
    summary="EIP-1186 proof of the signed-in citizen's account (as .../proof)",
)
async def get_my_proof(ctx: Ctx, me: Me) -> ProofOut:
    return await run_in_threadpool(proofs.account_proof, ctx, me.account)


@router.get(
    "/consent",
    response_model=ConsentOut,
    summary="The signed-in citizen's donation consent (docs/rules.md §3), recorded and on chain",
)
def get_my_consent(ctx: Ctx, session: DbSession, me: Me) -> ConsentOut:
    return consent_state(ctx, session, me.account)


@router.put(
    "/consent",
    response_model=ConsentOut,
    summary="Give or withdraw the signed-in citizen's donation consent (queued for the chain)",
    responses=error_responses(400, 404, 413),
)
def put_my_consent(ctx: Ctx, session: DbSession, me: Me, body: ConsentIn) -> ConsentOut:
    return change_consent(ctx, session, me.account, body)
