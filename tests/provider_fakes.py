"""Offline HTTP layers for the provider SDKs: record each request, answer from a script.

Only the transport is fake; the real twilio and plivo SDKs (and httpx for Exotel)
build every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from urllib.parse import parse_qs, parse_qsl

import httpx
import requests
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-secret-token-123"
PLIVO_ID = "MA" + "A" * 18
PLIVO_TOKEN = "plivo-secret-token-456"
EXOTEL_SID = "acme1"
EXOTEL_KEYS = "exo-key-1:exo-secret-token-789"
SECRETS = (TWILIO_TOKEN, PLIVO_TOKEN, "exo-secret-token-789")


def offline_pacing(options):
    """Adapter options with a pacer on a manual clock that sleeping advances, so paced
    requests run at once and the waits can be read off the clock."""
    from numsim import ManualClock
    from numsim.providers import MemoryPacer

    clock = ManualClock(0.0)
    options.setdefault("pacer", MemoryPacer(clock=clock))
    options.setdefault("sleep", clock.advance)
    return options


def credentials(monkeypatch):
    monkeypatch.setenv("TWILIO_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("PLIVO_TOKEN", PLIVO_TOKEN)
    monkeypatch.setenv("EXOTEL_KEYS", EXOTEL_KEYS)


class Script:
    """Answers in order: (status, body[, headers]) tuples or exceptions to raise."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def next(self, record):
        self.requests.append(record)
        if not self.answers:
            raise AssertionError(f"unexpected request {record['method']} {record['url']}")
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, body, *rest = answer
        return status, body, rest[0] if rest else {}


class TwilioHttp(HttpClient):
    """A twilio.http.HttpClient that answers from a Script."""

    def __init__(self, script):
        super().__init__(logging.getLogger("test.twilio"), is_async=False)
        self.script = script

    def request(
        self,
        method,
        uri,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        status, body, extra = self.script.next(
            {"method": method, "url": uri, "params": params, "data": data, "auth": auth}
        )
        return TwilioResponse(status, json.dumps(body), extra)


class PlivoTransport(requests.adapters.BaseAdapter):
    """A requests transport for plivo's session that answers from a Script."""

    def __init__(self, script):
        super().__init__()
        self.script = script

    def send(self, request, **kwargs):
        body = json.loads(request.body) if request.body else None
        status, answer, extra = self.script.next(
            {
                "method": request.method,
                "url": request.url,
                "json": body,
                "auth": request.headers.get("Authorization"),
            }
        )
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(answer).encode()
        response.headers.update({"Content-Type": "application/json", **extra})
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def exotel_transport(script):
    def handle(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode()) if request.content else {}
        status, body, extra = script.next(
            {
                "method": request.method,
                "url": str(request.url),
                "form": {k: v[0] for k, v in form.items()},
                "auth": request.headers.get("Authorization"),
            }
        )
        return httpx.Response(status, json=body, headers=extra)

    return httpx.MockTransport(handle)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def twilio_signature(token, url, params):
    """X-Twilio-Signature as Twilio documents it: HMAC-SHA1 over the URL followed by
    each POST field name and value, sorted by name; base64."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def plivo_signature(token, url, params, nonce):
    """X-Plivo-Signature-V3 for a POST as Plivo documents it: HMAC-SHA256 of
    "<url without query>?<sorted query as k=v&...>[.]<sorted POST fields as kv...>.<nonce>"
    (the "." after the query only when there is one); base64."""
    base, _, query = url.partition("?")
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    payload = base + "?" + "&".join(f"{k}={v}" for k, v in pairs) + ("." if pairs else "")
    payload += "".join(k + params[k] for k in sorted(params)) + "." + nonce
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
