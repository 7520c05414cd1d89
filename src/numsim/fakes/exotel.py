"""FakeExotel: Exotel's v1 calls API (and the v2_beta numbers list), on loopback.

    with FakeExotel.started("acme1", "api-key", "api-token", numbers=["+918045000011"]) as exotel:
        adapter = ExotelAdapter("acme1", "env:EXOTEL_KEYS", base_url=exotel.url)
        ...
        exotel.finish(call_sid, "completed")  # the status callback, as the call asked for it

Exotel signs nothing: the callback goes to the URL the call gave (numsim's carries its
MAC), in the format the call asked for (`StatusCallbackContentType`: JSON, else a
multipart form, Exotel's default). Numbers are listed 50 a page, by `next_page_uri`
(`without_voice` ones are owned but not voice-enabled).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .server import Answer, FakeServer, Fault, Seen

CALLS = re.compile(
    r"^/v1/Accounts/(?P<account>\w+)/Calls(?:/(?P<connect>connect)|/(?P<sid>\w+))?\.json$"
)
NUMBERS = re.compile(r"^/v2_beta/Accounts/(?P<account>\w+)/IncomingPhoneNumbers$")
PAGE = 50


@dataclass
class FakeExotelCall:
    sid: str
    from_: str  # dialled first: the destination
    caller_id: str  # our ExoPhone
    status: str
    status_callback: str | None
    content_type: str  # of the status callback
    duration: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "Call": {
                "Sid": self.sid,
                "From": self.from_,
                "PhoneNumberSid": self.caller_id,
                "Status": self.status,
                "Duration": str(self.duration),
            }
        }


class FakeExotel(FakeServer):
    """An Exotel account's API on a free 127.0.0.1 port; `url` is its base URL."""

    def __init__(
        self,
        account: str,
        api_key: str,
        api_token: str,
        numbers: Iterable[str] = (),
        without_voice: Iterable[str] = (),
    ) -> None:
        super().__init__(account, api_token, user=api_key)
        self.without_voice = list(without_voice)
        self.numbers = [*numbers, *self.without_voice]
        self.calls: dict[str, FakeExotelCall] = {}

    def fail_next(
        self,
        status: int = 500,
        *,
        message: str = "fault injected",
        headers: dict[str, str] | None = None,
        create: bool = False,
        drop: bool = False,
    ) -> None:
        """The next request fails so (Exotel's RestException body)."""
        body = {"RestException": {"Status": status, "Message": message}}
        self.fault(Fault(status, body, dict(headers or {}), create, drop))

    def finish(self, sid: str, status: str = "completed", duration: int = 0) -> int:
        """End the call and send its status callback; the callback's HTTP status."""
        import httpx

        call = self.calls[sid]
        call.status, call.duration = status, duration
        if not call.status_callback:
            raise ValueError(f"call {sid} has no StatusCallback")
        fields = {"CallSid": sid, "Status": status, "EventType": "terminal"}
        fields |= {"ConversationDuration": str(duration), "RecordingUrl": ""}
        if call.content_type == "application/json":
            answer = httpx.post(call.status_callback, json=fields, timeout=10)
        else:
            files = {name: (None, value) for name, value in fields.items()}
            answer = httpx.post(call.status_callback, files=files, timeout=10)
        return answer.status_code

    def unauthorized(self) -> Answer:
        return 401, {"RestException": {"Status": 401, "Message": "Not authenticated"}}, {}

    def route(self, seen: Seen) -> Answer:
        numbers = NUMBERS.match(seen.path)
        if numbers and numbers["account"] == self.account:
            return 200, self._numbers(int(seen.query.get("Page", 0))), {}
        calls = CALLS.match(seen.path)
        if calls is None or calls["account"] != self.account:
            return _missing("resource")
        if calls["connect"] and seen.method == "POST":
            return 200, self._create(seen.body).to_json(), {}
        if calls["sid"] is None:
            return 200, {"Calls": []}, {}
        call = self.calls.get(calls["sid"])
        return (200, call.to_json(), {}) if call else _missing("call")

    def _create(self, form: dict[str, Any]) -> FakeExotelCall:
        call = FakeExotelCall(
            uuid.uuid4().hex,
            str(form.get("From", "")),
            str(form.get("CallerId", "")),
            "queued",
            form.get("StatusCallback"),
            str(form.get("StatusCallbackContentType", "multipart/form-data")),
        )
        self.calls[call.sid] = call
        return call

    def _numbers(self, page: int) -> dict[str, Any]:
        rows = self.numbers[page * PAGE : (page + 1) * PAGE]
        more = (page + 1) * PAGE < len(self.numbers)
        path = f"/v2_beta/Accounts/{self.account}/IncomingPhoneNumbers?Page={page + 1}"
        return {
            "incoming_phone_numbers": [
                {"phone_number": n, "capabilities": {"voice": n not in self.without_voice}}
                for n in rows
            ],
            "next_page_uri": path if more else None,
        }


def _missing(what: str) -> Answer:
    return 404, {"RestException": {"Status": 404, "Message": f"{what} not found"}}, {}
