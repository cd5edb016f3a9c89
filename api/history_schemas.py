"""Response models of the readable history (``/v1/accounts/{account}/history`` and
``/v1/me/history``): every field of :class:`api.schemas.EntryOut` plus the reader's fields."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas import AnchorOut, EntryOut, Model


class ReadableEntryOut(EntryOut):
    """An indexed entry with labels in the answer's language and what produced it."""

    program_label: str = Field(examples=["에코마일리지(가정)"])
    kind_label: str = Field(examples=["적립"])
    period: str | None = Field(
        default=None,
        description="the round or period of the award that produced a GRANT",
        examples=["2024-01..2024-06"],
    )
    tier: str | None = Field(
        default=None, description="the rule's tier code of the award", examples=["10_to_15pct"]
    )
    tier_label: str | None = Field(default=None, examples=["10–15 % 절감"])
    other_program: str | None = Field(
        default=None, description="the other program of a conversion", examples=["SEOUL"]
    )
    other_program_label: str | None = Field(default=None, examples=["서울마일리지"])
    reason_label: str | None = Field(
        default=None,
        description="the reason of a deduction (or expiry, merge; for a refund: the reason of "
        "the deduction it gives back)",
        examples=[None],
    )
    time_kst: str = Field(
        description="the block time in Korea time (ISO 8601, +09:00)",
        examples=["2026-03-01T09:00:00+09:00"],
    )
    description: str = Field(
        description="one line for the reader",
        examples=["에코마일리지(가정) · 적립 · 2024-01..2024-06 · 10–15 % 절감"],
    )


class ReadableHistoryOut(Model):
    """A page of an account's entries, newest first, labelled in ``language``."""

    account: str
    language: Literal["ko", "en"] = Field(description="from Accept-Language; Korean first")
    entries: list[ReadableEntryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: done")
    anchor: AnchorOut
