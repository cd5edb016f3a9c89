"""The one error body of the API and the exception handlers that produce it.

Every non-2xx answer is ``{"code": ..., "message": ..., "details": ...}``: ``code`` is a stable
machine-readable string, ``message`` a sentence for humans, ``details`` the values behind it
(for 422: the offending fields). Services raise :class:`ApiError` subclasses; routes never
build error responses themselves.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("api")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    code: str = Field(description="stable machine-readable error code", examples=["forbidden"])
    message: str = Field(description="what went wrong and what to do about it")
    details: dict[str, Any] = Field(default_factory=dict, description="the values behind the error")


class ApiError(Exception):
    """Root of the errors the API answers with; ``status`` is the HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class Unauthorized(ApiError):
    """No API key, or one that is unknown or revoked."""

    status = 401
    code = "unauthorized"


class PayloadTooLarge(ApiError):
    """The request body is larger than ``MILEAGE_API_MAX_BODY_BYTES``."""

    status = 413
    code = "payload_too_large"


class JsonTooDeep(ApiError):
    """The JSON body nests deeper than ``MILEAGE_API_MAX_JSON_DEPTH``."""

    status = 400
    code = "json_too_deep"


class Forbidden(ApiError):
    """The key lacks the scope, or reads another citizen's account."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """The resource does not exist."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request conflicts with the ledger's state (idempotency key reuse, balance)."""

    status = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was already used with another request body."""

    code = "idempotency_conflict"


class InsufficientBalance(Conflict):
    """The balance (indexed, minus pending debits) does not cover the amount."""

    code = "insufficient_balance"


class MileageLapsed(Conflict):
    """The balance would cover the amount, but part of it has lapsed (validity ended) at the
    chain's time: the contract expires that first, so it cannot be spent."""

    code = "mileage_lapsed"


class RefundExceedsDeduction(Conflict):
    """The refunds of a deduction (queued or recorded) would total more than it deducted."""

    code = "refund_exceeds_deduction"


class DeductionNotSettled(Conflict):
    """The deduction to refund is not on the chain (still on its way, or failed)."""

    code = "deduction_not_settled"


class RuleViolation(ApiError):
    """The request breaks a rule of PROGRAM_RULES §3 (route, reason, amount units)."""

    status = 422
    code = "rule_violation"


class RowsRejected(RuleViolation):
    """Rows of a batch were rejected; nothing of the batch was recorded (details.rejects)."""

    code = "rows_rejected"


class ServiceUnavailable(ApiError):
    """A dependency (database, chain, indexer) is not available."""

    status = 503
    code = "unavailable"


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body = {"code": code, "message": message, "details": details or {}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "unavailable",
}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception onto the one error body."""

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_name(e.get("loc", ())),
                "location": str(e.get("loc", ("",))[0]) if e.get("loc") else "",
                "message": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        fields = sorted({e["field"] for e in errors})
        return error_response(
            422,
            "validation_error",
            f"invalid request: check {', '.join(fields) or 'the body'}",
            {"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        from bridge.errors import ChainUnavailable

        if isinstance(exc, ChainUnavailable):
            return error_response(503, "chain_unavailable", str(exc))
        log.exception("unhandled error", path=req.url.path, error=type(exc).__name__)
        return error_response(500, "internal_error", "internal error; see the server log")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the error body for ``statuses``."""
    descriptions = {
        400: "the body could not be parsed (not JSON), or it nests deeper than "
        "MILEAGE_API_MAX_JSON_DEPTH (json_too_deep)",
        401: "no API key, or an unknown or revoked one",
        403: "the key lacks the scope or the account",
        404: "not found",
        409: "conflict with the ledger's state: idempotency_conflict, insufficient_balance, or "
        "mileage_lapsed (details: lapsed, lapsed_since, spendable)",
        413: "the body is larger than MILEAGE_API_MAX_BODY_BYTES (payload_too_large)",
        422: "invalid request (details name the fields) or a rule violation",
        503: "a dependency is unavailable",
    }
    return {s: {"model": ErrorBody, "description": descriptions.get(s, "error")} for s in statuses}
