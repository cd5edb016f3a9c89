"""The query of a history read, shared by ``/v1/accounts/{account}/history`` and
``/v1/me/history`` (one declaration of the filters, one answer: the same service functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Response
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from api.context import AppContext
from api.history_schemas import ReadableHistoryOut
from api.schemas import KindName, ProgramName
from api.services import history_labels, wallet

_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_only(value: object) -> object:
    """Refuse what the schema's ``date-time`` does not allow but pydantic would take (unix
    seconds such as ``6``, a date without a time)."""
    if isinstance(value, str) and not _ISO_DATE_TIME.match(value):
        raise ValueError("give an ISO 8601 date-time, e.g. 2026-03-01T00:00:00+09:00")
    return value


#: a query date-time: ISO 8601 only (with a zone, or UTC)
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]


@dataclass(frozen=True)
class HistoryParams:
    """Filters, page and language of a history read."""

    limit: int
    cursor: str | None
    program: str | None
    kind: str | None
    since: datetime | None
    until: datetime | None
    language: str


def history_params(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
    program: Annotated[ProgramName | None, Query()] = None,
    kind: Annotated[KindName | None, Query()] = None,
    since: Annotated[IsoDateTime | None, Query(description="entries at or after (ISO 8601)")] = (
        None
    ),
    until: Annotated[IsoDateTime | None, Query(description="entries before (ISO 8601)")] = None,
    accept_language: Annotated[
        str | None,
        Header(
            max_length=256,
            description="labels in Korean (default) or English, e.g. `en` or `ko-KR,en;q=0.5`",
            examples=["ko-KR,ko;q=0.9,en;q=0.8"],
        ),
    ] = None,
) -> HistoryParams:
    return HistoryParams(
        limit=limit,
        cursor=cursor,
        program=program.value if program else None,
        kind=kind.value if kind else None,
        since=since,
        until=until,
        language=history_labels.language(accept_language),
    )


HistoryQuery = Annotated[HistoryParams, Depends(history_params)]


def history_answer(
    ctx: AppContext, session: Session, account: str, q: HistoryParams, response: Response
) -> ReadableHistoryOut:
    """The labelled page of ``account``'s history (``Content-Language`` set on ``response``)."""
    page = wallet.history(
        ctx,
        session,
        account,
        limit=q.limit,
        cursor=q.cursor,
        program=q.program,
        kind=q.kind,
        since=q.since,
        until=q.until,
    )
    response.headers["Content-Language"] = q.language
    return history_labels.readable_history(session, page, q.language)
