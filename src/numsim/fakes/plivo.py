"""FakePlivo: Plivo's voice API for calls, on loopback.

    with FakePlivo.started("MA...", "auth-token", numbers=["+912240000011"]) as plivo:
        adapter = PlivoAdapter("MA...", "env:PLIVO_TOKEN", base_url=plivo.url)
        ...
        plivo.finish(request_uuid, "completed")  # the hangup callback, signed (V3)

It answers call creation (a RequestUUID; the call gets its own CallUUID), cancel and
hang up, the call's record once ended, live calls (one, or listed by number), ended
calls listed by number, and the account's numbers, paged by `meta.next` or one by one
(`without_voice` ones are owned but not voice-enabled). Faults as
FakeTwilio's: an error status, a call made but answered with an error, a dropped
connection. Numbers are digits without '+', as Plivo writes them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .server import Answer, FakeServer, Fault, Seen

ROUTE = re.compile(
    r"^/v1/Account/(?P<account>\w+)/(?:(?P<kind>Call|Request|Number)/(?:(?P<id>[\w-]+)/)?)?$"
)
LIVE = ("ringing", "in-progress")
ENDED_STATE = {"completed": "ANSWER", "busy": "BUSY", "no-answer": "NO_ANSWER"}
PAGE = 20


@dataclass
class FakePlivoCall:
    request_uuid: str
    call_uuid: str
    from_: str
    to: str
    status: str  # queued, ringing, in-progress, completed, busy, no-answer, cancel
    ring_url: str | None
    hangup_url: str | None
    duration: int = 0

    def cdr(self) -> dict[str, Any]:
        state = ENDED_STATE.get(self.status, self.status.upper())
        return {"call_uuid": self.call_uuid, "call_state": state, "call_duration": self.duration}


class FakePlivo(FakeServer):
    """A Plivo account's voice API on a free 127.0.0.1 port; `url` is its base URL."""

    def __init__(
        self,
        account: str,
        token: str,
        numbers: Iterable[str] = (),
        without_voice: Iterable[str] = (),
    ) -> None:
        super().__init__(account, token)
        self.without_voice = [n.lstrip("+") for n in without_voice]
        self.numbers = [*(n.lstrip("+") for n in numbers), *self.without_voice]
        self.calls: dict[str, FakePlivoCall] = {}  # by RequestUUID

    # -- scripting -------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        message: str = "fault injected",
        headers: dict[str, str] | None = None,
        create: bool = False,
        drop: bool = False,
    ) -> None:
        """The next request fails so (Plivo's error body: api_id, error)."""
        body = {"api_id": uuid.uuid4().hex, "error": message}
        self.fault(Fault(status, body, dict(headers or {}), create, drop))

    def finish(self, request_uuid: str, status: str = "completed", duration: int = 0) -> int:
        """End the call and POST its hangup callback; the callback's HTTP status."""
        call = self.calls[request_uuid]
        call.status, call.duration = status, duration
        if not call.hangup_url:
            raise ValueError(f"call {request_uuid} has no hangup_url")
        params = {
            "RequestUUID": call.request_uuid,
            "CallUUID": call.call_uuid,
            "From": call.from_,
            "To": call.to,
            "CallStatus": status,
            "Duration": str(duration),
            "Direction": "outbound",
        }
        return self.post(call.hangup_url, params)

    def post(self, url: str, params: dict[str, str]) -> int:
        """POST a webhook to `url`, signed as Plivo signs them (V3, with a new nonce)."""
        import httpx
        from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

        nonce = uuid.uuid4().hex
        signed = construct_post_url(url, dict(params)).decode()
        signature = get_signature_v3(self.token, signed, nonce).decode()
        headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
        return httpx.post(url, data=params, headers=headers, timeout=10).status_code

    # -- answering -------------------------------------------------------------------

    def unauthorized(self) -> Answer:
        return 401, {"api_id": uuid.uuid4().hex, "error": "authentication failed"}, {}

    def route(self, seen: Seen) -> Answer:
        route = ROUTE.match(seen.path)
        if route is None or route["account"] != self.account:
            return _missing("resource")
        kind, id_ = route["kind"], route["id"]
        if kind is None:
            return 200, {"auth_id": self.account, "account_type": "standard"}, {}
        if kind == "Number" and id_ is not None:
            if id_ not in self.numbers:
                return _missing("number")
            return 200, self._number(id_), {}
        if kind == "Number":
            return 200, self._numbers(int(seen.query.get("offset", 0))), {}
        if kind == "Request" and seen.method == "DELETE":
            return self._cancel(id_)
        if id_ is None and seen.method == "POST":
            return 201, self._create(seen.body), {}
        if id_ is None:
            return 200, self._list(seen.query), {}
        call = self._find(id_)
        if call is None:
            return _missing("call")
        if seen.method == "DELETE":
            if call.status not in LIVE:
                return _missing("call")
            call.status = "completed"
            return 204, None, {}
        wanted = seen.query.get("status")
        if wanted == "live":
            if call.status not in LIVE:
                return _missing("call")
            return 200, {"call_uuid": call.call_uuid, "call_status": call.status}, {}
        if wanted == "queued":
            return (
                (200, {"call_uuid": call.call_uuid}, {})
                if call.status == "queued"
                else _missing("call")
            )
        return (200, call.cdr(), {}) if call.status not in (*LIVE, "queued") else _missing("call")

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        request_uuid = str(uuid.uuid4())
        call = FakePlivoCall(
            request_uuid,
            str(uuid.uuid4()),
            str(body.get("from", "")),
            str(body.get("to", "")),
            "queued",
            body.get("ring_url"),
            body.get("hangup_url"),
        )
        self.calls[request_uuid] = call
        return {"api_id": uuid.uuid4().hex, "message": "call fired", "request_uuid": request_uuid}

    def _cancel(self, request_uuid: str | None) -> Answer:
        call = self.calls.get(request_uuid or "")
        if call is None or call.status not in ("queued", "ringing"):
            return _missing("request")
        call.status = "cancel"
        return 204, None, {}

    def _find(self, id_: str) -> FakePlivoCall | None:
        return self.calls.get(id_) or next(
            (c for c in self.calls.values() if c.call_uuid == id_), None
        )

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        """Live calls' UUIDs (`status=live`), else the ended calls' records."""
        live = query.get("status") == "live"
        found = [
            call
            for call in list(self.calls.values())
            if query.get("from_number", call.from_) == call.from_
            and query.get("to_number", call.to) == call.to
            and (call.status in LIVE) == live
            and (live or call.status != "queued")
        ]
        if live:
            return {"api_id": uuid.uuid4().hex, "calls": [c.call_uuid for c in found]}
        meta = {"limit": PAGE, "offset": 0, "next": None, "total_count": len(found)}
        return {"api_id": uuid.uuid4().hex, "meta": meta, "objects": [c.cdr() for c in found]}

    def _numbers(self, offset: int) -> dict[str, Any]:
        rows = [self._number(n) for n in self.numbers[offset : offset + PAGE]]
        following = offset + PAGE
        more = following < len(self.numbers)
        path = f"/v1/Account/{self.account}/Number/?limit={PAGE}&offset={following}"
        meta = {"limit": PAGE, "offset": offset, "next": path if more else None}
        return {"api_id": uuid.uuid4().hex, "meta": meta, "objects": rows}

    def _number(self, number: str) -> dict[str, Any]:
        return {"number": number, "voice_enabled": number not in self.without_voice}


def _missing(what: str) -> Answer:
    return 404, {"api_id": uuid.uuid4().hex, "error": f"{what} not found"}, {}
