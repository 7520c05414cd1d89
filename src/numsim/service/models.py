"""Request and response bodies: a number has the CSV's columns, a lease the Lease's fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from ..allocator.allocator import MAX_LEASE_TTL
from ..bulk import COLUMNS
from ..numbers import NUMBER_FIELDS, SETTINGS, OutboundNumber, Setting, plain

MAX_WAIT = 30.0  # seconds an acquire may wait for a number over HTTP


class _Body(BaseModel):
    # A misspelt field is an error, not ignored; a value is of the type the document
    # says (`false` is not a wait of 0 s, nor "5" a count).
    model_config = ConfigDict(extra="forbid", strict=True)


# Each body's example works on the sample data (data/numbers.csv): /docs' "Try it out"
# pre-fills it, so it must be a request the service accepts as it stands. A new number
# joins no template: schemathesis replays the examples, and a pool it could fill would
# make its allocations wait (up to 30 s) for a busy number.
NEW_NUMBER = {
    "e164": "+14155550102",
    "provider": "twilio",
    "max_calls_per_hour": 30,
    "max_calls_per_day": 150,
    "stir_shaken_attested": True,
    "account": "AC00000000000000000000000000000001",
    "label": "SF third line",
}
SAMPLE_CALL = {"template": "us-appointments", "destination": "+12125550143"}


def _example(body: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [body]})


class _NumberIn(_Body):
    model_config = _example(NEW_NUMBER)  # in no template: (re)assign it with PUT
    templates: list[str] = []

    def number(self) -> OutboundNumber:
        return OutboundNumber(**self.model_dump(exclude={"templates"}))


class _Settings(_Body):
    model_config = _example({"max_calls_per_hour": 40, "label": "SF main line (capped)"})


# A number's HTTP fields are its settings (numbers.SETTINGS), typed by their kind.
_TYPES: dict[str, Any] = {
    "e164": str,
    "provider": str,
    "whole": int,
    "flag": bool,
    "text": str,
    "reference": str,
}


def _field(spec: Setting, *, patch: bool) -> tuple[Any, Any]:
    """A setting as a pydantic field: in a PATCH every one is optional (None: not given)."""
    kind = _TYPES[spec.kind]
    if patch or spec.optional:
        kind = kind | None
    default = None if patch else (... if spec.required else spec.default)
    return kind, Field(default, description=spec.help)


if TYPE_CHECKING:
    NumberIn = _NumberIn
    NumberSettings = _Body
else:
    NumberIn = create_model(
        "NumberIn",
        __base__=_NumberIn,
        __doc__="A number to add: the CSV's columns.",
        **{s.name: _field(s, patch=False) for s in SETTINGS},
    )
    NumberSettings = create_model(
        "NumberSettings",
        __base__=_Settings,
        __doc__="The settings of a number that PATCH may change (only those given).",
        **{s.name: _field(s, patch=True) for s in SETTINGS if s.kind != "e164"},
    )


class ErrorOut(BaseModel):
    """Every error answer: the message the CLI would print, and for some errors more
    fields (a refusal's `reason`, `reasons`, `retry_after`; a provider's `code`...)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(description="what is wrong, in the CLI's words")


# What each error status means, wherever a route answers it (with an ErrorOut body).
ERRORS = {
    400: "the body cannot be read (a malformed form, or a CSV file numsim refuses whole)",
    403: "the webhook's signature does not verify, or it is a replay: nothing changed",
    404: "no such number, template, lease or call",
    409: "conflicts with the registry (present already, in use), or refused until a release",
    413: "the body is over the size limit",
    415: "the body is neither CSV (text/csv) nor a JSON list (application/json)",
    422: "bad input: a parameter or the body, with what is wrong",
    429: "refused until time lifts it: Retry-After says when",
    502: "the provider failed, or a call's outcome is unknown (settle it with its token)",
    503: "Redis or the provider is unavailable: try again",
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's error answers for its OpenAPI `responses=`: each an ErrorOut body."""
    return {status: {"model": ErrorOut, "description": ERRORS[status]} for status in statuses}


def _rotation_kind(value: object) -> str | None:
    """Which form `new` takes: a number's E.164, or a new number's object."""
    if isinstance(value, str):
        return "e164"
    return "number" if isinstance(value, (dict, BaseModel)) else None


class Rotation(_Body):
    model_config = _example(
        {"new": {**NEW_NUMBER, "e164": "+14155550103", "label": "SF second line (new)"}}
    )
    new: Annotated[
        Annotated[str, Tag("e164")] | Annotated[NumberIn, Tag("number")],
        Discriminator(
            _rotation_kind,
            custom_error_type="new_number",
            custom_error_message="give a registered number's E.164 (a string) "
            "or a new number (an object with the CSV's columns)",
        ),
    ] = Field(description="a registered number, or a new number to add")


class Pool(_Body):
    model_config = _example({"numbers": ["+14155550100", "+14155550101", "+12125550142"]})
    numbers: list[str]


class AcquireIn(_Body):
    model_config = _example(SAMPLE_CALL)
    template: str
    destination: str
    call_id: str | None = None
    wait: float = Field(0.0, ge=0, le=MAX_WAIT, description="seconds to wait for a number")
    ttl: float | None = Field(
        None, gt=0, le=MAX_LEASE_TTL, description="lease lifetime in seconds (at most a day)"
    )


class CallIn(_Body):
    model_config = _example({**SAMPLE_CALL, "answer": "https://example.com/answer.xml"})
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
    model_config = _example({"call_id": "CA00000000000000000000000000000001", "ttl": 600})
    call_id: str = Field(min_length=1, max_length=128, description="the provider's call id")
    ttl: float | None = Field(None, gt=0, description="the lease's lifetime from now")


class RenewIn(_Body):
    model_config = _example({"ttl": 600})
    ttl: float | None = Field(None, gt=0, le=MAX_LEASE_TTL)


class RowErrorOut(BaseModel):
    line: int = Field(description="the CSV line (header = 1), or the JSON list position")
    column: str | None
    reason: str


class ImportReportOut(BaseModel):
    """What `numsim numbers import` prints, as fields and as its text."""

    ok: bool
    added: int
    updated: int
    skipped: int
    rejected: int
    errors: list[RowErrorOut] = Field(description="the first 1,000 bad rows, by line")
    warnings: list[str]
    report: str


class InboundOut(BaseModel):
    """An inbound call taken, for a client that asked for JSON."""

    number: str
    call_id: str | None


class FindingOut(BaseModel):
    number: str
    check: str = Field(description="credentials, provider or compliance")
    problem: str


class CheckOut(BaseModel):
    """The pre-launch check: `ok` when nothing was found."""

    ok: bool
    numbers: int = Field(description="numbers checked")
    regions: dict[str, list[str]] = Field(description="template -> the regions checked")
    findings: list[FindingOut]


class LeaseOut(BaseModel):
    lease_id: str
    number: str
    template: str | None
    destination: str | None
    call_id: str | None
    expires_at: float


def number_row(number: OutboundNumber, templates: list[str]) -> dict[str, Any]:
    """A number as the CSV's columns (credentials as their reference)."""
    values: dict[str, Any] = dict(zip(NUMBER_FIELDS, plain(number), strict=True))
    values["templates"] = templates
    return {name: values[name] for name in COLUMNS}
