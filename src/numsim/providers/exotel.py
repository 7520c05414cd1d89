"""ExotelAdapter: one Exotel account over its REST API (v1 Calls/connect) with httpx.

Exotel has no official Python SDK (the `exotel` package on the index is an
unofficial one from 2017), so this module builds the documented requests itself;
`transport` (an httpx transport) is the seam tests use to run offline.

Callbacks: Exotel does not sign them. Its documentation leaves two options: basic
auth in the callback URL, or a secret in it. numsim puts a MAC in it: `place_call`
appends `numsim_sig`, an HMAC-SHA256 of the callback URL keyed with the API token,
and `verify_callback` recomputes it. The token never leaves the process, and a
callback for another URL (or a forged one) does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from ..credentials import CredentialError
from ..numbers import Provider
from .base import OwnedNumber, ProviderAdapter, base_url_of, e164, is_url
from .errors import ProviderError, retry_after_seconds, retryable_status
from .events import CallEvent, CallStatus, InboundCall, duration_from, status_from

STATUSES = {
    "queued": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "answered": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}
SIGNATURE_FIELD = "numsim_sig"
REGIONS = {"api.exotel.com": "Singapore", "api.in.exotel.com": "Mumbai"}


class ExotelAdapter(ProviderAdapter):
    """An Exotel account: `account` is its Account SID, credentials resolve to
    "API_KEY:API_TOKEN"; `subdomain` is api.exotel.com (Singapore) or
    api.in.exotel.com (Mumbai); `base_url` (another endpoint: staging, a local fake)
    overrides it. Exotel allows 200 API requests a minute."""

    provider: ClassVar[Provider] = Provider.EXOTEL
    paces_every_request: ClassVar[bool] = True
    signs_callbacks: ClassVar[bool] = False

    def __init__(
        self,
        account: str,
        credentials: Any,
        *,
        subdomain: str = "api.exotel.com",
        region: str = "IN",
        transport: httpx.BaseTransport | None = None,
        base_url: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(account, credentials, **options)
        if subdomain not in REGIONS:
            raise ValueError(
                f"Exotel subdomain must be one of {sorted(REGIONS)}, got {subdomain!r}"
            )
        self.subdomain = subdomain
        self.region = region  # how Exotel's national numbers (0XXXXXXXXXX) are read
        self.base_url = base_url_of(base_url) or f"https://{subdomain}"
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout, transport=transport)

    # -- requests ------------------------------------------------------------------

    def _keys(self) -> tuple[str, str]:
        key, sep, token = self._secret().partition(":")
        if not sep or not key or not token:
            raise CredentialError(
                f"Exotel credentials {self.credentials} must hold 'API_KEY:API_TOKEN' "
                "(value hidden)"
            )
        return key, token

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        def send() -> Any:
            response = self._http.request(method, path, auth=self._keys(), **kwargs)
            if response.status_code >= 400:
                raise self._http_error(response, creates=method == "POST")
            return response.json()

        return self._send(send, creates=method == "POST")

    def place_call(
        self,
        from_: str,
        to: str,
        *,
        answer: str,
        status_callback_url: str,
        time_limit: int | None = None,
    ) -> str:
        """Exotel dials `From` first: the destination goes there, our ExoPhone is the
        CallerId, and `answer` is the flow (its URL, or its app id)."""
        flow = answer if is_url(answer) else self._flow_url(answer)
        form = {
            "From": to,
            "CallerId": from_,
            "Url": flow,
            "CallType": "trans",
            "StatusCallback": self.sign_url(status_callback_url),
            "StatusCallbackEvents[0]": "terminal",
            "StatusCallbackEvents[1]": "answered",
            "StatusCallbackContentType": "application/json",  # asked for, not defaulted
        }
        if time_limit is not None:
            form["TimeLimit"] = str(time_limit)
        path = f"/v1/Accounts/{self.account}/Calls/connect.json"
        return self._placed(lambda: _call(self._request("POST", path, data=form))["Sid"])

    def hangup(self, call_id: str) -> None:
        raise self._error(
            "unsupported", "Exotel's v1 call API cannot end a call; it ends at TimeLimit"
        )

    def fetch_call(self, call_id: str) -> CallEvent:
        call = _call(self._request("GET", f"/v1/Accounts/{self.account}/Calls/{call_id}.json"))
        raw = str(call.get("Status", ""))
        status = status_from(STATUSES, raw, "Exotel")
        return CallEvent(call_id, status, duration_from(call.get("Duration")), raw)

    def owned_numbers(self) -> list[OwnedNumber]:
        """Every page (Exotel answers 50 numbers a page and names the next one in
        `next_page_uri`); a page that adds no new number ends the walk."""
        owned: dict[str, OwnedNumber] = {}
        path: str | None = f"/v2_beta/Accounts/{self.account}/IncomingPhoneNumbers"
        while path:
            body = self._request("GET", path)
            rows = body.get("incoming_phone_numbers", []) if isinstance(body, dict) else body
            added = 0
            for row in rows:
                found = OwnedNumber(
                    e164(row["phone_number"], self.region),
                    bool((row.get("capabilities") or {}).get("voice", True)),
                )
                added += found.e164 not in owned
                owned.setdefault(found.e164, found)
            path = _next_page_uri(body) if added else None
        return list(owned.values())

    def verify_credentials(self) -> None:
        self._request("GET", f"/v1/Accounts/{self.account}/Calls.json", params={"PageSize": 1})

    # -- callbacks -----------------------------------------------------------------

    def sign_url(self, url: str) -> str:
        """`url` with our MAC appended, as Exotel will call it back."""
        base = _without_signature(url)
        query = [*parse_qsl(urlsplit(base).query, keep_blank_values=True)]
        query.append((SIGNATURE_FIELD, self._mac(base)))
        parts = urlsplit(base)
        return urlunsplit(parts._replace(query=urlencode(query)))

    def verify_callback(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> bool:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        at = next((i for i, (k, _) in enumerate(query) if k == SIGNATURE_FIELD), None)
        if at is None or not query[at][1]:
            return False
        # What follows our MAC, Exotel appended (a Passthru GET's call fields): unsigned.
        signed = urlunsplit(parts._replace(query=urlencode(query[:at])))
        expected = self._mac(signed).encode()
        return hmac.compare_digest(query[at][1].encode("utf-8", "replace"), expected)

    def parse_callback(self, params: Mapping[str, str]) -> CallEvent:
        # A status callback says Status; a Passthru at the end of a flow, CallStatus.
        call_id, raw = params.get("CallSid"), params.get("Status") or params.get("CallStatus")
        if not call_id or not raw:
            raise ValueError("callback needs CallSid and Status")
        status = status_from(STATUSES, raw, "Exotel")
        return CallEvent(call_id, status, duration_from(params.get("ConversationDuration")), raw)

    def parse_inbound(self, params: Mapping[str, str]) -> InboundCall:
        call_id, to = params.get("CallSid"), params.get("To") or params.get("CallTo")
        if not call_id or not to:
            raise ValueError("inbound webhook needs CallSid and To")
        return InboundCall(call_id, e164(to, self.region), params.get("From", ""))

    # -- details ---------------------------------------------------------------------

    def _flow_url(self, app_id: str) -> str:
        if not app_id.isdigit():
            raise ValueError("Exotel answer must be a flow URL or a flow's numeric app id")
        return f"http://my.exotel.com/{self.account}/exoml/start_voice/{app_id}"

    def _mac(self, url: str) -> str:
        _, token = self._keys()
        return hmac.new(token.encode(), url.encode(), hashlib.sha256).hexdigest()

    def _http_error(self, response: httpx.Response, *, creates: bool) -> ProviderError:
        status = response.status_code
        code: str | int = status
        message = response.reason_phrase or "error"
        try:
            detail = response.json().get("RestException", {})
            code = detail.get("Code") or status
            message = str(detail.get("Message") or message)[:200]
        except (ValueError, AttributeError):
            pass
        unknown = creates and status >= 500
        return self._error(
            code,
            f"HTTP {status}: {message}"
            + ("; the call may exist, look it up before retrying" if unknown else ""),
            status=status,
            retryable=retryable_status(status) and not unknown,
            outcome_unknown=unknown,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )

    def _translate(self, error: Exception, creates: bool) -> ProviderError:
        if isinstance(error, httpx.TransportError):
            connect_failed = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
            return self._network_error(error, creates, connect_failed)
        raise error


def _call(body: Any) -> dict[str, Any]:
    call = body.get("Call") if isinstance(body, dict) else None
    if not isinstance(call, dict) or "Sid" not in call:
        raise ValueError("Exotel answered without a Call object")
    return call


def _next_page_uri(body: Any) -> str | None:
    """The path of the next page of a list, where Exotel names one."""
    if not isinstance(body, dict):
        return None
    meta = body.get("metadata")
    following = body.get("next_page_uri") or (
        meta.get("next_page_uri") if isinstance(meta, dict) else None
    )
    if not isinstance(following, str) or not following.startswith("/"):
        return None  # a full URL elsewhere is not followed: the base URL decides the host
    return following


def _without_signature(url: str) -> str:
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != SIGNATURE_FIELD
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))
