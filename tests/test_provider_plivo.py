"""PlivoAdapter through the real plivo SDK; only the session's transport is fake."""

import plivo
import pytest
import requests
from tests.provider_fakes import (
    PLIVO_ID,
    PLIVO_TOKEN,
    SECRETS,
    PlivoTransport,
    Script,
    basic,
    credentials,
    offline_pacing,
    plivo_signature,
)

from numsim.providers import CallStatus, MemoryPacer, PlivoAdapter, ProviderError

BASE = f"https://api.plivo.com/v1/Account/{PLIVO_ID}"
FIRED = {"api_id": "a1", "message": "call fired", "request_uuid": "9834029e-58b6-11e1"}
CALLBACK = "https://dialer.example.com/callbacks/plivo?numsim_call=abc"
SERVER_ERROR = (500, {"api_id": "a2", "error": "internal error"})


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    credentials(monkeypatch)


def adapter(*answers, **options):
    script = Script(*answers)
    offline_pacing(options)
    plivo_adapter = PlivoAdapter(
        PLIVO_ID, "env:PLIVO_TOKEN", transport=PlivoTransport(script), **options
    )
    return plivo_adapter, script


def place(adapter_, answer="https://dialer.example.com/answer.xml"):
    return adapter_.place_call(
        "+912240000011", "+919876543210", answer=answer, status_callback_url=CALLBACK
    )


def test_place_call_sends_the_documented_request():
    plivo_adapter, script = adapter((201, FIRED))
    assert place(plivo_adapter) == FIRED["request_uuid"]
    [sent] = script.requests
    assert (sent["method"], sent["url"]) == ("POST", f"{BASE}/Call/")
    assert sent["auth"] == basic(PLIVO_ID, PLIVO_TOKEN)
    body = sent["json"]
    assert (body["from"], body["to"]) == ("912240000011", "919876543210")
    assert body["answer_url"] == "https://dialer.example.com/answer.xml"
    assert body["ring_url"] == body["hangup_url"] == CALLBACK


def test_the_answer_must_be_a_url():
    plivo_adapter, script = adapter()
    with pytest.raises(ValueError, match="answer_url"):
        place(plivo_adapter, answer="<Response/>")
    assert script.requests == []


def test_the_sdk_alone_would_dial_three_times_on_a_5xx():
    # Why the adapter stops it: the plivo SDK resends a voice POST after a 5xx.
    script = Script(SERVER_ERROR, SERVER_ERROR, SERVER_ERROR)
    client = plivo.RestClient(PLIVO_ID, PLIVO_TOKEN)
    client.session.mount("https://", PlivoTransport(script))
    with pytest.raises(plivo.exceptions.PlivoServerError):
        client.calls.create(
            from_="912240000011", to_="919876543210", answer_url="https://dialer.example.com/a.xml"
        )
    assert len(script.requests) == 3


def test_a_5xx_on_create_is_sent_once_and_its_outcome_is_unknown():
    plivo_adapter, script = adapter(SERVER_ERROR, SERVER_ERROR, SERVER_ERROR)
    with pytest.raises(ProviderError) as caught:
        place(plivo_adapter)
    assert len(script.requests) == 1
    assert caught.value.outcome_unknown and not caught.value.retryable
    assert caught.value.code == 500
    # The next call on the same adapter starts clean (the SDK's retry counter is per client).
    script.answers[:] = [(201, FIRED)]
    assert place(plivo_adapter) == FIRED["request_uuid"]
    assert len(script.requests) == 2


def test_a_timeout_after_sending_is_an_unknown_outcome():
    plivo_adapter, script = adapter(requests.ReadTimeout("read timed out"))
    with pytest.raises(ProviderError) as caught:
        place(plivo_adapter)
    assert caught.value.outcome_unknown and len(script.requests) == 1


def test_a_429_honours_retry_after():
    slept = []
    plivo_adapter, script = adapter(
        (429, {"error": "too many requests"}, {"Retry-After": "3"}),
        (201, FIRED),
        pacer=MemoryPacer(clock=lambda: 0.0),
        sleep=slept.append,
    )
    assert place(plivo_adapter) == FIRED["request_uuid"]
    assert slept == [3.0] and len(script.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "ValidationError"), (401, "AuthenticationError"), (403, "GeoPermissionError")],
)
def test_permanent_errors(status, error):
    plivo_adapter, script = adapter((status, {"error": "invalid destination number"}))
    with pytest.raises(ProviderError) as caught:
        place(plivo_adapter)
    assert (caught.value.code, caught.value.retryable) == (status, False)
    assert error in str(caught.value) and len(script.requests) == 1


def test_hangup_cancels_a_request_or_ends_a_live_call():
    plivo_adapter, script = adapter((204, {}), (404, {"error": "not found"}), (204, {}))
    plivo_adapter.hangup("req-1")
    assert (script.requests[0]["method"], script.requests[0]["url"]) == (
        "DELETE",
        f"{BASE}/Request/req-1/",
    )
    plivo_adapter.hangup("call-2")
    assert script.requests[2]["url"] == f"{BASE}/Call/call-2/"


def test_fetch_call_reads_the_record_of_an_ended_call_then_live_then_queued():
    cdr = {"call_uuid": "c1", "call_state": "BUSY", "call_duration": 0}
    plivo_adapter, script = adapter(
        (200, cdr),
        (404, {"error": "not found"}),
        (200, {"call_uuid": "c2", "call_status": "ringing"}),
        (404, {"error": "x"}),
        (404, {"error": "x"}),
        (200, {"request_uuid": "r3"}),
    )
    assert plivo_adapter.fetch_call("c1").status is CallStatus.BUSY
    assert plivo_adapter.fetch_call("c2").status is CallStatus.RINGING
    assert plivo_adapter.fetch_call("r3").status is CallStatus.QUEUED
    assert "status=live" in script.requests[2]["url"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("ringing", CallStatus.RINGING),
        ("in-progress", CallStatus.IN_PROGRESS),
        ("completed", CallStatus.COMPLETED),
        ("busy", CallStatus.BUSY),
        ("no-answer", CallStatus.NO_ANSWER),
        ("timeout", CallStatus.NO_ANSWER),
        ("failed", CallStatus.FAILED),
        ("cancel", CallStatus.CANCELED),
    ],
)
def test_parse_callback(raw, status):
    plivo_adapter, _ = adapter()
    event = plivo_adapter.parse_callback(
        {"RequestUUID": "r1", "CallUUID": "c1", "CallStatus": raw, "Duration": "12"}
    )
    assert (event.call_id, event.provider_call_id, event.status) == ("r1", "c1", status)
    assert event.terminal == (status not in (CallStatus.RINGING, CallStatus.IN_PROGRESS))


def test_parse_inbound():
    plivo_adapter, _ = adapter()
    inbound = plivo_adapter.parse_inbound({"CallUUID": "c9", "To": "912240000011", "From": "1"})
    assert (inbound.call_id, inbound.number) == ("c9", "+912240000011")


@pytest.mark.parametrize(
    "url",
    ["https://dialer.example.com/callbacks/plivo", CALLBACK + "&tenant=7"],
)
def test_verify_callback_v3(url):
    plivo_adapter, _ = adapter()
    params = {"CallUUID": "c1", "CallStatus": "completed", "RequestUUID": "r1"}
    nonce = "12345678901234567890"
    good = plivo_signature(PLIVO_TOKEN, url, params, nonce)
    headers = {"X-Plivo-Signature-V3": good, "X-Plivo-Signature-V3-Nonce": nonce}
    assert plivo_adapter.verify_callback(url, params, headers)
    assert plivo_adapter.verify_callback(url, params, {k.lower(): v for k, v in headers.items()})
    assert not plivo_adapter.verify_callback(url, {**params, "CallStatus": "busy"}, headers)
    assert not plivo_adapter.verify_callback(url + "/other", params, headers)
    assert not plivo_adapter.verify_callback(
        url, params, {**headers, "X-Plivo-Signature-V3-Nonce": "other"}
    )
    wrong = plivo_signature("not-the-token", url, params, nonce)
    assert not plivo_adapter.verify_callback(
        url, params, {**headers, "X-Plivo-Signature-V3": wrong}
    )
    assert not plivo_adapter.verify_callback(url, params, {"X-Plivo-Signature-V3": good})


def test_owned_numbers_pages_through_the_account():
    first = {
        "meta": {},
        "objects": [{"number": f"9122400000{i:02d}", "voice_enabled": i != 3} for i in range(20)],
    }
    second = {"meta": {}, "objects": [{"number": "912240000099", "voice_enabled": True}]}
    plivo_adapter, script = adapter((200, first), (200, second), (200, {"auth_id": PLIVO_ID}))
    owned = plivo_adapter.owned_numbers()
    assert len(owned) == 21 and owned[3].voice is False and owned[-1].e164 == "+912240000099"
    assert "offset=20" in script.requests[1]["url"]
    plivo_adapter.verify_credentials()
    assert script.requests[2]["url"] == f"{BASE}/"


def test_secrets_never_show():
    plivo_adapter, _ = adapter((401, {"error": "authentication failed"}))
    with pytest.raises(ProviderError) as caught:
        place(plivo_adapter)
    shown = f"{caught.value} {caught.value!r} {plivo_adapter!r}"
    assert not any(secret in shown for secret in SECRETS)


def numbers_page(first, count, following):
    rows = [
        {"number": f"9122400001{i:02d}", "voice_enabled": True} for i in range(first, first + count)
    ]
    return {"meta": {"limit": 20, "next": following}, "objects": rows}


def test_owned_numbers_follow_meta_next_by_offset_or_cursor():
    offset_next = f"/v1/Account/{PLIVO_ID}/Number/?limit=20&offset=20"
    cursor_next = f"/v1/Account/{PLIVO_ID}/Number/?limit=20&cursor=c2"
    plivo_adapter, script = adapter(
        (200, numbers_page(0, 20, offset_next)),
        (200, numbers_page(20, 20, cursor_next)),
        (200, numbers_page(40, 5, None)),
    )
    assert len(plivo_adapter.owned_numbers()) == 45
    assert "offset=20" in script.requests[1]["url"] and "cursor=c2" in script.requests[2]["url"]


def test_owned_numbers_stop_when_the_api_ignores_the_paging():
    again = f"/v1/Account/{PLIVO_ID}/Number/?limit=20&cursor=same"
    plivo_adapter, script = adapter(
        (200, numbers_page(0, 20, again)), (200, numbers_page(0, 20, again))
    )
    assert len(plivo_adapter.owned_numbers()) == 20 and len(script.requests) == 2


def test_find_calls_lists_live_calls_and_ended_ones_by_number():
    live = {"api_id": "a", "calls": ["uuid-live"]}
    cdrs = {
        "meta": {},
        "objects": [{"call_uuid": "uuid-old", "call_state": "ANSWER", "call_duration": 7}],
    }
    plivo_adapter, script = adapter((200, live), (200, cdrs))
    found = plivo_adapter.find_calls("+912240000011", "+919876543210", 1_800_000_000)
    assert [(e.call_id, e.status) for e in found] == [
        ("uuid-live", CallStatus.IN_PROGRESS),
        ("uuid-old", CallStatus.COMPLETED),
    ]
    live_query, cdr_query = (r["url"] for r in script.requests)
    assert "status=live" in live_query and "from_number=912240000011" in live_query
    assert "to_number=919876543210" in live_query
    assert "from_number=912240000011" in cdr_query and "end_time__gte=" in cdr_query
