"""A provider adapter that keeps its calls in memory, for Dialer tests.

It answers like a provider: calls it accepted have ids and statuses, and its
callbacks are signed with a header only it (and the test) knows."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qsl, urlsplit

from numsim import Provider
from numsim.providers import CallEvent, CallStatus, InboundCall, MemoryPacer, ProviderAdapter
from numsim.providers.base import OwnedNumber

SIGNED = {"X-Fake-Signature": "ok"}


class FakeAdapter(ProviderAdapter):
    provider = Provider.TWILIO

    @classmethod
    def default_cps(cls) -> float:
        return 1000.0

    def __init__(self, account: str = "AC1", secret: str = "ok") -> None:
        super().__init__(account, "env:FAKE_TOKEN", pacer=MemoryPacer(), sleep=lambda s: None)
        self.secret = secret  # what this account's X-Fake-Signature must be
        self.status: dict[str, CallStatus] = {}
        self.url: dict[str, str] = {}
        self.placed: list[tuple[str, str]] = []  # (from, to) of every request sent
        self.failures: list[tuple[BaseException, bool]] = []  # (error, call created anyway)
        self.lists_calls = True  # find_calls sees every call (as Twilio's list does)
        self._route: dict[str, tuple[str, str]] = {}
        self._ids = itertools.count(1)

    def place_call(self, from_, to, *, answer, status_callback_url, time_limit=None):
        self.placed.append((from_, to))
        if self.failures:
            error, created = self.failures.pop(0)
            if created:
                self._create(status_callback_url, from_, to)
            raise error
        return self._create(status_callback_url, from_, to)

    def _create(self, url: str, from_: str, to: str) -> str:
        call_id = f"CA{next(self._ids)}"
        self._route[call_id] = (from_, to)
        self.status[call_id] = CallStatus.QUEUED
        self.url[call_id] = url
        return call_id

    def callback(self, call_id: str, status: CallStatus, *, signed: bool = True):
        """What the provider would POST: (url, params, headers)."""
        self.status[call_id] = status
        params = {"CallSid": call_id, "CallStatus": status.value}
        return self.url[call_id], params, {"X-Fake-Signature": self.secret} if signed else {}

    def token_of(self, call_id: str) -> str:
        return dict(parse_qsl(urlsplit(self.url[call_id]).query))["numsim_call"]

    def hangup(self, call_id):
        self.status[call_id] = CallStatus.COMPLETED

    def fetch_call(self, call_id):
        return CallEvent(call_id, self.status[call_id])

    def find_calls(self, from_, to, since):
        if not self.lists_calls:
            return None
        return [
            CallEvent(call_id, self.status[call_id])
            for call_id, route in self._route.items()
            if route == (from_, to)
        ]

    def verify_callback(self, url, params, headers):
        if self.secret is None:
            self.credentials.resolve()  # raises CredentialError: the reference is broken
        return headers.get("X-Fake-Signature") == self.secret

    def parse_callback(self, params):
        if "CallSid" not in params:
            raise ValueError("no CallSid")
        return CallEvent(params["CallSid"], CallStatus(params["CallStatus"]))

    def parse_inbound(self, params):
        return InboundCall(params["CallSid"], params["To"], params.get("From", ""))

    def owned_numbers(self):
        return [OwnedNumber("+14155550000")]

    def verify_credentials(self):
        return None

    def _translate(self, error, creates):
        raise error
