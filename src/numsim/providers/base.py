"""ProviderAdapter: the operations numsim needs from one provider account.

One adapter serves one account. Its credentials are a reference (`env:NAME`,
`file:NAME`) resolved when a request needs them, so a rotated secret is picked up
and no secret lives in the adapter. Every request goes through `_send`, which
paces it, turns the SDK's failures into `ProviderError` once, and retries only
what is safe to retry: a 429 (after its Retry-After), never a call creation whose
outcome is unknown.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import phonenumbers

from ..credentials import CredentialError, CredentialRef
from ..errors import InvalidNumberError
from ..numbers import Provider
from ..phone import normalize_e164
from ..validation import finite
from .catalog import registration
from .errors import ProviderError
from .events import CallEvent, InboundCall
from .pacing import PROCESS_PACER, Pacer

T = TypeVar("T")
# Numbers of one account asked about one by one (a small request each) where the
# provider can; more, and the account's list is read once instead (pages of 20-1000).
ONE_BY_ONE = 20


@dataclass(frozen=True, slots=True)
class OwnedNumber:
    """A number the account owns, and whether it can place voice calls."""

    e164: str
    voice: bool = True


class ProviderAdapter(ABC):
    """One provider account: place, hang up and look up calls; read its callbacks."""

    provider: ClassVar[Provider]
    # The provider's limit counts every API request (Exotel), not only new calls.
    paces_every_request: ClassVar[bool] = False
    # The provider signs its webhooks' bodies. Exotel does not: only the URL carries a
    # MAC (ours), so a webhook not bound to a call by its URL is confirmed by asking.
    signs_callbacks: ClassVar[bool] = True
    # find_calls() lists calls still queued at the provider. Where it does not (Plivo),
    # an empty answer about a call placed moments ago proves nothing yet.
    finds_queued_calls: ClassVar[bool] = True

    def __init__(
        self,
        account: str,
        credentials: str | CredentialRef,
        *,
        cps: float | None = None,
        pacer: Pacer | None = None,
        timeout: float = 10.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if not isinstance(account, str) or not account.strip():
            raise ValueError(f"{self.provider.value} account must be a non-empty id string")
        cps = self.default_cps() if cps is None else cps
        self.account = account.strip()
        self.credentials = CredentialRef.parse(credentials)
        self.cps = finite("cps (calls per second)", cps, inclusive=False)
        self.timeout = finite("timeout", timeout, inclusive=False)
        self.max_wait = finite("max_wait", max_wait)
        self._pacer = pacer or PROCESS_PACER
        self._sleep = sleep

    @classmethod
    def default_cps(cls) -> float:
        """The account's pacing unless `cps` is given: the provider's (providers.catalog)."""
        return registration(cls.provider).cps

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.account!r}, {str(self.credentials)!r})"

    # -- calls ---------------------------------------------------------------------

    @abstractmethod
    def place_call(
        self,
        from_: str,
        to: str,
        *,
        answer: str,
        status_callback_url: str,
        time_limit: int | None = None,
    ) -> str:
        """Place a call from our number `from_` to `to`; the provider's call id.

        `answer` is what to do when answered: a URL, or inline markup where the
        provider takes it (TwiML). Raises ProviderError; `outcome_unknown` on it
        means the call may exist: look it up before any retry."""

    @abstractmethod
    def hangup(self, call_id: str) -> None:
        """End a call (ringing or answered)."""

    @abstractmethod
    def fetch_call(self, call_id: str) -> CallEvent:
        """The call's status now, asked of the provider."""

    def find_calls(self, from_: str, to: str, since: float) -> list[CallEvent] | None:
        """Every call from `from_` to `to` created at or after `since` (epoch seconds),
        live ones included; None if this provider cannot tell (it lists ended calls
        only, or not by number). How a call whose placing had an unknown outcome is
        looked up before anyone dials again."""
        return None

    # -- callbacks -----------------------------------------------------------------

    @abstractmethod
    def verify_callback(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> bool:
        """True only if the provider sent this callback (a pure check, no request)."""

    def nonce(self, headers: Mapping[str, str]) -> str | None:
        """The once-only value the provider signed into this webhook (Plivo), to refuse
        it a second time; None where the provider sends none."""
        return None

    @abstractmethod
    def parse_callback(self, params: Mapping[str, str]) -> CallEvent:
        """A status callback's form fields as one CallEvent."""

    @abstractmethod
    def parse_inbound(self, params: Mapping[str, str]) -> InboundCall:
        """An inbound-call webhook: which of our numbers was called, by whom."""

    # -- account -------------------------------------------------------------------

    @abstractmethod
    def owned_numbers(self) -> list[OwnedNumber]:
        """Every number this account owns."""

    def lookup_number(self, e164: str) -> OwnedNumber | None:
        """The number as this account owns it (with its voice capability); None if the
        account does not own it. ProviderError if the provider cannot be asked."""
        number = normalize_e164(e164)
        return self.look_up([number])[number]

    def look_up(self, numbers: Iterable[str]) -> dict[str, OwnedNumber | None]:
        """lookup_number for each of `numbers` (E.164), the cheapest way: here from the
        account's list, read once; an adapter whose provider answers about one number
        asks about a few (up to ONE_BY_ONE) one by one."""
        owned = {n.e164: n for n in self.owned_numbers()}
        return {e164: owned.get(e164) for e164 in numbers}

    @abstractmethod
    def verify_credentials(self) -> None:
        """One cheap authenticated request; ProviderError if the account refuses it."""

    # -- plumbing shared by the adapters -------------------------------------------

    @property
    def pacing_key(self) -> str:
        return f"{self.provider.value}:{self.account}"

    def _secret(self) -> str:
        return self.credentials.resolve()

    def _send(self, request: Callable[[], T], *, creates: bool = False) -> T:
        """Run one provider request: paced, errors translated, 429s waited out."""
        waited = 0.0
        while True:
            if creates or self.paces_every_request or waited:  # after a 429: its wait
                delay = self._pacer.reserve(self.pacing_key, 1.0 / self.cps)
                if delay > self.max_wait:  # nothing sent: a lease would outlive its wait
                    raise self._error(
                        "pacing",
                        f"the account's pacing queue is {delay:.0f} s long, over "
                        f"max_wait={self.max_wait:g} s; nothing was sent",
                        retryable=True,
                        retry_after=delay,
                    )
                if delay > 0:
                    self._sleep(delay)
            try:
                return request()
            except ProviderError as error:
                failure = error
            except Exception as error:  # each SDK raises its own kinds
                failure = self._translate(error, creates)
            if failure.status != 429 or failure.outcome_unknown:
                raise failure
            wait = failure.retry_after if failure.retry_after is not None else 1.0 / self.cps
            if waited + wait > self.max_wait:
                raise failure
            waited += wait
            self._pacer.hold(self.pacing_key, wait)

    def _placed(self, place: Callable[[], object]) -> str:
        """Send a call creation and read the call id from the answer. Anything going wrong
        once the request may have gone out (an answer that cannot be read, say a proxy's
        HTML 200, or a success without a call id) is an unknown outcome: the call may
        exist, so never a blind retry."""
        try:
            call_id = place()
            if not isinstance(call_id, str) or not call_id.strip():
                raise ValueError("no call id in the answer")
            return call_id
        except (ProviderError, CredentialError):
            raise  # translated already, or refused before anything was sent
        except Exception as error:
            raise self._error(
                "outcome_unknown",
                f"the answer to a call creation could not be read ({type(error).__name__}); "
                "look the call up before retrying",
                outcome_unknown=True,
            ) from None

    @abstractmethod
    def _translate(self, error: Exception, creates: bool) -> ProviderError:
        """This SDK's exception as a ProviderError (never with a secret in it)."""

    def _error(self, code: str | int | None, message: str, **kwargs: Any) -> ProviderError:
        return ProviderError(self.provider, code, message, **kwargs)

    def _network_error(
        self, error: Exception, creates: bool, connect_failed: bool
    ) -> ProviderError:
        """A request that got no answer. Before the connection: safe to retry. After
        sending a call creation: the call may exist, its outcome is unknown."""
        kind = type(error).__name__
        if connect_failed:
            return self._error("network", f"could not connect ({kind})", retryable=True)
        if creates:
            return self._error(
                "outcome_unknown",
                f"no answer after sending the call ({kind}); look the call up before retrying",
                outcome_unknown=True,
            )
        return self._error("network", f"no answer from the provider ({kind})", retryable=True)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def e164(value: str, region: str | None = None) -> str:
    """A provider's number field as E.164: Plivo sends digits without '+', Exotel
    national numbers with a leading 0 (`region` says whose)."""
    value = value.strip()
    if region is not None and value.startswith("0"):
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            raise InvalidNumberError(f"invalid phone number {value!r}") from None
        value = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return normalize_e164(value if value.startswith("+") else f"+{value}")


def connect_failed(error: BaseException) -> bool:
    """Whether a requests error happened before anything was sent: the connection was
    never made (a name that does not resolve, a refused or timed-out connect)."""
    import requests
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    if isinstance(error, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:  # requests wraps urllib3's reason
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError | NameResolutionError):
            return True
        reason = getattr(cause, "reason", None)
        inner = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = reason if isinstance(reason, BaseException) else inner or cause.__cause__
    return False


def base_url_of(value: str | None) -> str | None:
    """An adapter's `base_url` option checked: an http(s) URL without a trailing slash."""
    if value is None:
        return None
    if not isinstance(value, str) or not is_url(value) or "?" in value or "#" in value:
        raise ValueError(
            f"base_url must be an http(s) URL such as https://host:port, got {value!r}"
        )
    return value.rstrip("/")


def is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))
