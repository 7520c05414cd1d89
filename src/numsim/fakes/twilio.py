"""FakeTwilio: Twilio's REST API for calls, on loopback.

    with FakeTwilio.started("AC...", "auth-token", numbers=["+14155550100"]) as twilio:
        adapter = TwilioAdapter("AC...", "env:TWILIO_TOKEN", base_url=twilio.url)
        ...                                    # place calls: the real SDK, real HTTP
        twilio.finish(call_sid, "completed")   # the status callback, signed as Twilio does

It answers create, fetch, update and list calls, and the account's numbers (listed, or
filtered by `PhoneNumber`; `without_voice` ones are owned but not voice-enabled). Faults:
an error status (with headers, e.g. Retry-After; Twilio's body or the RFC 9457 one),
a call created but answered with an error, or a connection dropped without an answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from .server import Answer, FakeServer, Fault, Seen

ROUTE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>\w+)(?:/(?P<kind>Calls|IncomingPhoneNumbers)"
    r"(?:/(?P<sid>\w+))?)?\.json$"
)


@dataclass
class FakeCall:
    sid: str
    from_: str
    to: str
    status: str
    status_callback: str | None
    direction: str = "outbound-api"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration: int | None = None

    def to_json(self, account: str) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": account,
            "from": self.from_,
            "to": self.to,
            "status": self.status,
            "direction": self.direction,
            "date_created": format_datetime(self.created),
            "duration": None if self.duration is None else str(self.duration),
            "uri": f"/2010-04-01/Accounts/{account}/Calls/{self.sid}.json",
        }


class FakeTwilio(FakeServer):
    """A Twilio account's calls API on a free 127.0.0.1 port; `url` is its base URL."""

    def __init__(
        self,
        account: str,
        token: str,
        numbers: Iterable[str] = (),
        without_voice: Iterable[str] = (),
    ) -> None:
        super().__init__(account, token)
        self.without_voice = list(without_voice)
        self.numbers = [*numbers, *self.without_voice]
        self.calls: dict[str, FakeCall] = {}

    # -- scripting -------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        code: int | None = None,
        message: str = "fault injected",
        headers: dict[str, str] | None = None,
        create: bool = False,
        drop: bool = False,
        problem: bool = False,
    ) -> None:
        """The next request fails so: Twilio's error body (code, message, status), or
        with `problem` the RFC 9457 body newer Twilio APIs send (type, title, ...)."""
        body: dict[str, Any] = {"code": code or status * 100, "status": status}
        if problem:
            body |= {"type": f"https://www.twilio.com/docs/errors/{body['code']}"}
            body |= {"title": message, "detail": message}
        else:
            body["message"] = message
        self.fault(Fault(status, body, dict(headers or {}), create, drop))

    def finish(self, sid: str, status: str = "completed", duration: int = 0) -> int:
        """End the call and POST its signed status callback; the callback's HTTP status."""
        call = self.calls[sid]
        call.status, call.duration = status, duration
        return self.callback(sid)

    def callback(self, sid: str) -> int:
        """POST the call's status callback now, signed as Twilio signs it."""
        call = self.calls[sid]
        if not call.status_callback:
            raise ValueError(f"call {sid} has no StatusCallback")
        params = {
            "CallSid": sid,
            "AccountSid": self.account,
            "From": call.from_,
            "To": call.to,
            "CallStatus": call.status,
            "Direction": call.direction,
            "ApiVersion": "2010-04-01",
        }
        if call.duration is not None and call.status == "completed":
            params["CallDuration"] = str(call.duration)
        return self.post(call.status_callback, params)

    def inbound(self, url: str, to: str, from_: str) -> tuple[str, Any]:
        """A call to one of the account's numbers: POST its signed voice webhook to
        `url`; (its CallSid, the response). Set `calls[sid].status_callback` to have
        `finish()` post its status callback."""
        sid = "CA" + uuid.uuid4().hex
        self.calls[sid] = FakeCall(sid, from_, to, "ringing", None, direction="inbound")
        params = {"CallSid": sid, "AccountSid": self.account, "From": from_, "To": to}
        params |= {"CallStatus": "ringing", "Direction": "inbound"}
        return sid, self.send(url, params)

    def signature(self, url: str, params: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        return str(RequestValidator(self.token).compute_signature(url, params))

    def send(self, url: str, params: dict[str, str]) -> Any:
        import httpx

        headers = {"X-Twilio-Signature": self.signature(url, params)}
        return httpx.post(url, data=params, headers=headers, timeout=10)

    def post(self, url: str, params: dict[str, str]) -> int:
        return int(self.send(url, params).status_code)

    # -- answering -------------------------------------------------------------------

    def unauthorized(self) -> Answer:
        return 401, _error(20003, "Authenticate", 401), {}

    def route(self, seen: Seen) -> Answer:
        route = ROUTE.match(seen.path)
        if route is None or route["account"] != self.account:
            return 404, _error(20404, "The requested resource was not found", 404), {}
        kind, sid = route["kind"], route["sid"]
        if kind is None:
            return 200, {"sid": self.account, "status": "active"}, {}
        if kind == "IncomingPhoneNumbers":
            part = seen.query.get("PhoneNumber", "")
            rows = [
                {"phone_number": n, "capabilities": {"voice": n not in self.without_voice}}
                for n in self.numbers
                if part in n
            ]
            return 200, _page("incoming_phone_numbers", rows), {}
        if sid is None and seen.method == "POST":
            return 201, self._create(seen.body).to_json(self.account), {}
        if sid is None:
            return 200, _page("calls", self._listed(seen.query)), {}
        call = self.calls.get(sid)
        if call is None:
            return 404, _error(20404, f"call {sid} not found", 404), {}
        if seen.method == "POST" and "Status" in seen.body:
            call.status = seen.body["Status"]
        return 200, call.to_json(self.account), {}

    def _create(self, form: dict[str, Any]) -> FakeCall:
        sid = "CA" + uuid.uuid4().hex
        call = FakeCall(sid, form.get("From", ""), form.get("To", ""), "queued", None)
        call.status_callback = form.get("StatusCallback")
        self.calls[sid] = call
        return call

    def _listed(self, query: dict[str, str]) -> list[dict[str, Any]]:
        found = [
            call
            for call in list(self.calls.values())
            if query.get("From", call.from_) == call.from_ and query.get("To", call.to) == call.to
        ]
        found.sort(key=lambda call: call.created, reverse=True)
        return [call.to_json(self.account) for call in found]


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status}


def _page(key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: rows, "page": 0, "page_size": 50, "next_page_uri": None, "uri": ""}
