"""Bodies of ``/v1/me/consent``: the citizen's donation consent (docs/rules.md §3)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from api.schemas import UtcDateTime

#: a terms version: 1..32 printable ASCII characters
TermsVersion = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[\x20-\x7e]+$")]


class ConsentIn(BaseModel):
    """A consent (``true``, with the terms version consented to) or a withdrawal (``false``)."""

    model_config = ConfigDict(extra="forbid")
    consent: StrictBool = Field(description="true: donate expiring mileage; false: withdraw")
    terms_version: TermsVersion | None = Field(
        default=None, description="the version of the terms consented to (required when true)"
    )

    @model_validator(mode="after")
    def _terms_when_consenting(self) -> ConsentIn:
        if self.consent and self.terms_version is None:
            raise ValueError("terms_version is required when consent is true: send the version")
        return self


class ConsentOut(BaseModel):
    """The citizen's donation consent: as recorded, and as the chain holds it."""

    account: str
    consent: bool = Field(description="the latest recorded consent (false: none or withdrawn)")
    terms_version: str | None = Field(description="terms of the latest recorded change")
    at: UtcDateTime | None = Field(description="when the latest change was given")
    channel: str | None = Field(description="how it was given (wallet, members-file, ...)")
    pending: bool = Field(description="a consent change is still on its way to the chain")
    on_chain: bool = Field(description="the chain's donation-consent flag (latest block)")
