"""PlivoAdapter: one Plivo account through the plivo SDK.

The SDK builds every request and sends it with a requests.Session; `transport` (a
requests adapter mounted on that session) is the seam tests use to run offline, and
`base_url` sends the requests to another endpoint instead of https://api.plivo.com.
A client is made per request: the SDK keeps per-client retry state
(`voice_retry_count`) that is neither reset after a failure nor thread-safe.

Never dial twice: on a 5xx the SDK resends a voice POST up to three times. For call
creation a response hook stops that at the first 5xx, whose outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import plivo
import requests
from plivo import exceptions as plivo_errors
from plivo.base import ListResponseObject
from plivo.resources.numbers import Number
from plivo.utils.signature_v3 import validate_v3_signature

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
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "timeout": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "cancel": CallStatus.CANCELED,
    "canceled": CallStatus.CANCELED,
}
# A CDR exists only for a call that ended; its call_state says how.
ENDED = {
    "answer": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no_answer": CallStatus.NO_ANSWER,
    "timeout": CallStatus.NO_ANSWER,
    "cancel": CallStatus.CANCELED,
}
PAGE = 20  # the API's largest page
CLOCK_SLACK = 60.0  # seconds our clock may run ahead of Plivo's
API = "https://api.plivo.com"


class _FirstServerError(Exception):
    """A 5xx answer to a call creation, raised before the SDK can resend it."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PlivoAdapter(ProviderAdapter):
    """A Plivo account: `account` is its Auth ID, credentials resolve to its auth token.
    Plivo allows 2 calls per second per account and answers 429 above it."""

    provider: ClassVar[Provider] = Provider.PLIVO
    finds_queued_calls: ClassVar[bool] = False

    def __init__(
        self,
        account: str,
        credentials: Any,
        *,
        transport: requests.adapters.BaseAdapter | None = None,
        base_url: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(account, credentials, **options)
        base = base_url_of(base_url)
        if base is not None:
            transport = _Rebased(base, transport or requests.adapters.HTTPAdapter())
        self._transport = transport

    def _client(self, on_response: Callable[[requests.Response], None]) -> plivo.RestClient:
        try:
            client = plivo.RestClient(self.account, self._secret(), timeout=self.timeout)
        except plivo_errors.AuthenticationError:
            raise ValueError(
                "Plivo account must be an Auth ID (MA... or SA..., 20 characters)"
            ) from None
        if self._transport is not None:
            client.session.mount("https://", self._transport)

        def hook(response: requests.Response, *args: object, **kwargs: object) -> None:
            on_response(response)

        client.session.hooks["response"].append(hook)
        return client

    def _run(self, operation: Callable[[plivo.RestClient], Any], *, creates: bool = False) -> Any:
        """One SDK operation; the last HTTP answer is kept for translating its error."""
        seen: list[requests.Response] = []

        def record(response: requests.Response) -> None:
            seen.append(response)
            if creates and response.status_code >= 500:
                raise _FirstServerError(response)

        def request() -> Any:
            seen.clear()
            try:
                return operation(self._client(record))
            except Exception as error:  # translated with the answer seen
                raise self._translate_with(error, creates, seen[-1] if seen else None) from None

        return self._send(request, creates=creates)

    def place_call(
        self,
        from_: str,
        to: str,
        *,
        answer: str,
        status_callback_url: str,
        time_limit: int | None = None,
    ) -> str:
        if not is_url(answer):
            raise ValueError("Plivo answer must be the URL of your Plivo XML (answer_url)")
        options: dict[str, Any] = {} if time_limit is None else {"time_limit": time_limit}

        def create(client: Any) -> Any:
            return client.calls.create(
                from_=from_.lstrip("+"),
                to_=to.lstrip("+"),
                answer_url=answer,
                ring_url=status_callback_url,
                hangup_url=status_callback_url,
                **options,
            )

        return self._placed(lambda: self._run(create, creates=True).request_uuid)

    def hangup(self, call_id: str) -> None:
        """Cancel the call's request if it has not been answered, else hang it up."""
        try:
            self._run(lambda client: client.calls.cancel(call_id))
        except ProviderError as error:
            if error.status != 404:
                raise
            self._run(lambda client: client.calls.delete(call_id))

    def fetch_call(self, call_id: str) -> CallEvent:
        """Ended (a CDR), live, or queued; ProviderError 404 if Plivo knows none."""
        for lookup in (_ended, _live, _queued):
            try:
                event: CallEvent = self._run(partial(lookup, call_id=call_id))
                return event
            except ProviderError as error:
                if error.status != 404:
                    raise
        raise self._error(404, f"no call or call request {call_id}", status=404)

    def verify_callback(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> bool:
        signature = header(headers, "X-Plivo-Signature-V3")
        nonce = header(headers, "X-Plivo-Signature-V3-Nonce")
        if not signature or not nonce:
            return False
        try:
            return bool(
                validate_v3_signature("POST", url, nonce, self._secret(), signature, dict(params))
            )
        except plivo_errors.ValidationError:  # a malformed URL or field: not Plivo's
            return False

    def nonce(self, headers: Mapping[str, str]) -> str | None:
        return header(headers, "X-Plivo-Signature-V3-Nonce")

    def parse_callback(self, params: Mapping[str, str]) -> CallEvent:
        """The call id is the RequestUUID `place_call` returned (an inbound call has
        only its CallUUID)."""
        call_uuid = params.get("CallUUID") or None
        call_id = params.get("RequestUUID") or call_uuid
        raw = params.get("CallStatus")
        if not call_id or not raw:
            raise ValueError("callback needs RequestUUID or CallUUID, and CallStatus")
        status = status_from(STATUSES, raw, "Plivo")
        return CallEvent(call_id, status, duration_from(params.get("Duration")), raw, call_uuid)

    def parse_inbound(self, params: Mapping[str, str]) -> InboundCall:
        call_id, to = params.get("CallUUID"), params.get("To")
        if not call_id or not to:
            raise ValueError("inbound webhook needs CallUUID and To")
        return InboundCall(call_id, e164(to), params.get("From", ""))

    def owned_numbers(self) -> list[OwnedNumber]:
        """Every page, following `meta.next` (offset or cursor, whichever the API gives);
        a page that adds no new number ends the walk, so an API that ignores the paging
        cannot loop it forever."""
        owned: dict[str, OwnedNumber] = {}
        params: dict[str, Any] = {"limit": PAGE, "offset": 0}
        while True:
            page = self._run(partial(_numbers_page, params=params))
            added = 0
            for number in page.objects:
                found = OwnedNumber(e164(number.number), bool(number.voice_enabled))
                added += found.e164 not in owned
                owned.setdefault(found.e164, found)
            following = _next_page(page, params)
            if following is None or not added:
                return list(owned.values())
            params = following

    def look_up(self, numbers: Iterable[str]) -> dict[str, OwnedNumber | None]:
        """A few numbers: `GET /Number/{number}/` each (404: not the account's); else
        the list."""
        wanted = list(numbers)
        if len(wanted) > ONE_BY_ONE:
            return super().look_up(wanted)
        return {number: self._owned(number) for number in wanted}

    def _owned(self, number: str) -> OwnedNumber | None:
        try:
            found = self._run(lambda client: client.numbers.get(number.lstrip("+")))
        except ProviderError as error:
            if error.status == 404:
                return None
            raise
        return OwnedNumber(e164(found.number), bool(found.voice_enabled))

    def find_calls(self, from_: str, to: str, since: float) -> list[CallEvent]:
        """Live calls from `from_` to `to` (`GET /Call/?status=live`), and the ones
        that ended since `since` (their CDRs). A call still queued is in neither, so
        reconcile asks only about calls older than a queue lasts."""
        numbers = {"from_number": from_.lstrip("+"), "to_number": to.lstrip("+")}
        live = self._run(lambda client: client.live_calls.list_ids(**numbers))
        ended_after = datetime.fromtimestamp(since - CLOCK_SLACK, UTC)
        cdrs = self._run(
            lambda client: client.calls.list(
                **numbers, end_time__gte=ended_after.strftime("%Y-%m-%d %H:%M:%S"), limit=PAGE
            )
        )
        events = [
            CallEvent(str(uuid), CallStatus.IN_PROGRESS, None, "live")
            for uuid in (getattr(live, "calls", None) or [])
        ]
        for cdr in cdrs.objects:
            raw = str(getattr(cdr, "call_state", "") or "")
            status = ENDED.get(raw.lower(), CallStatus.FAILED)
            call_id = str(getattr(cdr, "call_uuid", "") or "")
            events.append(
                CallEvent(call_id, status, duration_from(getattr(cdr, "call_duration", None)), raw)
            )
        return events

    def verify_credentials(self) -> None:
        self._run(lambda client: client.account.get())

    def _translate(self, error: Exception, creates: bool) -> ProviderError:
        return self._translate_with(error, creates, None)

    def _translate_with(
        self, error: Exception, creates: bool, response: requests.Response | None
    ) -> ProviderError:
        if isinstance(error, ProviderError):
            return error
        if isinstance(error, _FirstServerError):
            response = error.response
            return self._error(
                response.status_code,
                f"HTTP {response.status_code} on call creation; the call may exist, "
                "look it up before retrying",
                status=response.status_code,
                outcome_unknown=True,
            )
        if isinstance(error, requests.RequestException):
            return self._network_error(error, creates, connect_failed(error))
        if isinstance(error, plivo_errors.PlivoRestError):
            status = response.status_code if response is not None else None
            retry_after = (
                retry_after_seconds(response.headers.get("Retry-After"))
                if response is not None
                else None
            )
            permanent = isinstance(
                error,
                plivo_errors.AuthenticationError
                | plivo_errors.ValidationError
                | plivo_errors.ForbiddenError
                | plivo_errors.InvalidRequestError,
            )
            return self._error(
                status or type(error).__name__,
                f"{type(error).__name__}: {first_line(error)}",
                status=status,
                retryable=not permanent and retryable_status(status),
                retry_after=retry_after,
            )
        raise error


class _Rebased(requests.adapters.BaseAdapter):
    """Sends the SDK's requests for https://api.plivo.com to `base` instead."""

    def __init__(self, base: str, inner: requests.adapters.BaseAdapter) -> None:
        super().__init__()
        self._base = base
        self._inner = inner

    def send(  # type: ignore[override]  # passes requests' options through as given
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if request.url and request.url.startswith(API):
            request.url = self._base + request.url[len(API) :]
        return self._inner.send(request, **kwargs)

    def close(self) -> None:
        self._inner.close()


def _numbers_page(client: plivo.RestClient, params: dict[str, Any]) -> Any:
    return client.request(
        "GET", ("Number",), dict(params), response_type=ListResponseObject, objects_type=Number
    )


def _next_page(page: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    """The query of the page after `page`: from its `meta.next`, or, where the answer has
    no `next` at all, the next offset if the page was full."""
    meta = getattr(page, "meta", None)
    if meta is not None and "next" in meta:
        following = meta["next"]
        return dict(parse_qsl(urlsplit(following).query)) if following else None
    if len(page.objects) < PAGE:
        return None
    return {**params, "offset": int(params.get("offset", 0)) + PAGE}


def _ended(client: plivo.RestClient, call_id: str) -> CallEvent:
    cdr = client.calls.get(call_id)
    raw = str(getattr(cdr, "call_state", "") or "")
    # A CDR means the call ended: a state word we do not know still ended it.
    status = ENDED.get(raw.lower(), CallStatus.FAILED)
    return CallEvent(call_id, status, duration_from(getattr(cdr, "call_duration", None)), raw)


def _live(client: plivo.RestClient, call_id: str) -> CallEvent:
    call = client.calls.live_call_get(call_id)
    raw = str(getattr(call, "call_status", "") or "in-progress")
    return CallEvent(call_id, STATUSES.get(raw.lower(), CallStatus.IN_PROGRESS), None, raw)


def _queued(client: plivo.RestClient, call_id: str) -> CallEvent:
    client.calls.queued_call_get(call_id)
    return CallEvent(call_id, CallStatus.QUEUED, None, "queued")
