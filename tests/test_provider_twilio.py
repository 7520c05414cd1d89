"""TwilioAdapter through the real twilio SDK; only its HTTP client is fake."""

from datetime import UTC, datetime

import pytest
import requests
from tests.provider_fakes import (
    SECRETS,
    TWILIO_SID,
    TWILIO_TOKEN,
    Script,
    TwilioHttp,
    credentials,
    offline_pacing,
    twilio_signature,
)

from numsim.providers import CallStatus, MemoryPacer, ProviderError, TwilioAdapter

CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Calls.json"
CALL = {"sid": "CA" + "1" * 32, "status": "queued", "duration": None}
CALLBACK = "https://dialer.example.com/callbacks/twilio?numsim_call=abc"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    credentials(monkeypatch)


def adapter(*answers, **options):
    script = Script(*answers)
    offline_pacing(options)
    return TwilioAdapter(
        TWILIO_SID, "env:TWILIO_TOKEN", http_client=TwilioHttp(script), **options
    ), script


def place(twilio, answer="https://dialer.example.com/answer.xml"):
    return twilio.place_call(
        "+14155550100", "+12125550143", answer=answer, status_callback_url=CALLBACK
    )


def test_place_call_sends_the_documented_request():
    twilio, script = adapter((201, CALL))
    assert place(twilio) == CALL["sid"]
    [sent] = script.requests
    assert (sent["method"], sent["url"]) == ("POST", CALLS)
    assert sent["auth"] == (TWILIO_SID, TWILIO_TOKEN)
    assert sent["data"]["To"] == "+12125550143"
    assert sent["data"]["From"] == "+14155550100"
    assert sent["data"]["Url"] == "https://dialer.example.com/answer.xml"
    assert sent["data"]["StatusCallback"] == CALLBACK
    assert sent["data"]["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]


def test_place_call_with_inline_twiml():
    twilio, script = adapter((201, CALL))
    place(twilio, answer="<Response><Say>Hi</Say></Response>")
    assert script.requests[0]["data"]["Twiml"] == "<Response><Say>Hi</Say></Response>"
    with pytest.raises(ValueError, match="URL or TwiML"):
        place(twilio, answer="say hi")


@pytest.mark.parametrize(
    ("code", "why"),
    [(21211, "invalid 'To'"), (21210, "caller id not verified"), (20003, "authentication")],
)
def test_permanent_errors_are_not_retryable(code, why):
    status = 401 if code == 20003 else 400
    twilio, script = adapter((status, {"code": code, "message": "no", "status": status}))
    with pytest.raises(ProviderError) as caught:
        place(twilio)
    error = caught.value
    assert (error.provider.value, error.code, error.retryable) == ("twilio", code, False)
    assert why in str(error) and not error.outcome_unknown
    assert len(script.requests) == 1


def test_a_429_is_waited_out_then_sent_again():
    slept = []
    twilio, script = adapter(
        (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
        (201, CALL),
        sleep=slept.append,
    )
    assert place(twilio) == CALL["sid"]
    assert len(script.requests) == 2
    assert slept and sum(slept) >= 1.0  # the account's pacing interval at 1 cps


def test_a_429_that_persists_becomes_a_retryable_error():
    busy = (429, {"code": 20429, "message": "Too Many Requests", "status": 429})
    twilio, script = adapter(*[busy] * 5, max_wait=2.5)
    with pytest.raises(ProviderError) as caught:
        place(twilio)
    assert caught.value.retryable and caught.value.status == 429
    assert len(script.requests) == 3  # sent, waited 1 s twice, then gave up


def test_a_5xx_on_create_is_an_unknown_outcome_and_is_not_resent():
    twilio, script = adapter((503, {"code": 20500, "message": "down", "status": 503}))
    with pytest.raises(ProviderError) as caught:
        place(twilio)
    assert caught.value.outcome_unknown and not caught.value.retryable
    assert len(script.requests) == 1


def test_a_timeout_after_sending_is_an_unknown_outcome():
    twilio, script = adapter(requests.ReadTimeout("read timed out"))
    with pytest.raises(ProviderError) as caught:
        place(twilio)
    assert caught.value.outcome_unknown and caught.value.code == "outcome_unknown"
    assert len(script.requests) == 1


def test_a_connection_never_made_is_retryable():
    twilio, _ = adapter(requests.ConnectTimeout("connect timed out"))
    with pytest.raises(ProviderError) as caught:
        place(twilio)
    assert caught.value.retryable and not caught.value.outcome_unknown


@pytest.mark.parametrize(
    ("now", "ending"),
    [("ringing", "canceled"), ("queued", "canceled"), ("in-progress", "completed")],
)
def test_hangup_ends_a_call_as_twilio_asks_for_its_state(now, ending):
    sid = CALL["sid"]
    twilio, script = adapter((200, {**CALL, "status": now}), (200, {**CALL, "status": ending}))
    twilio.hangup(sid)
    fetch, update = script.requests
    assert fetch["method"] == "GET" and fetch["url"].endswith(f"/Calls/{sid}.json")
    assert update["method"] == "POST" and update["url"].endswith(f"/Calls/{sid}.json")
    assert update["data"] == {"Status": ending}


def test_hangup_completes_a_call_answered_while_it_was_canceled():
    sid = CALL["sid"]
    twilio, script = adapter(
        (200, {**CALL, "status": "ringing"}),
        (200, {**CALL, "status": "in-progress"}),  # answered meanwhile: cancel did nothing
        (200, {**CALL, "status": "completed"}),
    )
    twilio.hangup(sid)
    assert [r["data"] for r in script.requests[1:]] == [
        {"Status": "canceled"},
        {"Status": "completed"},
    ]


def test_hangup_leaves_an_ended_call_alone():
    twilio, script = adapter((200, {**CALL, "status": "busy"}))
    twilio.hangup(CALL["sid"])
    assert len(script.requests) == 1


def test_find_calls_lists_calls_between_two_numbers_since_a_time():
    page = {
        "calls": [
            {
                **CALL,
                "sid": "CA-new",
                "status": "in-progress",
                "date_created": "Sat, 28 Nov 2026 12:00:05 +0000",
            },
            {
                **CALL,
                "sid": "CA-old",
                "status": "completed",
                "date_created": "Fri, 27 Nov 2026 09:00:00 +0000",
            },
        ],
        "next_page_uri": None,
    }
    twilio, script = adapter((200, page))
    since = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()
    found = twilio.find_calls("+14155550100", "+12125550143", since)
    assert [(e.call_id, e.status) for e in found] == [("CA-new", CallStatus.IN_PROGRESS)]
    [sent] = script.requests
    assert sent["method"] == "GET" and sent["url"] == CALLS
    assert (sent["params"]["From"], sent["params"]["To"]) == ("+14155550100", "+12125550143")


def test_fetch_call():
    sid = CALL["sid"]
    twilio, script = adapter((200, {**CALL, "status": "completed", "duration": "42"}))
    event = twilio.fetch_call(sid)
    assert script.requests[0]["method"] == "GET"
    assert (event.status, event.terminal, event.duration) == (CallStatus.COMPLETED, True, 42.0)


@pytest.mark.parametrize(
    ("raw", "status", "terminal"),
    [
        ("queued", CallStatus.QUEUED, False),
        ("ringing", CallStatus.RINGING, False),
        ("in-progress", CallStatus.IN_PROGRESS, False),
        ("completed", CallStatus.COMPLETED, True),
        ("busy", CallStatus.BUSY, True),
        ("no-answer", CallStatus.NO_ANSWER, True),
        ("failed", CallStatus.FAILED, True),
        ("canceled", CallStatus.CANCELED, True),
    ],
)
def test_parse_callback(raw, status, terminal):
    twilio, _ = adapter()
    event = twilio.parse_callback({"CallSid": "CA1", "CallStatus": raw, "CallDuration": "7"})
    assert (event.call_id, event.status, event.terminal, event.raw_status) == (
        "CA1",
        status,
        terminal,
        raw,
    )
    assert event.duration == 7.0


def test_parse_callback_refuses_what_it_cannot_read():
    twilio, _ = adapter()
    with pytest.raises(ValueError, match="unknown Twilio call status 'exploded'"):
        twilio.parse_callback({"CallSid": "CA1", "CallStatus": "exploded"})
    with pytest.raises(ValueError, match="CallSid"):
        twilio.parse_callback({"CallStatus": "completed"})


def test_parse_inbound():
    twilio, _ = adapter()
    inbound = twilio.parse_inbound({"CallSid": "CA9", "To": "+14155550100", "From": "+12125550143"})
    assert (inbound.call_id, inbound.number, inbound.caller) == (
        "CA9",
        "+14155550100",
        "+12125550143",
    )


def test_verify_callback_with_the_documented_signature():
    twilio, _ = adapter()
    params = {"CallSid": "CA1", "CallStatus": "completed", "To": "+12125550143"}
    signature = twilio_signature(TWILIO_TOKEN, CALLBACK, params)
    assert twilio.verify_callback(CALLBACK, params, {"x-twilio-signature": signature})
    assert not twilio.verify_callback(
        CALLBACK, {**params, "CallStatus": "busy"}, {"X-Twilio-Signature": signature}
    )
    assert not twilio.verify_callback(CALLBACK + "x", params, {"X-Twilio-Signature": signature})
    wrong = twilio_signature("another-token", CALLBACK, params)
    assert not twilio.verify_callback(CALLBACK, params, {"X-Twilio-Signature": wrong})
    assert not twilio.verify_callback(CALLBACK, params, {})


def test_owned_numbers_and_credentials():
    page = {
        "incoming_phone_numbers": [
            {"phone_number": "+14155550100", "capabilities": {"voice": True, "sms": True}},
            {"phone_number": "+14155550101", "capabilities": {"voice": False, "sms": True}},
        ],
        "next_page_uri": None,
    }
    twilio, script = adapter((200, page), (200, {"sid": TWILIO_SID, "status": "active"}))
    owned = twilio.owned_numbers()
    assert [(n.e164, n.voice) for n in owned] == [("+14155550100", True), ("+14155550101", False)]
    assert script.requests[0]["url"].endswith("/IncomingPhoneNumbers.json")
    twilio.verify_credentials()
    assert (
        script.requests[1]["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}.json"
    )


def test_secrets_never_show(monkeypatch):
    twilio, _ = adapter((401, {"code": 20003, "message": "Authenticate", "status": 401}))
    with pytest.raises(ProviderError) as caught:
        place(twilio)
    shown = f"{caught.value} {caught.value!r} {twilio!r}"
    assert not any(secret in shown for secret in SECRETS)
    with pytest.raises(ValueError, match="not the secret itself") as pasted:
        TwilioAdapter(TWILIO_SID, TWILIO_TOKEN)
    assert TWILIO_TOKEN not in str(pasted.value)


def test_pacing_spaces_calls_per_account():
    slept = []
    pacer = MemoryPacer(clock=lambda: 0.0)
    twilio, _ = adapter(
        (201, CALL), (201, CALL), (201, CALL), cps=2, pacer=pacer, sleep=slept.append
    )
    for _ in range(3):
        place(twilio)
    assert slept == [0.5, 1.0]


def test_only_call_creation_is_paced():
    # Twilio's CPS limit counts new calls: lookups (reconcile) are not held back.
    slept = []
    done = (200, {**CALL, "status": "completed"})
    twilio, _ = adapter(done, done, done, pacer=MemoryPacer(clock=lambda: 0.0), sleep=slept.append)
    for _ in range(3):
        twilio.fetch_call(CALL["sid"])
    assert slept == []
