"""TwilioAdapter: one Twilio account through the twilio SDK.

The SDK builds every request; `http_client` (a twilio.http.HttpClient) is the only
seam, which tests use to run offline. Callbacks are verified with the SDK's
RequestValidator (X-Twilio-Signature: HMAC-SHA1 of the URL and sorted form fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from ..numbers import Provider
from .base import OwnedNumber, ProviderAdapter, connect_failed, e164, header, is_url
from .errors import ProviderError, first_line, retryable_status
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
PAGE = 20  # a number calls one destination rarely: the newest 20 calls are plenty
CLOCK_SLACK = 60.0  # seconds our clock may run ahead of Twilio's


class TwilioAdapter(ProviderAdapter):
    """A Twilio account: `account` is its Account SID, credentials resolve to its auth
    token. Twilio queues calls above the account's CPS (1 by default): pacing here
    keeps that queue empty."""

    provider: ClassVar[Provider] = Provider.TWILIO
    default_cps: ClassVar[float] = 1.0

    def __init__(
        self,
        account: str,
        credentials: Any,
        *,
        http_client: HttpClient | None = None,
        **options: Any,
    ) -> None:
        super().__init__(account, credentials, **options)
        self._http = http_client or TwilioHttpClient(timeout=self.timeout)

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

        def create() -> str:
            call = self._client().calls.create(
                to=to,
                from_=from_,
                status_callback=status_callback_url,
                status_callback_event=EVENTS,
                status_callback_method="POST",
                **instruction,
                **options,
            )
            return str(call.sid)

        return self._placed(lambda: self._send(create, creates=True))

    def hangup(self, call_id: str) -> None:
        """Twilio ends a queued or ringing call with `canceled`, an answered one with
        `completed`; an ended call is left alone."""
        event = self.fetch_call(call_id)
        if event.terminal:
            return
        ending = "completed" if event.status is CallStatus.IN_PROGRESS else "canceled"
        self._send(lambda: self._client().calls(call_id).update(status=ending))

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
        signature = header(headers, "X-Twilio-Signature")
        if not signature:
            return False
        return bool(RequestValidator(self._secret()).validate(url, dict(params), signature))

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

    def verify_credentials(self) -> None:
        self._send(lambda: self._client().api.v2010.accounts(self.account).fetch())

    def _translate(self, error: Exception, creates: bool) -> ProviderError:
        if isinstance(error, TwilioRestException):
            code = error.code if error.code is not None else error.status
            why = PERMANENT.get(error.code or 0)
            message = f"HTTP {error.status}: {why or first_line(error.msg)}"
            unknown = creates and error.status >= 500
            return self._error(
                code,
                message + ("; the call may exist, look it up before retrying" if unknown else ""),
                status=error.status,
                retryable=retryable_status(error.status) and not unknown and why is None,
                outcome_unknown=unknown,
            )
        if isinstance(error, requests.RequestException):
            return self._network_error(error, creates, connect_failed(error))
        raise error


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ValueError(f"callback has no {name} field")
    return value
