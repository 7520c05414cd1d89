"""Fixes from a review of the adapters, the dialer and the service, each pinned here:
an unreadable answer to a call creation, a non-ASCII Exotel signature, a blank account,
deeply nested JSON, and Exotel's signature in the access log."""

import logging
import warnings

import httpx
import pytest
from twilio.http.response import Response as TwilioResponse

import numsim
from numsim.cli.serve import _hide_query_values
from numsim.providers import MemoryPacer
from numsim.providers.exotel import ExotelAdapter
from numsim.providers.twilio import TwilioAdapter
from provider_fakes import Script, TwilioHttp

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    monkeypatch.setenv("EXOTEL_KEYS", "exo-key-1:exo-secret-token-789")
    monkeypatch.setenv("TWILIO_TOKEN", "twilio-secret-token-123")


def exotel(handle):
    return ExotelAdapter(
        "acme1",
        "env:EXOTEL_KEYS",
        transport=httpx.MockTransport(handle),
        pacer=MemoryPacer(),
        sleep=lambda s: None,
    )


def test_an_unreadable_answer_to_a_call_creation_keeps_the_channel_held():
    sent = []

    def handle(request):
        sent.append(request)
        return httpx.Response(200, text="<html>OK</html>")  # a proxy's page, not Exotel's

    number = numsim.OutboundNumber("+918045000011", "exotel", account="acme1", trai_registered=True)
    allocator = numsim.Allocator([number], {"t": [number.e164]})
    dialer = numsim.Dialer(allocator, [exotel(handle)])
    with pytest.raises(numsim.ProviderError) as caught:
        dialer.dial(
            "t", "+919876543210", answer_url="https://a/x", status_callback_url="https://s/cb"
        )
    assert caught.value.outcome_unknown and len(sent) == 1
    assert allocator.in_use(number.e164) == 1  # the call may be live: no blind redial


def test_an_unreadable_twilio_answer_is_an_unknown_outcome_too():
    class Garbled(TwilioHttp):
        def request(self, *args, **kwargs):
            return TwilioResponse(201, "{not json", {})

    adapter = TwilioAdapter(
        "AC" + "0" * 32,
        "env:TWILIO_TOKEN",
        http_client=Garbled(Script()),
        pacer=MemoryPacer(),
        sleep=lambda s: None,
    )
    with pytest.raises(numsim.ProviderError) as caught:
        adapter.place_call(
            "+14155550100", "+14155550188", answer="https://a/x", status_callback_url="https://s"
        )
    assert caught.value.outcome_unknown


def test_input_refused_before_sending_is_not_an_unknown_outcome():
    twilio = TwilioAdapter(
        "AC" + "0" * 32, "env:TWILIO_TOKEN", http_client=TwilioHttp(Script()), pacer=MemoryPacer()
    )
    with pytest.raises(ValueError, match="URL or TwiML"):  # the dialer frees the channel
        twilio.place_call("+14155550100", "+14155550188", answer="hello", status_callback_url="x")


@pytest.mark.parametrize("signature", ["%C3%A9", "\u00e9", "\x00"])
def test_a_non_ascii_exotel_signature_is_refused_not_a_crash(signature):
    adapter = exotel(lambda request: httpx.Response(500))
    url = f"https://example.com/callbacks/exotel/status?numsim_sig={signature}"
    assert adapter.verify_callback(url, {"CallSid": "x", "Status": "completed"}, {}) is False


@pytest.mark.parametrize("account", ["", "   "])
def test_a_blank_account_is_refused_before_it_is_saved(account):
    with pytest.raises(numsim.InvalidNumberError, match="account"):
        numsim.OutboundNumber("+14155550100", "twilio", account=account)


def test_the_access_log_never_shows_exotels_signature():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", "/callbacks/exotel/status?a=1&numsim_sig=abcdef&b=2", "1.1", 200),
        None,
    )
    assert _hide_query_values(record)
    line = record.getMessage()
    assert "abcdef" not in line and "?a=(hidden)&numsim_sig=(hidden)&b=(hidden) " in line


@pytest.mark.parametrize("sent", [False, True])
def test_a_connection_never_made_is_retryable_one_that_broke_after_sending_is_unknown(sent):
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

    if sent:
        failure = requests.ConnectionError(ProtocolError("Connection aborted."))
    else:
        reason = NewConnectionError(None, "Failed to resolve 'api.twilio.com'")
        failure = requests.ConnectionError(MaxRetryError(None, "/Calls.json", reason=reason))

    class Failing(TwilioHttp):
        def request(self, *args, **kwargs):
            raise failure

    adapter = TwilioAdapter(
        "AC" + "0" * 32,
        "env:TWILIO_TOKEN",
        http_client=Failing(Script()),
        pacer=MemoryPacer(),
        sleep=lambda s: None,
    )
    with pytest.raises(numsim.ProviderError) as caught:
        adapter.place_call(
            "+14155550100", "+14155550188", answer="https://a/x", status_callback_url="https://s"
        )
    assert caught.value.outcome_unknown is sent and caught.value.retryable is not sent


def test_serve_reads_a_destination_limit_and_names_a_bad_one(monkeypatch, capsys):
    from numsim.cli import main
    from numsim.cli.serve import _destination_limit

    assert _destination_limit("1/3600") == numsim.DestinationLimit(1, 3600.0)
    monkeypatch.setenv("NUMSIM_API_TOKEN", "a-long-enough-test-token")
    for bad, message in (("x", "CALLS/SECONDS"), ("0/60", "max_calls")):
        assert main(["serve", "--db", "/tmp/never-made.db", "--destination-limit", bad]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_a_pacing_queue_longer_than_max_wait_sends_nothing_and_frees_the_channel():
    sent = []
    pacer = MemoryPacer()
    adapter = ExotelAdapter(
        "acme1",
        "env:EXOTEL_KEYS",
        transport=httpx.MockTransport(lambda request: sent.append(request)),
        pacer=pacer,
        cps=1.0,
        max_wait=30.0,
        sleep=lambda s: None,
    )
    for _ in range(100):  # other workers' calls already queued on the account
        pacer.reserve(adapter.pacing_key, 1.0)
    number = numsim.OutboundNumber("+918045000011", "exotel", account="acme1", trai_registered=True)
    allocator = numsim.Allocator([number], {"t": [number.e164]})
    dialer = numsim.Dialer(allocator, [adapter])
    with pytest.raises(numsim.ProviderError) as caught:
        dialer.dial("t", "+919876543210", answer_url="https://a/x", status_callback_url="https://s")
    assert caught.value.retryable and caught.value.retry_after > 30 and not sent
    assert allocator.in_use(number.e164) == 0
