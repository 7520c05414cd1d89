"""ExotelAdapter over httpx; only the transport is fake (httpx.MockTransport)."""

import httpx
import pytest
from tests.provider_fakes import (
    EXOTEL_SID,
    SECRETS,
    Script,
    basic,
    credentials,
    exotel_transport,
    offline_pacing,
)

from numsim import CredentialError
from numsim.providers import CallStatus, ExotelAdapter, MemoryPacer, ProviderError

BASE = f"https://api.exotel.com/v1/Accounts/{EXOTEL_SID}"
CALL = {"Call": {"Sid": "b6cfaf8d1ae1b5b3", "Status": "in-progress", "Duration": None}}
CALLBACK = "https://dialer.example.com/callbacks/exotel?numsim_call=abc"
FLOW = f"http://my.exotel.com/{EXOTEL_SID}/exoml/start_voice/926"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    credentials(monkeypatch)


def adapter(*answers, **options):
    script = Script(*answers)
    offline_pacing(options)
    exotel = ExotelAdapter(
        EXOTEL_SID, "env:EXOTEL_KEYS", transport=exotel_transport(script), **options
    )
    return exotel, script


def place(exotel, answer="926"):
    return exotel.place_call(
        "+918045000011", "+919876543210", answer=answer, status_callback_url=CALLBACK
    )


def test_place_call_sends_the_documented_request():
    exotel, script = adapter((200, CALL))
    assert place(exotel) == "b6cfaf8d1ae1b5b3"
    [sent] = script.requests
    assert (sent["method"], sent["url"]) == ("POST", f"{BASE}/Calls/connect.json")
    assert sent["auth"] == basic("exo-key-1", "exo-secret-token-789")
    form = sent["form"]
    assert (form["From"], form["CallerId"], form["Url"]) == ("+919876543210", "+918045000011", FLOW)
    assert form["StatusCallbackEvents[0]"] == "terminal"
    assert form["StatusCallback"].startswith(CALLBACK + "&numsim_sig=")
    assert exotel.verify_callback(form["StatusCallback"], {}, {})


def test_the_answer_is_a_flow():
    exotel, script = adapter((200, CALL))
    place(exotel, answer=FLOW)
    assert script.requests[0]["form"]["Url"] == FLOW
    with pytest.raises(ValueError, match="flow URL or a flow's numeric app id"):
        place(exotel, answer="<Response/>")


def test_a_429_honours_retry_after():
    slept = []
    exotel, script = adapter(
        (429, {"RestException": {"Status": 429, "Message": "Too many"}}, {"Retry-After": "30"}),
        (200, CALL),
        pacer=MemoryPacer(clock=lambda: 0.0),
        sleep=slept.append,
    )
    assert place(exotel) == "b6cfaf8d1ae1b5b3"
    assert slept == [30.0] and len(script.requests) == 2


def test_a_5xx_on_create_is_an_unknown_outcome():
    exotel, script = adapter((502, {}), (200, CALL))
    with pytest.raises(ProviderError) as caught:
        place(exotel)
    assert caught.value.outcome_unknown and not caught.value.retryable
    assert len(script.requests) == 1


def test_a_read_timeout_on_create_is_an_unknown_outcome_a_connect_error_is_retryable():
    exotel, _ = adapter(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"))
    with pytest.raises(ProviderError) as unknown:
        place(exotel)
    assert unknown.value.outcome_unknown
    with pytest.raises(ProviderError) as refused:
        place(exotel)
    assert refused.value.retryable and not refused.value.outcome_unknown


def test_rest_exceptions_keep_their_code_and_message():
    body = {"RestException": {"Status": 400, "Code": 34001, "Message": "Invalid To number"}}
    exotel, _ = adapter((400, body))
    with pytest.raises(ProviderError) as caught:
        place(exotel)
    assert (caught.value.code, caught.value.retryable) == (34001, False)
    assert "Invalid To number" in str(caught.value)


def test_fetch_call_and_hangup():
    exotel, script = adapter((200, {"Call": {"Sid": "s1", "Status": "no-answer", "Duration": "0"}}))
    event = exotel.fetch_call("s1")
    assert script.requests[0]["url"] == f"{BASE}/Calls/s1.json"
    assert (event.status, event.terminal) == (CallStatus.NO_ANSWER, True)
    with pytest.raises(ProviderError, match="cannot end a call") as caught:
        exotel.hangup("s1")
    assert caught.value.code == "unsupported"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("completed", CallStatus.COMPLETED),
        ("busy", CallStatus.BUSY),
        ("no-answer", CallStatus.NO_ANSWER),
        ("failed", CallStatus.FAILED),
        ("in-progress", CallStatus.IN_PROGRESS),
    ],
)
def test_parse_callback(raw, status):
    exotel, _ = adapter()
    event = exotel.parse_callback({"CallSid": "s1", "Status": raw, "ConversationDuration": "41"})
    assert (event.call_id, event.status, event.duration) == ("s1", status, 41.0)


def test_a_passthru_at_the_end_of_a_flow_reads_as_a_status_callback():
    exotel, _ = adapter()
    event = exotel.parse_callback({"CallSid": "s1", "CallStatus": "completed"})
    assert event.terminal and event.call_id == "s1"


def test_parse_inbound_reads_national_numbers():
    exotel, _ = adapter()
    inbound = exotel.parse_inbound({"CallSid": "s2", "To": "08045000011", "From": "09876543210"})
    assert (inbound.call_id, inbound.number) == ("s2", "+918045000011")


def test_verify_callback_refuses_tampering(monkeypatch):
    exotel, _ = adapter()
    signed = exotel.sign_url(CALLBACK)
    assert exotel.verify_callback(signed, {"CallSid": "s1"}, {})
    assert not exotel.verify_callback(signed.replace("abc", "abd"), {}, {})
    assert not exotel.verify_callback(CALLBACK, {}, {})  # no signature at all
    assert not exotel.verify_callback(signed[:-1] + ("0" if signed[-1] != "0" else "1"), {}, {})
    monkeypatch.setenv("OTHER_KEYS", "exo-key-1:another-token")
    assert not ExotelAdapter(EXOTEL_SID, "env:OTHER_KEYS").verify_callback(signed, {}, {})


def test_owned_numbers_and_credentials():
    numbers = {
        "incoming_phone_numbers": [
            {"phone_number": "+918045000011", "capabilities": {"voice": True, "sms": False}},
            {"phone_number": "08045000012", "capabilities": {"voice": False}},
        ]
    }
    exotel, script = adapter((200, numbers), (200, {"Calls": []}))
    owned = exotel.owned_numbers()
    assert [(n.e164, n.voice) for n in owned] == [("+918045000011", True), ("+918045000012", False)]
    assert script.requests[0]["url"] == (
        f"https://api.exotel.com/v2_beta/Accounts/{EXOTEL_SID}/IncomingPhoneNumbers"
    )
    exotel.verify_credentials()
    assert script.requests[1]["url"] == f"{BASE}/Calls.json?PageSize=1"


def test_credentials_must_be_key_and_token(monkeypatch):
    monkeypatch.setenv("EXOTEL_KEYS", "just-a-token-no-key")
    exotel, script = adapter()
    with pytest.raises(CredentialError, match="API_KEY:API_TOKEN") as caught:
        place(exotel)
    assert "just-a-token" not in str(caught.value) and script.requests == []


def test_secrets_never_show():
    exotel, _ = adapter((401, {"RestException": {"Status": 401, "Message": "Unauthorized"}}))
    with pytest.raises(ProviderError) as caught:
        place(exotel)
    shown = f"{caught.value} {caught.value!r} {exotel!r}"
    assert not any(secret in shown for secret in SECRETS)


def test_unknown_subdomain_is_refused():
    with pytest.raises(ValueError, match=r"api\.in\.exotel\.com"):
        ExotelAdapter(EXOTEL_SID, "env:EXOTEL_KEYS", subdomain="api.exotel.in")


def test_every_request_is_paced():
    # Exotel's limit counts every Voice API request: 200 a minute.
    slept = []
    done = (200, {"Call": {"Sid": "s1", "Status": "completed"}})
    exotel, _ = adapter(done, done, pacer=MemoryPacer(clock=lambda: 0.0), sleep=slept.append)
    exotel.fetch_call("s1")
    exotel.fetch_call("s1")
    assert slept == [pytest.approx(0.3)]


def test_owned_numbers_page_beyond_fifty():
    def page(first, count, following):
        rows = [{"phone_number": f"080450001{i:02d}"} for i in range(first, first + count)]
        return {"incoming_phone_numbers": rows, "next_page_uri": following}

    path = f"/v2_beta/Accounts/{EXOTEL_SID}/IncomingPhoneNumbers"
    exotel, script = adapter(
        (200, page(0, 50, f"{path}?Page=1&PageSize=50")),
        (200, page(50, 10, None)),
    )
    owned = exotel.owned_numbers()
    assert len(owned) == 60 and owned[-1].e164 == "+918045000159"
    assert script.requests[1]["url"].endswith(f"{path}?Page=1&PageSize=50")


def test_owned_numbers_stop_when_a_page_repeats():
    rows = {"incoming_phone_numbers": [{"phone_number": "08045000011"}], "next_page_uri": "/x"}
    exotel, script = adapter((200, rows), (200, rows))
    assert len(exotel.owned_numbers()) == 1 and len(script.requests) == 2
