"""The README's dialer service runs as written (offline: callbacks only)."""

import io
import re
from pathlib import Path
from urllib.parse import urlencode

from tests.provider_fakes import twilio_signature

import numsim

README = Path(__file__).resolve().parents[1] / "README.md"


def service():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### A complete service") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def post(app, path, form, headers=(), query=""):
    body = urlencode(form).encode()
    environ = {
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **dict(headers),
    }
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    out = b"".join(app(environ, start_response))
    return seen["status"], out.decode()


def test_the_readme_service_frees_a_channel_on_a_signed_callback(monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "readme-token")
    ns = service()
    app, allocator = ns["app"], ns["allocator"]
    assert post(app, "/elsewhere", {})[0].startswith("404")
    webhook = {"CallSid": "CA1", "To": "+14155550100", "From": "+12125550143"}
    url = "https://dialer.example.com/inbound/twilio"
    forged = {"HTTP_X_TWILIO_SIGNATURE": "forged"}
    assert post(app, "/inbound/twilio", webhook, forged)[0].startswith("403")
    signed = {"HTTP_X_TWILIO_SIGNATURE": twilio_signature("readme-token", url, webhook)}
    assert post(app, "/inbound/twilio", webhook, signed)[0].startswith("200")
    assert allocator.in_use("+14155550100") == 1
    done = {"CallSid": "CA1", "CallStatus": "completed"}
    url = "https://dialer.example.com/callbacks/twilio"
    signed = {"HTTP_X_TWILIO_SIGNATURE": twilio_signature("readme-token", url, done)}
    assert post(app, "/callbacks/twilio", done, signed) == ("200 OK", "completed")
    assert allocator.in_use("+14155550100") == 0
    assert isinstance(ns["dialer"], numsim.Dialer)


def test_the_fake_twilio_example_runs(monkeypatch):
    text = README.read_text(encoding="utf-8")
    code = re.search(r"<!-- fake-twilio -->\n```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.setenv("TWILIO_TOKEN", "")  # the example sets it; monkeypatch restores it
    namespace = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["outcome"] == "placed"
