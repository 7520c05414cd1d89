"""The Dialer's faults over real HTTP on loopback: the real twilio and plivo SDKs, through
the adapters, talk to numsim.testing's FakeTwilio and FakePlivo, which answer as the
providers do and sign their callbacks."""

import pytest
from tests.conftest import START, UK
from tests.provider_fakes import (
    EXOTEL_KEYS,
    EXOTEL_SID,
    PLIVO_ID,
    PLIVO_TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    credentials,
)

import numsim
from numsim.providers import (
    ExotelAdapter,
    MemoryPacer,
    PlivoAdapter,
    ProviderError,
    TwilioAdapter,
)
from numsim.testing import FakeExotel, FakePlivo, FakeTwilio, free_port

NUMBER = "+14155550100"


@pytest.fixture
def twilio():
    with FakeTwilio.started(TWILIO_SID, TWILIO_TOKEN, numbers=[NUMBER]) as fake:
        yield fake


@pytest.fixture
def setup(monkeypatch, twilio):
    credentials(monkeypatch)
    waits = []
    adapter = TwilioAdapter(
        TWILIO_SID,
        "env:TWILIO_TOKEN",
        base_url=twilio.url,
        pacer=MemoryPacer(),
        sleep=waits.append,
        timeout=2,
    )
    allocator = numsim.Allocator(
        [numsim.OutboundNumber(NUMBER, "twilio", account=TWILIO_SID)],
        {"t": [NUMBER]},
        clock=numsim.ManualClock(START),
    )
    return allocator, adapter, numsim.Dialer(allocator, [adapter]), waits


def dial(dialer, status_url="http://127.0.0.1:9/cb"):
    return dialer.dial(
        "t", UK, answer_url="https://example.com/a.xml", status_callback_url=status_url
    )


def test_a_placed_call_is_fetched_listed_and_hung_up_over_http(setup, twilio):
    allocator, adapter, dialer, _ = setup
    call = dial(dialer)
    assert twilio.calls[call.call_id].to == UK and allocator.in_use(NUMBER) == 1
    assert adapter.fetch_call(call.call_id).status.value == "queued"
    assert [e.call_id for e in adapter.find_calls(NUMBER, UK, START)] == [call.call_id]
    assert [n.e164 for n in adapter.owned_numbers()] == [NUMBER]
    adapter.hangup(call.call_id)
    assert twilio.calls[call.call_id].status == "canceled"


@pytest.mark.parametrize("problem", [False, True])  # TwilioRestException, ...ServiceException
def test_an_invalid_destination_is_a_refusal_not_an_unknown_outcome(setup, twilio, problem):
    allocator, _, dialer, _ = setup
    twilio.fail_next(400, code=21211, message="Invalid 'To' Phone Number", problem=problem)
    with pytest.raises(ProviderError) as caught:
        dial(dialer)
    assert caught.value.code == 21211 and not caught.value.outcome_unknown
    assert allocator.in_use(NUMBER) == 0


@pytest.mark.parametrize("drop", [False, True])
def test_an_unknown_outcome_is_settled_by_listing_the_calls(setup, twilio, drop):
    allocator, _, dialer, _ = setup
    twilio.fail_next(503, create=True, drop=drop)  # the call exists all the same
    with pytest.raises(ProviderError) as caught:
        dial(dialer)
    assert caught.value.outcome_unknown and allocator.in_use(NUMBER) == 1
    assert dialer.settle(caught.value.token) == "placed"
    [sid] = twilio.calls
    twilio.calls[sid].status = "completed"
    assert dialer.reconcile(older_than=0) == 1 and allocator.in_use(NUMBER) == 0


def test_a_never_created_call_is_settled_as_not_placed(setup, twilio):
    allocator, _, dialer, _ = setup
    twilio.fail_next(500)
    with pytest.raises(ProviderError) as caught:
        dial(dialer)
    assert dialer.settle(caught.value.token) == "not_placed"
    assert allocator.in_use(NUMBER) == 0 and len(dial(dialer).call_id) == 34


def test_a_429_waits_its_retry_after(setup, twilio):
    _, adapter, _, waits = setup
    twilio.fail_next(429, code=20429, headers={"Retry-After": "2"})
    assert [n.e164 for n in adapter.owned_numbers()] == [NUMBER]
    assert waits == [
        pytest.approx(2.0, abs=0.1)
    ]  # the pacer held the account 2 s, then the request was resent


def test_no_provider_listening_is_a_retryable_error_before_anything_was_sent(monkeypatch):
    credentials(monkeypatch)
    adapter = TwilioAdapter(
        TWILIO_SID, "env:TWILIO_TOKEN", base_url=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(ProviderError) as caught:
        adapter.fetch_call("CA1")
    assert caught.value.retryable and not caught.value.outcome_unknown


def test_reconcile_goes_on_past_an_error_of_any_kind(setup, twilio):
    allocator, _, dialer, _ = setup
    first, second = dial(dialer), None
    allocator.add_number(numsim.OutboundNumber("+14155550101", "twilio", account=TWILIO_SID))
    allocator.assign("t", ["+14155550101"])
    second = dial(dialer)
    twilio.calls[first.call_id].status = twilio.calls[second.call_id].status = "completed"
    twilio.fail_next(500, code=20500, problem=True)  # the first lookup fails (RFC 9457)
    assert dialer.reconcile(older_than=0) == 1
    assert dialer.reconcile(older_than=0) == 1
    assert allocator.in_use(NUMBER) == allocator.in_use("+14155550101") == 0


def test_a_success_without_a_call_id_is_an_unknown_outcome_not_call_none(setup, twilio):
    allocator, _, dialer, _ = setup
    twilio.fail_next(201, message="created")  # 201, but no sid in the body
    with pytest.raises(ProviderError) as caught:
        dial(dialer)
    assert caught.value.outcome_unknown and allocator.in_use(NUMBER) == 1
    assert dialer.settle(caught.value.token) == "not_placed"  # Twilio lists no such call


# -- Plivo, through numsim.testing.FakePlivo -----------------------------------------------

IN = "+912240000011"
IN_DEST = "+919876543210"


@pytest.fixture
def plivo():
    numbers = [IN] + [f"+9122400001{i:02d}" for i in range(44)]
    with FakePlivo.started(PLIVO_ID, PLIVO_TOKEN, numbers=numbers) as fake:
        yield fake


@pytest.fixture
def plivo_setup(monkeypatch, plivo):
    credentials(monkeypatch)
    adapter = PlivoAdapter(
        PLIVO_ID, "env:PLIVO_TOKEN", base_url=plivo.url, pacer=MemoryPacer(), sleep=lambda s: None
    )
    clock = numsim.ManualClock(START)
    number = numsim.OutboundNumber(IN, "plivo", account=PLIVO_ID, trai_registered=True)
    allocator = numsim.Allocator([number], {"t": [IN]}, clock=clock)
    return allocator, adapter, numsim.Dialer(allocator, [adapter]), clock


def plivo_dial(dialer):
    return dialer.dial(
        "t",
        IN_DEST,
        answer_url="https://a.example/x.xml",
        status_callback_url="http://127.0.0.1:9/s",
    )


def test_plivo_over_http_places_fetches_hangs_up_and_pages_numbers(plivo_setup, plivo):
    _allocator, adapter, dialer, _ = plivo_setup
    call = plivo_dial(dialer)
    made = plivo.calls[call.call_id]
    assert (made.from_, made.to) == ("912240000011", "919876543210")
    assert adapter.fetch_call(call.call_id).status.value == "queued"
    made.status = "in-progress"
    assert adapter.fetch_call(call.call_id).status.value == "in-progress"
    adapter.hangup(call.call_id)  # not queued: the cancel is refused, the call hung up
    assert made.status == "completed" and adapter.fetch_call(call.call_id).terminal
    assert len(adapter.owned_numbers()) == 45  # three pages, by meta.next


def test_plivo_5xx_on_create_is_sent_once_and_settled_by_listing(plivo_setup, plivo):
    allocator, _, dialer, _clock = plivo_setup
    plivo.fail_next(503, create=True)
    with pytest.raises(ProviderError) as caught:
        plivo_dial(dialer)
    creates = [r for r in plivo.requests if r.method == "POST"]
    assert len(creates) == 1 and caught.value.outcome_unknown  # the SDK's resends stopped
    token = caught.value.token
    assert dialer.settle(token) == "unknown"  # queued: Plivo lists no queued call by number
    [made] = plivo.calls.values()
    made.status = "in-progress"
    assert dialer.settle(token) == "placed" and allocator.in_use(IN) == 1


def test_plivo_a_call_never_created_is_not_placed_once_a_queue_would_have_passed(
    plivo_setup, plivo
):
    allocator, _, dialer, clock = plivo_setup
    plivo.fail_next(500)
    with pytest.raises(ProviderError) as caught:
        plivo_dial(dialer)
    assert dialer.settle(caught.value.token) == "unknown"
    clock.advance(61)
    assert dialer.settle(caught.value.token) == "not_placed" and allocator.in_use(IN) == 0


# -- Exotel, through numsim.testing.FakeExotel ---------------------------------------------

EX = "+918045000011"


@pytest.fixture
def exotel(monkeypatch):
    credentials(monkeypatch)
    key, token = EXOTEL_KEYS.split(":")
    numbers = [f"+9180450001{i:02d}" for i in range(60)]
    with FakeExotel.started(EXOTEL_SID, key, token, numbers=numbers) as fake:
        yield fake


def test_exotel_over_http_places_fetches_and_pages_numbers(exotel):
    adapter = ExotelAdapter(EXOTEL_SID, "env:EXOTEL_KEYS", base_url=exotel.url, pacer=MemoryPacer())
    sid = adapter.place_call(
        EX, "+919876543210", answer="123", status_callback_url="http://127.0.0.1:9/s"
    )
    made = exotel.calls[sid]
    assert (made.from_, made.caller_id, made.content_type) == (
        "+919876543210",
        EX,
        "application/json",
    )
    assert "numsim_sig=" in made.status_callback
    assert adapter.fetch_call(sid).status.value == "queued"
    assert len(adapter.owned_numbers()) == 60  # two pages, by next_page_uri
    adapter.verify_credentials()


def test_exotel_5xx_on_create_is_an_unknown_outcome_over_http(exotel):
    adapter = ExotelAdapter(EXOTEL_SID, "env:EXOTEL_KEYS", base_url=exotel.url, pacer=MemoryPacer())
    exotel.fail_next(502, create=True)
    with pytest.raises(ProviderError) as caught:
        adapter.place_call(
            EX, "+919876543210", answer="123", status_callback_url="http://127.0.0.1:9/s"
        )
    assert caught.value.outcome_unknown and len(exotel.calls) == 1
