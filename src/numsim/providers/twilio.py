"""TwilioAdapter: one Twilio account through the twilio SDK.

The SDK builds every request; `http_client` (a twilio.http.HttpClient) is the seam
tests use to run offline, and `base_url` sends the requests to another endpoint (a
staging API, or `numsim.testing.FakeTwilio`) instead of https://api.twilio.com.
Callbacks are verified with the SDK's RequestValidator (X-Twilio-Signature: HMAC-SHA1
of the URL and sorted form fields).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import (
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.rest import Client

from ..credentials import CredentialRef
from ..numbers import Provider
from .base import (
    ONE_BY_ONE,
    OwnedNumber,
    ProviderAdapter,
    base_url_of,
    connect_failed,
    e164,
    header,
    is_url,
)
from .errors import ProviderError, first_line, retry_after_seconds, retryable_status
from .events import CallEvent, CallStatus, InboundCall, duration_from, status_from

STATUSES = {
    "queued": CallStatus.QUEUED,
    "initiated": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "answered": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}
# Twilio error codes a retry cannot fix (the rest: judged by HTTP status).
PERMANENT = {
    20003: "authentication failed",
    20404: "not found",
    21210: "caller id not verified for this account",
    21211: "invalid 'To' number",
    21212: "invalid caller id",
    21214: "'To' number cannot be reached",
    21215: "geo permission: calls to this country are not enabled",
    21217: "invalid 'To' number",
    21219: "'To' number not verified (trial account)",
}
EVENTS = ["initiated", "ringing", "answered", "completed"]
API = "https://api.twilio.com"
PAGE = 20  # a number calls one destination rarely: the newest 20 calls are plenty
CLOCK_SLACK = 60.0  # seconds our clock may run ahead of Twilio's


class TwilioAdapter(ProviderAdapter):
    """A Twilio account: `account` is its Account SID, credentials resolve to its auth
    token; `shared_key` (a reference too) to its webhooks SharedKey secret, if it signs
    webhooks with one. Twilio queues calls above the account's CPS (1 by default): pacing here
    keeps that queue empty."""

    provider: ClassVar[Provider] = Provider.TWILIO

    def __init__(
        self,
        account: str,
        credentials: Any,
        *,
        http_client: HttpClient | None = None,
        base_url: str | None = None,
        shared_key: str | CredentialRef | None = None,
        **options: Any,
    ) -> None:
        super().__init__(account, credentials, **options)
        self.shared_key = None if shared_key is None else CredentialRef.parse(shared_key)
        inner = http_client or TwilioHttpClient(timeout=self.timeout)
        self._http = _Http(inner, base_url_of(base_url))

    def _client(self) -> Client:
        # Built per request: the auth token is read when needed, never kept.
        return Client(self.account, self._secret(), http_client=self._http)

    def place_call(
        self,
        from_: str,
        to: str,
        *,
        answer: str,
        status_callback_url: str,
        time_limit: int | None = None,
    ) -> str:
        instruction = {"url": answer} if is_url(answer) else {"twiml": answer}
        if not is_url(answer) and not answer.lstrip().startswith("<"):
            raise ValueError("Twilio answer must be a URL or TwiML (starting with '<')")
        options: dict[str, Any] = {} if time_limit is None else {"time_limit": time_limit}

        def create() -> object:
            call = self._client().calls.create(
                to=to,
                from_=from_,
                status_callback=status_callback_url,
                status_callback_event=EVENTS,
                status_callback_method="POST",
                **instruction,
                **options,
            )
            return call.sid

        return self._placed(lambda: self._send(create, creates=True))

    def hangup(self, call_id: str) -> None:
        """Twilio ends a queued or ringing call with `canceled`, an answered one with
        `completed`; an ended call is left alone. A call answered between the fetch
        and the cancel is not ended by it (Twilio's answer says so): then `completed`."""
        event = self.fetch_call(call_id)
        if event.terminal:
            return
        ending = "completed" if event.status is CallStatus.IN_PROGRESS else "canceled"
        call = self._send(lambda: self._client().calls(call_id).update(status=ending))
        now = STATUSES.get(str(call.status).lower())
        if ending == "canceled" and (now is None or not now.terminal):
            self._send(lambda: self._client().calls(call_id).update(status="completed"))

    def fetch_call(self, call_id: str) -> CallEvent:
        call = self._send(lambda: self._client().calls(call_id).fetch())
        status = status_from(STATUSES, str(call.status), "Twilio")
        return CallEvent(call_id, status, duration_from(call.duration), str(call.status))

    def find_calls(self, from_: str, to: str, since: float) -> list[CallEvent]:
        """Twilio lists queued, live and ended calls alike, newest first."""
        calls = self._send(lambda: self._client().calls.list(from_=from_, to=to, limit=PAGE))
        cutoff = datetime.fromtimestamp(since - CLOCK_SLACK, UTC)
        return [
            CallEvent(
                str(call.sid),
                status_from(STATUSES, str(call.status), "Twilio"),
                duration_from(call.duration),
                str(call.status),
            )
            for call in calls
            if call.date_created is None or call.date_created >= cutoff
        ]

    def verify_callback(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> bool:
        """Either scheme Twilio signs with: the auth token (HMAC-SHA1), or, when the
        request names its settings (X-Twilio-Webhooks-Signature-Settings), the account's
        SharedKey (`shared_key`) with the algorithm named there (HMAC-SHA256)."""
        signature = header(headers, "X-Twilio-Signature")
        if not signature:
            return False
        settings = header(headers, SIGNATURE_SETTINGS_HEADER)
        if settings is None:
            secret, algorithm = self._secret(), None
        elif self.shared_key is None:
            return False  # a SharedKey signature, and this account has none configured
        else:
            secret, algorithm = self.shared_key.resolve(), get_signature_algorithm(settings)
        validator = RequestValidator(secret)
        return bool(validator.validate(url, dict(params), signature, algorithm=algorithm))

    def parse_callback(self, params: Mapping[str, str]) -> CallEvent:
        call_id, raw = _required(params, "CallSid"), _required(params, "CallStatus")
        status = status_from(STATUSES, raw, "Twilio")
        return CallEvent(call_id, status, duration_from(params.get("CallDuration")), raw)

    def parse_inbound(self, params: Mapping[str, str]) -> InboundCall:
        return InboundCall(
            _required(params, "CallSid"), e164(_required(params, "To")), params.get("From", "")
        )

    def owned_numbers(self) -> list[OwnedNumber]:
        found = self._send(lambda: self._client().incoming_phone_numbers.list())
        return [
            OwnedNumber(e164(n.phone_number), bool((n.capabilities or {}).get("voice", False)))
            for n in found
        ]

    def look_up(self, numbers: Iterable[str]) -> dict[str, OwnedNumber | None]:
        """A few numbers: `IncomingPhoneNumbers.json?PhoneNumber=` each; else the list."""
        wanted = list(numbers)
        if len(wanted) > ONE_BY_ONE:
            return super().look_up(wanted)
        return {number: self._owned(number) for number in wanted}

    def _owned(self, number: str) -> OwnedNumber | None:
        found = self._send(
            lambda: self._client().incoming_phone_numbers.list(phone_number=number, limit=20)
        )
        for row in found:  # the filter matches parts of numbers too: keep the exact one
            if e164(row.phone_number) == number:
                return OwnedNumber(number, bool((row.capabilities or {}).get("voice", False)))
        return None

    def verify_credentials(self) -> None:
        self._send(lambda: self._client().api.v2010.accounts(self.account).fetch())

    def _translate(self, error: Exception, creates: bool) -> ProviderError:
        if isinstance(error, TwilioException):
            status, code, text = _details(error)
            if status is None:  # no answer to read: as a request that got none
                return self._network_error(error, creates, connect_failed=False)
            why = PERMANENT.get(code or 0)
            retry_after = retry_after_seconds(header(self._http.headers(), "Retry-After"))
            message = f"HTTP {status}: {why or first_line(text)}"
            unknown = creates and status >= 500
            return self._error(
                code if code is not None else status,
                message + ("; the call may exist, look it up before retrying" if unknown else ""),
                status=status,
                retryable=retryable_status(status) and not unknown and why is None,
                outcome_unknown=unknown,
                retry_after=retry_after if status == 429 else None,
            )
        if isinstance(error, requests.RequestException):
            return self._network_error(error, creates, connect_failed(error))
        raise error


def _details(error: TwilioException) -> tuple[int | None, int | None, str]:
    """(HTTP status, Twilio error code, message) of any of the SDK's exceptions: the
    legacy TwilioRestException, the RFC 9457 TwilioServiceException, or a bare
    TwilioException carrying the response (a list page that failed)."""
    if isinstance(error, TwilioRestException):
        return error.status, error.code, str(error.msg)
    if isinstance(error, TwilioServiceException):
        return error.status, error.code, str(error.detail or error.title)
    response = error.args[1] if len(error.args) > 1 else None
    if not isinstance(response, Response):
        return None, None, str(error.args[0] if error.args else "")
    try:
        body = json.loads(response.text)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("code")
    text = body.get("message") or body.get("detail") or body.get("title") or "error"
    return response.status_code, code if isinstance(code, int) else None, str(text)


class _Http(HttpClient):
    """The SDK's HTTP client, sending to `base_url` if given, and keeping each thread's
    last answer's headers: TwilioRestException keeps none, and a 429's Retry-After
    says how long to wait."""

    def __init__(self, inner: HttpClient, base_url: str | None) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=False)
        self._inner = inner
        self._base = base_url
        self._last = threading.local()

    def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: Any = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self._base and url.startswith(API):
            url = self._base + url[len(API) :]
        self._last.headers = {}
        response = self._inner.request(
            method, url, params, data, headers, auth, timeout, allow_redirects
        )
        self._last.headers = dict(response.headers or {})
        return response

    def headers(self) -> dict[str, str]:
        """The headers of this thread's last answer."""
        found: dict[str, str] = getattr(self._last, "headers", {})
        return found


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ValueError(f"callback has no {name} field")
    return value
