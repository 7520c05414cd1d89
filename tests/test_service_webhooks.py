"""Provider webhooks through the service: signatures checked against the public URL,
tampered ones refused (403, nothing changed, counted), duplicates harmless."""

import contextlib

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import START
from tests.provider_fakes import (
    EXOTEL_SID,
    PLIVO_ID,
    PLIVO_TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    Script,
    TwilioHttp,
    credentials,
    exotel_transport,
    offline_pacing,
    plivo_signature,
    twilio_signature,
)

import numsim
from numsim.providers import ExotelAdapter, PlivoAdapter, TwilioAdapter
from numsim.service import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "test-token-0123456789abcdef"
PUBLIC = "https://numsim.example.com"
TW, PL, EX = "+14155550100", "+919122400001", "+918045000011"
CALLER = "+442079460018"


@pytest.fixture
def registry(monkeypatch):
    with three_accounts(monkeypatch) as registry:
        yield registry


@contextlib.contextmanager
def three_accounts(monkeypatch):
    """A registry with one number of each provider, each of its own account."""
    credentials(monkeypatch)
    with numsim.NumberRegistry() as registry:
        registry.add(
            numsim.OutboundNumber(TW, "twilio", account=TWILIO_SID, credentials="env:TWILIO_TOKEN")
        )
        registry.add(
            numsim.OutboundNumber(
                PL, "plivo", max_concurrent_calls=2, account=PLIVO_ID, credentials="env:PLIVO_TOKEN"
            )
        )
        registry.add(
            numsim.OutboundNumber(EX, "exotel", account=EXOTEL_SID, credentials="env:EXOTEL_KEYS")
        )
        yield registry


ANSWER_URL = "https://app.example.com/answer"
JSON = {"Accept": "application/json"}


def make_client(registry, **options):
    options.setdefault("inbound_url", ANSWER_URL)
    clock = numsim.ManualClock(START)
    app = create_app(registry, token=TOKEN, clock=clock, sync_interval=None, **options)
    return TestClient(app, base_url="http://10.0.0.5:8080")


@pytest.fixture
def client(registry):
    with make_client(registry, public_url=PUBLIC) as client:
        yield client


def twilio_post(client, kind, params, url=None, tamper=False, **headers):
    url = url or f"{PUBLIC}/callbacks/twilio/{kind}"
    signature = twilio_signature(TWILIO_TOKEN, url, params)
    sent = {**params, "CallStatus": "busy"} if tamper else params
    path = url.removeprefix(PUBLIC) if url.startswith(PUBLIC) else f"/callbacks/twilio/{kind}"
    headers = {"X-Twilio-Signature": signature, **JSON, **headers}
    return client.post(path, data=sent, headers=headers)


def in_use(client, number):
    return client.app.state.numsim.allocator.in_use(number)


def failures(client):
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return {
        s.labels["provider"]: s.value
        for s in families["numsim_callback_verification_failures"].samples
    }


def test_twilio_inbound_holds_a_channel_until_its_terminal_callback(client):
    inbound = {"CallSid": "CA1", "To": TW, "From": CALLER, "CallStatus": "ringing"}
    response = twilio_post(client, "inbound", inbound)
    assert response.status_code == 200 and response.json() == {"number": TW, "call_id": "CA1"}
    assert twilio_post(client, "inbound", inbound).status_code == 200  # retried: same channel
    assert in_use(client, TW) == 1
    done = {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "42"}
    response = twilio_post(client, "status", done)
    assert response.json() == {"call_id": "CA1", "status": "completed", "terminal": True}
    assert in_use(client, TW) == 0
    assert twilio_post(client, "status", done).status_code == 200  # duplicate: harmless
    assert in_use(client, TW) == 0


def test_a_tampered_or_unsigned_callback_is_403_and_changes_nothing(client):
    twilio_post(client, "inbound", {"CallSid": "CA1", "To": TW, "From": CALLER})
    done = {"CallSid": "CA1", "CallStatus": "completed"}
    tampered = twilio_post(client, "status", done, tamper=True)
    assert tampered.status_code == 403
    assert tampered.json() == {"error": "twilio callback did not verify; nothing changed"}
    assert client.post("/callbacks/twilio/status", data=done).status_code == 403
    other_url = twilio_post(
        client, "status", done, url="https://evil.example.com/callbacks/twilio/status"
    )
    assert other_url.status_code == 403
    assert in_use(client, TW) == 1
    assert failures(client) == {"twilio": 3.0}
    assert TWILIO_TOKEN not in tampered.text


def test_a_tampered_inbound_takes_no_channel(client):
    response = twilio_post(client, "inbound", {"CallSid": "CA9", "To": TW}, tamper=True)
    assert response.status_code == 403 and in_use(client, TW) == 0


def test_plivo_inbound_and_status(client):
    params = {"CallUUID": "u-1", "To": PL.lstrip("+"), "From": CALLER}
    url = f"{PUBLIC}/callbacks/plivo/inbound"
    headers = {
        "X-Plivo-Signature-V3": plivo_signature(PLIVO_TOKEN, url, params, "n1"),
        "X-Plivo-Signature-V3-Nonce": "n1",
    }
    answer = client.post("/callbacks/plivo/inbound", data=params, headers={**headers, **JSON})
    assert answer.status_code == 200
    assert in_use(client, PL) == 1
    status = {"CallUUID": "u-1", "CallStatus": "completed"}
    url = f"{PUBLIC}/callbacks/plivo/status"
    headers = {
        "X-Plivo-Signature-V3": plivo_signature(PLIVO_TOKEN, url, status, "n2"),
        "X-Plivo-Signature-V3-Nonce": "n2",
    }
    assert client.post("/callbacks/plivo/status", data=status, headers=headers).status_code == 200
    assert in_use(client, PL) == 0


def test_behind_a_trusted_proxy_the_forwarded_url_is_verified(registry):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.org"}
    params = {"CallSid": "CA2", "To": TW, "From": CALLER}
    url = "https://hooks.example.org/callbacks/twilio/inbound"
    with make_client(registry, trust_proxy=True) as client:
        assert twilio_post(client, "inbound", params, url=url, **forwarded).status_code == 200
    with make_client(registry) as client:  # untrusted: the headers are ignored
        assert twilio_post(client, "inbound", params, url=url, **forwarded).status_code == 403
        direct = "http://10.0.0.5:8080/callbacks/twilio/inbound"
        assert twilio_post(client, "inbound", params, url=direct).status_code == 200


def test_an_inbound_call_to_an_unknown_number_is_404(client):
    response = twilio_post(client, "inbound", {"CallSid": "CA3", "To": "+14155559999"})
    assert response.status_code == 404 and "+14155559999" in response.json()["error"]


def test_a_number_added_live_gets_its_account_for_webhooks(client, registry):
    new = "+14155550111"
    body = {"e164": new, "provider": "twilio", "account": "AC" + "1" * 32}
    body["credentials"] = "env:TWILIO_TOKEN"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/numbers", json=body, headers=auth).status_code == 201
    response = twilio_post(client, "inbound", {"CallSid": "CA4", "To": new})
    assert response.status_code == 200 and in_use(client, new) == 1


def exotel_accounts(*answers):
    """The three accounts, Exotel's answering its call-details requests from a script."""
    script = Script(*answers)
    return script, [
        TwilioAdapter(TWILIO_SID, "env:TWILIO_TOKEN"),
        PlivoAdapter(PLIVO_ID, "env:PLIVO_TOKEN"),
        ExotelAdapter(EXOTEL_SID, "env:EXOTEL_KEYS", transport=exotel_transport(script)),
    ]


def exotel_call(status):
    return (200, {"Call": {"Sid": "e-1", "Status": status}})


def test_exotel_inbound_and_status_on_signed_urls(registry):
    script, adapters = exotel_accounts(
        exotel_call("ringing"), exotel_call("in-progress"), exotel_call("completed")
    )
    with make_client(registry, public_url=PUBLIC, adapters=adapters) as client:
        adapter = client.app.state.numsim.dialer.adapter_for(EX)
        inbound = adapter.sign_url(f"{PUBLIC}/callbacks/exotel/inbound")
        params = {"CallSid": "e-1", "To": "08045000011", "From": "09876543210"}
        path = inbound.removeprefix(PUBLIC)
        assert client.post(path, data=params, headers=JSON).status_code == 200  # it is ringing
        assert in_use(client, EX) == 1
        status = adapter.sign_url(f"{PUBLIC}/callbacks/exotel/status")
        tampered = status.replace("status?", "status?x=1&")
        done = {"CallSid": "e-1", "Status": "completed"}
        assert client.post(tampered.removeprefix(PUBLIC), data=done).status_code == 403
        assert client.post(status.removeprefix(PUBLIC), data=done).status_code == 403  # live
        assert in_use(client, EX) == 1
        assert client.post(status.removeprefix(PUBLIC), data=done).status_code == 200
        assert in_use(client, EX) == 0
        assert [r["url"].rsplit("/", 1)[1] for r in script.requests] == ["e-1.json"] * 3


def test_exotel_inbound_the_provider_does_not_know_takes_nothing(registry):
    _script, adapters = exotel_accounts((404, {"RestException": {"Message": "not found"}}))
    with make_client(registry, public_url=PUBLIC, adapters=adapters) as client:
        adapter = client.app.state.numsim.dialer.adapter_for(EX)
        path = adapter.sign_url(f"{PUBLIC}/callbacks/exotel/inbound").removeprefix(PUBLIC)
        forged = {"CallSid": "made-up", "To": "08045000011"}
        response = client.post(path, data=forged, headers=JSON)
        assert response.status_code == 403 and "has no call made-up" in response.text
        assert in_use(client, EX) == 0


# -- closing the loop: calls placed through the service, or attached to a lease --------


def twilio_accounts(*answers):
    script = Script(*answers)
    http = TwilioHttp(script)
    return script, [
        TwilioAdapter(TWILIO_SID, "env:TWILIO_TOKEN", http_client=http, **offline_pacing({})),
        PlivoAdapter(PLIVO_ID, "env:PLIVO_TOKEN"),
        ExotelAdapter(EXOTEL_SID, "env:EXOTEL_KEYS"),
    ]


AUTH = {"Authorization": f"Bearer {TOKEN}"}
CALL = {"template": "t", "destination": CALLER, "answer": "<Response><Say>hi</Say></Response>"}


def test_a_call_placed_through_the_service_is_freed_by_its_callback(registry):
    registry.assign("t", [TW])
    script, adapters = twilio_accounts((201, {"sid": "CA42", "status": "queued"}))
    with make_client(registry, public_url=PUBLIC, adapters=adapters) as client:
        response = client.post("/calls", json={**CALL, "time_limit": 600}, headers=AUTH)
        assert response.status_code == 201, response.text
        placed = response.json()
        assert placed["call_id"] == "CA42" and placed["number"] == TW
        sent = script.requests[0]["data"]
        assert sent["To"] == CALLER and sent["Twiml"] == CALL["answer"]
        assert sent["TimeLimit"] == 600
        status_url = sent["StatusCallback"]
        assert status_url == f"{PUBLIC}/callbacks/twilio/status?numsim_call={placed['token']}"
        assert in_use(client, TW) == 1
        done = {"CallSid": "CA42", "CallStatus": "completed"}
        assert twilio_post(client, "status", done, url=status_url).json()["terminal"]
        assert in_use(client, TW) == 0
        settled = client.get(f"/calls/{placed['token']}", headers=AUTH).json()
        assert settled == {"token": placed["token"], "outcome": "placed"}


def test_a_call_placed_elsewhere_and_attached_is_freed_by_its_callback(registry):
    registry.assign("t", [TW])
    with make_client(registry, public_url=PUBLIC) as client:
        lease = client.post(
            "/allocations", json={"template": "t", "destination": CALLER, "ttl": 60}, headers=AUTH
        ).json()
        path = f"/allocations/{lease['lease_id']}/call"
        attached = client.put(path, json={"call_id": "CA77", "ttl": 900}, headers=AUTH)
        assert attached.status_code == 200 and attached.json()["attached"] is True
        assert attached.json()["expires_at"] == pytest.approx(START + 900, abs=1e-3)
        twilio_post(client, "status", {"CallSid": "CA77", "CallStatus": "ringing"})
        assert in_use(client, TW) == 1
        twilio_post(client, "status", {"CallSid": "CA77", "CallStatus": "busy"})
        assert in_use(client, TW) == 0
        again = client.put(path, json={"call_id": "CA77"}, headers=AUTH)
        assert again.status_code == 404 and "has ended" in again.json()["error"]
        bad = client.put(path, json={"call": "CA77"}, headers=AUTH)
        assert bad.status_code == 422


def test_a_call_the_provider_refuses_is_422_and_frees_its_channel(registry):
    registry.assign("t", [TW])
    refusal = (400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
    _, adapters = twilio_accounts(refusal)
    with make_client(registry, public_url=PUBLIC, adapters=adapters) as client:
        response = client.post("/calls", json=CALL, headers=AUTH)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == 21211 and not response.json()["outcome_unknown"]
        assert in_use(client, TW) == 0


def test_an_unknown_outcome_is_502_with_the_token_to_settle(registry):
    registry.assign("t", [TW])
    server_error = (503, {"code": 20500, "message": "unavailable", "status": 503})
    no_calls = (200, {"calls": [], "next_page_uri": None})
    _, adapters = twilio_accounts(server_error, no_calls)
    with make_client(registry, public_url=PUBLIC, adapters=adapters) as client:
        response = client.post("/calls", json=CALL, headers=AUTH)
        assert response.status_code == 502
        body = response.json()
        assert body["outcome_unknown"] and (body["number"], body["destination"]) == (TW, CALLER)
        assert in_use(client, TW) == 1  # the call may exist
        settled = client.get(f"/calls/{body['token']}", headers=AUTH).json()
        assert settled["outcome"] == "not_placed" and in_use(client, TW) == 0


def test_settling_a_token_no_call_has_is_404_naming_it(client):
    response = client.get("/calls/not-a-token", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"].startswith("no call has the token 'not-a-token': a token")


NEW, NEW_ACCOUNT = "+14155550111", "AC" + "1" * 32


@pytest.fixture
def added_elsewhere(monkeypatch, tmp_path):
    """A client whose process has read the registry, and a number (NEW, with a new
    account) another process (another serve, the CLI) then added: not yet read here
    (no periodic refresh in these tests)."""
    credentials(monkeypatch)
    path = tmp_path / "numbers.db"
    with numsim.NumberRegistry(path) as mine, numsim.NumberRegistry(path) as theirs:
        mine.add(
            numsim.OutboundNumber(TW, "twilio", account=TWILIO_SID, credentials="env:TWILIO_TOKEN")
        )
        with make_client(mine, public_url=PUBLIC) as client:
            theirs.add(
                numsim.OutboundNumber(
                    NEW, "twilio", account=NEW_ACCOUNT, credentials="env:TWILIO_TOKEN"
                )
            )
            yield client


def test_a_webhook_for_a_number_another_process_just_added_is_answered(added_elsewhere):
    """The provider's webhook reaches this process before its periodic refresh: it
    re-reads the registry once and verifies the webhook, instead of refusing it."""
    client = added_elsewhere
    response = twilio_post(client, "inbound", {"CallSid": "CA4", "To": NEW})
    assert response.status_code == 200 and in_use(client, NEW) == 1
    forged = twilio_post(client, "inbound", {"CallSid": "CA5", "To": NEW}, tamper=True)
    assert forged.status_code == 403 and in_use(client, NEW) == 1


def test_a_webhook_racing_the_periodic_refresh_is_answered(monkeypatch, added_elsewhere):
    """The periodic refresh brings the new number's account in while the webhook is
    being checked against the old accounts: the webhook's own re-read then finds nothing
    new, yet the accounts it was checked against are gone; it is checked again."""
    client = added_elsewhere
    service = client.app.state.numsim
    old = service.dialer
    checked = old.handle_inbound

    def refreshed_meanwhile(*args, **kwargs):
        service.refresh()  # the periodic round, on another thread
        return checked(*args, **kwargs)

    monkeypatch.setattr(old, "handle_inbound", refreshed_meanwhile)
    response = twilio_post(client, "inbound", {"CallSid": "CA4", "To": NEW})
    assert service.dialer is not old
    assert response.status_code == 200 and in_use(client, NEW) == 1


def test_a_new_numbers_account_can_verify_before_the_number_is_in_the_pool(
    monkeypatch, added_elsewhere
):
    """A sync brings in the account before the number: no moment when a call can take
    the number and its webhooks find no account to verify them."""
    service = added_elsewhere.app.state.numsim
    accounts_when_added = []
    add_number = service.allocator.add_number

    def watched(number):
        accounts_when_added.append({a.account for a in service.dialer.adapters})
        return add_number(number)

    monkeypatch.setattr(service.allocator, "add_number", watched)
    assert service.refresh()
    assert accounts_when_added == [{TWILIO_SID, NEW_ACCOUNT}]


def test_a_plivo_webhook_for_a_number_another_process_just_added_is_no_replay(
    monkeypatch, tmp_path
):
    """Plivo signs with a nonce, claimed once a webhook verifies. A number another
    process added, under an account this one has: the first try verifies but cannot
    place the number, so it must not claim the nonce the retry after the re-read needs."""
    credentials(monkeypatch)
    path = tmp_path / "numbers.db"
    account = {"account": PLIVO_ID, "credentials": "env:PLIVO_TOKEN"}
    with numsim.NumberRegistry(path) as mine, numsim.NumberRegistry(path) as theirs:
        mine.add(numsim.OutboundNumber(PL, "plivo", **account))
        with make_client(mine, public_url=PUBLIC) as client:
            new = "+919122400002"
            theirs.add(numsim.OutboundNumber(new, "plivo", **account))
            params = {"CallUUID": "u-7", "To": new.lstrip("+"), "From": CALLER}
            url = f"{PUBLIC}/callbacks/plivo/inbound"
            headers = {
                "X-Plivo-Signature-V3": plivo_signature(PLIVO_TOKEN, url, params, "n7"),
                "X-Plivo-Signature-V3-Nonce": "n7",
                **JSON,
            }
            answer = client.post("/callbacks/plivo/inbound", data=params, headers=headers)
            assert answer.status_code == 200, answer.text
            assert in_use(client, new) == 1
            again = client.post("/callbacks/plivo/inbound", data=params, headers=headers)
            assert again.status_code == 403 and "replayed" in again.json()["error"]
