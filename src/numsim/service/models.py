"""Request and response bodies: a number has the CSV's columns, a lease the Lease's fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..allocator.allocator import MAX_LEASE_TTL
from ..bulk import COLUMNS
from ..numbers import OutboundNumber

MAX_WAIT = 30.0  # seconds an acquire may wait for a number over HTTP


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


class NumberSettings(_Body):
    """The settings of a number that PATCH may change (only those given)."""

    provider: str | None = None
    max_concurrent_calls: int | None = None
    max_calls_per_hour: int | None = None
    max_calls_per_day: int | None = None
    trai_registered: bool | None = None
    stir_shaken_attested: bool | None = None
    account: str | None = None
    credentials: str | None = Field(None, description="a reference: env:NAME or file:NAME")
    label: str | None = None


class NumberIn(_Body):
    """A number to add: the CSV's columns."""

    e164: str
    provider: str
    max_concurrent_calls: int = 1
    max_calls_per_hour: int | None = None
    max_calls_per_day: int | None = None
    templates: list[str] = []
    trai_registered: bool = False
    stir_shaken_attested: bool = False
    account: str | None = None
    credentials: str | None = Field(None, description="a reference: env:NAME or file:NAME")
    label: str | None = None

    def number(self) -> OutboundNumber:
        return OutboundNumber(**self.model_dump(exclude={"templates"}))


class Rotation(_Body):
    new: str | NumberIn = Field(description="a registered number, or a new number to add")


class Pool(_Body):
    numbers: list[str]


class AcquireIn(_Body):
    template: str
    destination: str
    call_id: str | None = None
    wait: float = Field(0.0, ge=0, le=MAX_WAIT, description="seconds to wait for a number")
    ttl: float | None = Field(
        None, gt=0, le=MAX_LEASE_TTL, description="lease lifetime in seconds (at most a day)"
    )


class CallIn(_Body):
    template: str
    destination: str
    answer: str = Field(
        description="what to do when answered: a URL the provider fetches (TwiML, Plivo "
        "XML, an Exotel flow), TwiML itself (Twilio), or an Exotel flow's app id",
        min_length=1,
        max_length=8192,
    )
    call_id: str | None = None
    time_limit: int | None = Field(None, gt=0, le=86_400, description="seconds")
    wait: float = Field(0.0, ge=0, le=MAX_WAIT, description="seconds to wait for a number")
    ttl: float | None = Field(None, gt=0, description="lease lifetime in seconds")


class AttachIn(_Body):
    call_id: str = Field(min_length=1, max_length=128, description="the provider's call id")
    ttl: float | None = Field(None, gt=0, description="the lease's lifetime from now")


class RenewIn(_Body):
    ttl: float | None = Field(None, gt=0, le=MAX_LEASE_TTL)


class LeaseOut(BaseModel):
    lease_id: str
    number: str
    template: str | None
    destination: str | None
    call_id: str | None
    expires_at: float


def number_row(number: OutboundNumber, templates: list[str]) -> dict[str, Any]:
    """A number as the CSV's columns (credentials as their reference)."""
    values: dict[str, Any] = {name: getattr(number, name, None) for name in COLUMNS}
    values["provider"] = number.provider.value
    values["credentials"] = None if number.credentials is None else str(number.credentials)
    values["templates"] = templates
    return values
