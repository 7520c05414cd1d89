"""Inbound calls answered in each provider's own format, webhook bodies of every
kind, replays and bad credentials: through the service, signatures from the SDKs."""

import json
import xml.etree.ElementTree as ET

import pytest
from plivo import plivoxml
from plivo.utils.signature_v3 import construct_get_url, get_signature_v3
from tests.provider_fakes import PLIVO_TOKEN, TWILIO_SID, TWILIO_TOKEN, plivo_signature
from tests.test_service_webhooks import (
    CALLER,
    EX,
    JSON,
    PL,
    PUBLIC,
    TOKEN,
    TW,
    exotel_accounts,
    exotel_call,
    failures,
    in_use,
    make_client,
    three_accounts,
)
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

import numsim

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ANSWER = "https://app.example.com/answer?campaign=a&x=1"
BUSY = "https://app.example.com/busy"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def registry(monkeypatch):
    with three_accounts(monkeypatch) as registry:
        yield registry


def tree(text):
    """An XML document as (tag, attributes, text, children), to compare markup."""

    def walk(element):
        return (
            element.tag,
            dict(element.attrib),
            (element.text or "").strip(),
            [walk(child) for child in element],
        )

    return walk(ET.fromstring(text.strip().encode()))


def twilio_inbound(client, sid, to=TW, headers=None, url=None):
    url = url or f"{PUBLIC}/callbacks/twilio/inbound"
    params = {"CallSid": sid, "To": to, "From": CALLER, "AccountSid": TWILIO_SID}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    sent = {"X-Twilio-Signature": signature, **(headers or {})}
    return client.post(url.removeprefix(PUBLIC), data=params, headers=sent)


def twilio_status(client, sid, status):
    url = f"{PUBLIC}/callbacks/twilio/status"
    params = {"CallSid": sid, "CallStatus": status, "AccountSid": TWILIO_SID}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return client.post(
        "/callbacks/twilio/status", data=params, headers={"X-Twilio-Signature": signature}
    )


def plivo_headers(url, params, nonce):
    return {
        "X-Plivo-Signature-V3": plivo_signature(PLIVO_TOKEN, url, params, nonce),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


def plivo_get_headers(url, nonce):
    """A GET callback signed by the plivo SDK's own V3 functions."""
    signature = get_signature_v3(PLIVO_TOKEN, construct_get_url(url, {}).decode(), nonce)
    return {"X-Plivo-Signature-V3": signature.decode(), "X-Plivo-Signature-V3-Nonce": nonce}


# -- B: the provider's own answer ---------------------------------------------------------


def test_twilio_inbound_answers_twiml_redirect_then_reject_busy(registry):
    with make_client(registry, public_url=PUBLIC, inbound_url=ANSWER) as client:
        free = twilio_inbound(client, "CA1")
        assert free.status_code == 200 and free.headers["content-type"].startswith(
            "application/xml"
        )
        expected = VoiceResponse()
        expected.redirect(ANSWER, method="POST")
        assert tree(free.text) == tree(str(expected))
        busy = twilio_inbound(client, "CA2")  # a Twilio number carries one call
        rejected = VoiceResponse()
        rejected.reject(reason="busy")
        assert busy.status_code == 200 and tree(busy.text) == tree(str(rejected))
        assert in_use(client, TW) == 1
        as_json = twilio_inbound(client, "CA3", headers=JSON)
        assert as_json.status_code == 409 and as_json.json()["reasons"] == {TW: "busy"}


def test_a_busy_number_can_forward_to_the_operators_url(registry):
    with make_client(registry, public_url=PUBLIC, inbound_url=ANSWER, busy_url=BUSY) as client:
        twilio_inbound(client, "CA1")
        forwarded = VoiceResponse()
        forwarded.redirect(BUSY, method="POST")
        assert tree(twilio_inbound(client, "CA2").text) == tree(str(forwarded))


def test_without_an_inbound_url_calls_are_rejected_and_take_nothing(registry):
    with make_client(registry, public_url=PUBLIC, inbound_url=None) as client:
        rejected = VoiceResponse()
        rejected.reject(reason="busy")
        assert tree(twilio_inbound(client, "CA1").text) == tree(str(rejected))
        assert in_use(client, TW) == 0


def test_plivo_inbound_answers_plivo_xml(registry):
    with make_client(registry, public_url=PUBLIC, inbound_url=ANSWER) as client:
        url = f"{PUBLIC}/callbacks/plivo/inbound"
        answers = []
        for n in range(3):  # two channels, then busy
            params = {"CallUUID": f"u-{n}", "To": PL.lstrip("+"), "From": CALLER.lstrip("+")}
            headers = plivo_headers(url, params, f"nonce-{n}")
            answers.append(client.post("/callbacks/plivo/inbound", data=params, headers=headers))
        redirect = plivoxml.ResponseElement()
        redirect.add(plivoxml.RedirectElement(ANSWER, method="POST"))
        hangup = plivoxml.ResponseElement()
        hangup.add(plivoxml.HangupElement(reason="busy"))
        assert [tree(a.text) for a in answers] == [tree(redirect.to_string())] * 2 + [
            tree(hangup.to_string())
        ]
        assert in_use(client, PL) == 2


def test_exotel_passthru_gets_200_or_302(registry):
    _, adapters = exotel_accounts(exotel_call("ringing"), exotel_call("ringing"))
    options = {"public_url": PUBLIC, "inbound_url": ANSWER, "adapters": adapters}
    with make_client(registry, **options) as client:
        adapter = client.app.state.numsim.dialer.adapter_for(EX)
        signed = adapter.sign_url(f"{PUBLIC}/callbacks/exotel/inbound").removeprefix(PUBLIC)
        # Passthru is a GET with the call's fields in the query
        free = client.get(f"{signed}&CallSid=e-1&CallTo=08045000011&CallFrom=09876543210")
        assert free.status_code == 200 and in_use(client, EX) == 1
        busy = client.get(f"{signed}&CallSid=e-2&CallTo=08045000011", follow_redirects=False)
        assert busy.status_code == 302 and in_use(client, EX) == 1


# -- C: bodies of every kind, GET callbacks ------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "multipart", "form"])
def test_exotel_status_callbacks_are_read_in_every_format(registry, kind):
    _, adapters = exotel_accounts(exotel_call("ringing"), exotel_call("completed"))
    with make_client(registry, public_url=PUBLIC, adapters=adapters) as client:
        adapter = client.app.state.numsim.dialer.adapter_for(EX)
        inbound = adapter.sign_url(f"{PUBLIC}/callbacks/exotel/inbound").removeprefix(PUBLIC)
        client.post(inbound, data={"CallSid": "e-1", "To": "08045000011"}, headers=JSON)
        status = adapter.sign_url(f"{PUBLIC}/callbacks/exotel/status").removeprefix(PUBLIC)
        fields = {"CallSid": "e-1", "Status": "completed", "RecordingUrl": None}
        if kind == "json":
            sent = client.post(
                status, content=json.dumps(fields), headers={"Content-Type": "application/json"}
            )
        elif kind == "multipart":
            sent = client.post(status, files={k: (None, v or "") for k, v in fields.items()})
        else:
            sent = client.post(status, data={k: v or "" for k, v in fields.items()})
        assert sent.status_code == 200 and sent.json()["terminal"], sent.text
        assert in_use(client, EX) == 0


def test_exotel_is_asked_for_json_callbacks(monkeypatch):
    from tests.provider_fakes import EXOTEL_SID, Script, credentials, exotel_transport

    credentials(monkeypatch)
    script = Script((200, {"Call": {"Sid": "s1", "Status": "queued"}}))
    adapter = numsim.providers.ExotelAdapter(
        EXOTEL_SID, "env:EXOTEL_KEYS", transport=exotel_transport(script)
    )
    adapter.place_call(
        "+918045000011", "+919876543210", answer="123", status_callback_url=PUBLIC + "/s"
    )
    assert script.requests[0]["form"]["StatusCallbackContentType"] == "application/json"


def test_plivo_get_callbacks_are_verified_and_applied(registry):
    with make_client(registry, public_url=PUBLIC, inbound_url=ANSWER) as client:
        query = f"CallUUID=u-9&To={PL.lstrip('+')}&From=442079460018"
        url = f"{PUBLIC}/callbacks/plivo/inbound?{query}"
        answer = client.get(url.removeprefix(PUBLIC), headers=plivo_get_headers(url, "g1"))
        assert answer.status_code == 200 and in_use(client, PL) == 1
        url = f"{PUBLIC}/callbacks/plivo/status?CallUUID=u-9&CallStatus=completed"
        done = client.get(url.removeprefix(PUBLIC), headers=plivo_get_headers(url, "g2"))
        assert done.status_code == 200 and done.json()["terminal"] and in_use(client, PL) == 0


# -- C: replays --------------------------------------------------------------------------


def test_a_replayed_twilio_inbound_webhook_of_an_ended_call_is_refused(registry):
    with make_client(registry, public_url=PUBLIC) as client:
        assert twilio_inbound(client, "CA1", headers=JSON).status_code == 200
        assert twilio_status(client, "CA1", "completed").json()["terminal"]
        replayed = twilio_inbound(client, "CA1", headers=JSON)
        assert replayed.status_code == 403 and "has ended" in replayed.json()["error"]
        assert in_use(client, TW) == 0 and failures(client) == {"twilio": 1.0}


def test_a_replayed_plivo_nonce_is_refused(registry):
    with make_client(registry, public_url=PUBLIC) as client:
        url = f"{PUBLIC}/callbacks/plivo/inbound"
        params = {"CallUUID": "u-1", "To": PL.lstrip("+"), "From": CALLER}
        headers = {**plivo_headers(url, params, "once"), **JSON}
        assert (
            client.post("/callbacks/plivo/inbound", data=params, headers=headers).status_code == 200
        )
        again = {**params, "CallUUID": "u-2"}  # same nonce, new call: a replay
        headers = {**plivo_headers(url, again, "once"), **JSON}
        replayed = client.post("/callbacks/plivo/inbound", data=again, headers=headers)
        assert replayed.status_code == 403 and "replayed" in replayed.json()["error"]
        assert in_use(client, PL) == 1


# -- C: credentials that do not resolve ---------------------------------------------------


def test_a_credential_reference_that_does_not_resolve_is_refused_by_name(registry):
    with make_client(registry, public_url=PUBLIC) as client:
        row = {"e164": "+14155550177", "provider": "twilio", "account": "AC" + "7" * 32}
        response = client.post(
            "/numbers", json={**row, "credentials": "env:TWILIO_TOKN"}, headers=AUTH
        )
        assert response.status_code == 422
        assert "env:TWILIO_TOKN" in response.json()["error"] and TWILIO_TOKEN not in response.text
        patched = client.patch(f"/numbers/{TW}", json={"credentials": "env:NOPE"}, headers=AUTH)
        assert patched.status_code == 422 and "env:NOPE" in patched.json()["error"]


def test_one_account_with_unresolvable_credentials_affects_no_other(registry):
    other = "AC" + "1" * 32  # added by another route (a CLI import), its variable unset
    registry.add(
        numsim.OutboundNumber("+14155550188", "twilio", account=other, credentials="env:UNSET_X")
    )
    with make_client(registry, public_url=PUBLIC) as client:
        for _ in range(2):  # its webhooks fail to verify (403, counted), others' still do
            assert (
                twilio_inbound(client, "CA-x", to="+14155550188", headers=JSON).status_code == 403
            )
        assert twilio_inbound(client, "CA-1", headers=JSON).status_code == 200
        assert failures(client) == {"twilio": 2.0}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["credentials"] == {"unresolved": [f"twilio {other} (env:UNSET_X)"]}


# -- C: Twilio SharedKey (HMAC-SHA256) ---------------------------------------------------

SHARED = "shared-key-secret-0123"
SETTINGS = {
    "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_01,algorithm=HMAC_SHA256"
}


@pytest.mark.parametrize("configured", [True, False])
def test_twilio_sharedkey_signatures_verify_with_the_accounts_shared_key(
    registry, monkeypatch, configured
):
    monkeypatch.setenv("TWILIO_SHARED", SHARED)
    keys = {TWILIO_SID: "env:TWILIO_SHARED"} if configured else {}
    with make_client(registry, public_url=PUBLIC, twilio_shared_keys=keys) as client:
        url = f"{PUBLIC}/callbacks/twilio/inbound"
        params = {"CallSid": "CA1", "To": TW, "From": CALLER}
        signature = RequestValidator(SHARED).compute_signature(url, params, "HMAC_SHA256")
        headers = {"X-Twilio-Signature": signature, **SETTINGS, **JSON}
        response = client.post("/callbacks/twilio/inbound", data=params, headers=headers)
        assert response.status_code == (200 if configured else 403)
        legacy = RequestValidator(TWILIO_TOKEN).compute_signature(url, {**params, "CallSid": "CA2"})
        token_signed = client.post(
            "/callbacks/twilio/inbound",
            data={**params, "CallSid": "CA2"},
            headers={"X-Twilio-Signature": legacy, **JSON},
        )
        assert token_signed.status_code == (409 if configured else 200)  # verified; CA1 holds
        token_signed_as_shared = {"X-Twilio-Signature": legacy, **SETTINGS, **JSON}
        refused = client.post(
            "/callbacks/twilio/inbound",
            data={**params, "CallSid": "CA2"},
            headers=token_signed_as_shared,
        )
        assert refused.status_code == 403  # the auth token does not sign SharedKey webhooks


def test_a_templates_numbers_go_to_its_own_inbound_url(registry):
    registry.assign("sales", [TW])
    sales = "https://app.example.com/sales.xml"
    options = {"inbound_url": ANSWER, "inbound_urls": {"sales": sales, "zzz": BUSY}}
    with make_client(registry, public_url=PUBLIC, **options) as client:
        expected = VoiceResponse()
        expected.redirect(sales, method="POST")
        assert tree(twilio_inbound(client, "CA1").text) == tree(str(expected))
        url = f"{PUBLIC}/callbacks/plivo/inbound"  # a number of no template: the default
        params = {"CallUUID": "u-1", "To": PL.lstrip("+"), "From": CALLER.lstrip("+")}
        answer = client.post(
            "/callbacks/plivo/inbound", data=params, headers=plivo_headers(url, params, "n")
        )
        assert ANSWER.replace("&", "&amp;") in answer.text
