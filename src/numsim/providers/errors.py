"""ProviderError: every provider failure, in one shape, without secrets."""

from __future__ import annotations

from ..errors import NumsimError
from ..numbers import Provider


class ProviderError(NumsimError):
    """A provider request that failed.

    `retryable` says whether trying again can help (429, 5xx, a connection that never
    reached the provider). `outcome_unknown` is set when the request may have been
    acted on (a timeout after sending, a 5xx on call creation): never retry such a
    call blindly; look it up first (its callback, or `fetch_call`).

    When the Dialer raises it for a call whose outcome is unknown, `token`, `number`
    and `destination` say which call to follow up (`Dialer.settle(token)`).
    """

    token: str | None = None
    number: str | None = None
    destination: str | None = None

    def __init__(
        self,
        provider: Provider | str,
        code: str | int | None,
        message: str,
        *,
        retryable: bool = False,
        outcome_unknown: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = Provider(provider)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{self.provider.value} error {code}: {message}")


def first_line(message: object) -> str:
    """The first line of a provider's message, shortened: enough to act on."""
    text = str(message).strip()
    return text.splitlines()[0][:200] if text else "no message"


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (None if absent or a date we do not read)."""
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def retryable_status(status: int | None) -> bool:
    """HTTP statuses worth retrying: rate limits and server errors."""
    return status is not None and (status == 429 or status >= 500)


class InvalidCallback(NumsimError, ValueError):
    """A callback that did not verify or cannot be read; it changed nothing."""


class ReplayedCallback(InvalidCallback):
    """A webhook already handled (the same call after it ended, or a Plivo nonce seen
    before); it changed nothing."""
