"""What a provider tells us about a call, in one vocabulary for every provider."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CallStatus(StrEnum):
    """A call's state, common to Twilio, Plivo and Exotel."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        """True once the call has ended: its channel can be given back."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED}
    | {CallStatus.CANCELED}
)


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One status report about one call (a callback, or a fetched status).

    `call_id` is the id `place_call` returned; `raw_status` is the provider's own word.
    """

    call_id: str
    status: CallStatus
    duration: float | None = None
    raw_status: str = ""
    provider_call_id: str | None = None  # Plivo: the CallUUID behind a RequestUUID

    @property
    def terminal(self) -> bool:
        return self.status.terminal


@dataclass(frozen=True, slots=True)
class InboundCall:
    """An inbound-call webhook: which of our numbers was called, by whom."""

    call_id: str
    number: str  # ours, E.164
    caller: str


def status_from(mapping: dict[str, CallStatus], raw: str, provider: str) -> CallStatus:
    """Map a provider's status word; an unknown word is an error, never a guess."""
    status = mapping.get(raw.strip().lower())
    if status is None:
        raise ValueError(f"unknown {provider} call status {raw!r}")
    return status


def duration_from(value: str | None) -> float | None:
    """A duration field in seconds, or None when absent or empty."""
    if value is None or not str(value).strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"call duration must be a number of seconds, got {value!r}") from None
