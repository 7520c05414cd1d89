"""Dialer: every channel comes back once, whatever the provider and its callbacks do."""

import uuid

import pytest
from tests.conftest import US, pool, twilio
from tests.fake_provider import SIGNED, FakeAdapter

import numsim
from numsim.dialer import RING_MARGIN
from numsim.providers import CallStatus, InvalidCallback, OwnedNumber, ProviderError
from numsim.providers.errors import ReplayedCallback

ANSWER = "https://svc.example.com/answer.xml"
STATUS_URL = "https://svc.example.com/callbacks/twilio"
TERMINAL = ["completed", "busy", "no-answer", "failed", "canceled"]


@pytest.fixture
def setup(make_allocator):
    numbers = [twilio(0), twilio(1)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)}, lease_ttl=3600)
    adapter = FakeAdapter()
    return allocator, adapter, numsim.Dialer(allocator, [adapter])


def busy(allocator):
    return sum(allocator.in_use(n) for n in allocator.numbers)


def dial(dialer, destination=US):
    return dialer.dial("t", destination, answer_url=ANSWER, status_callback_url=STATUS_URL)


@pytest.mark.parametrize("status", TERMINAL)
def test_a_terminal_callback_frees_the_channel_once(setup, status):
    allocator, adapter, dialer = setup
    call = dial(dialer)
    other = dial(dialer, "+12125550144")
    assert adapter.placed[0] == (call.lease.number, US) and busy(allocator) == 2
    event = dialer.handle_callback("twilio", *adapter.callback(call.call_id, CallStatus(status)))
    assert event.terminal and busy(allocator) == 1
    dialer.handle_callback("twilio", *adapter.callback(call.call_id, CallStatus(status)))
    dialer.handle_callback("twilio", *adapter.callback(call.call_id, CallStatus.RINGING))
    assert busy(allocator) == 1  # duplicate and late callbacks change nothing
    assert allocator.in_use(other.lease.number) == 1


def test_progress_callbacks_keep_the_channel(setup):
    allocator, adapter, dialer = setup
    call = dial(dialer)
    for status in (CallStatus.RINGING, CallStatus.IN_PROGRESS):
        dialer.handle_callback("twilio", *adapter.callback(call.call_id, status))
    assert busy(allocator) == 1


def test_a_callback_that_does_not_verify_changes_nothing(setup):
    allocator, adapter, dialer = setup
    call = dial(dialer)
    with pytest.raises(InvalidCallback, match="did not verify"):
        dialer.handle_callback(
            "twilio", *adapter.callback(call.call_id, CallStatus.COMPLETED, signed=False)
        )
    assert busy(allocator) == 1
    url, _, _ = adapter.callback(call.call_id, CallStatus.COMPLETED)
    with pytest.raises(InvalidCallback, match="no CallSid"):
        dialer.handle_callback("twilio", url, {"CallStatus": "completed"}, SIGNED)
    assert busy(allocator) == 1


def test_a_failed_placing_frees_the_channel_at_once(setup):
    allocator, adapter, dialer = setup
    adapter.failures.append((ProviderError("twilio", 21211, "invalid 'To'"), False))
    with pytest.raises(ProviderError):
        dial(dialer)
    assert busy(allocator) == 0


def test_an_adapter_raising_anything_does_not_leak(setup):
    allocator, adapter, dialer = setup
    adapter.failures.append((RuntimeError("bug in an adapter"), False))
    with pytest.raises(RuntimeError):
        dial(dialer)
    assert busy(allocator) == 0


def test_an_unknown_outcome_is_not_redialled_and_holds_until_its_callback(setup):
    allocator, adapter, dialer = setup
    unknown = ProviderError("twilio", 20500, "HTTP 503", outcome_unknown=True)
    adapter.failures.append((unknown, True))  # the provider did create the call
    with pytest.raises(ProviderError) as caught:
        dial(dialer)
    assert caught.value.outcome_unknown
    assert len(adapter.placed) == 1 and busy(allocator) == 1  # held: the call may be live
    [call_id] = adapter.status
    dialer.handle_callback("twilio", *adapter.callback(call_id, CallStatus.NO_ANSWER))
    assert busy(allocator) == 0


@pytest.mark.parametrize("created", [False, True])
def test_reconcile_looks_up_an_unknown_outcome(setup, clock, created):
    allocator, adapter, dialer = setup
    unknown = ProviderError("twilio", "outcome_unknown", "read timeout", outcome_unknown=True)
    adapter.failures.append((unknown, created))
    with pytest.raises(ProviderError):
        dial(dialer)
    clock.advance(301)
    if not created:  # the provider has no such call: it never started
        assert dialer.reconcile() == 1 and busy(allocator) == 0
        return
    [call_id] = adapter.status  # live: the dialer learns its id and keeps the channel
    assert dialer.reconcile() == 0 and busy(allocator) == 1
    adapter.status[call_id] = CallStatus.COMPLETED  # ...and its callback is lost
    assert dialer.reconcile() == 1 and busy(allocator) == 0
    assert len(adapter.placed) == 1


def test_an_unknown_outcome_the_provider_cannot_list_waits_for_its_callback(setup, clock):
    allocator, adapter, dialer = setup
    adapter.lists_calls = False  # Plivo, Exotel
    unknown = ProviderError("plivo", 500, "HTTP 500", outcome_unknown=True)
    adapter.failures.append((unknown, True))
    with pytest.raises(ProviderError):
        dial(dialer)
    clock.advance(301)
    assert dialer.reconcile() == 0 and busy(allocator) == 1
    [call_id] = adapter.status
    dialer.handle_callback("twilio", *adapter.callback(call_id, CallStatus.BUSY))
    assert busy(allocator) == 0


def test_reconcile_frees_calls_whose_callback_was_lost(setup, clock):
    allocator, adapter, dialer = setup
    ended, live = dial(dialer), dial(dialer, "+12125550144")
    adapter.status[ended.call_id] = CallStatus.COMPLETED  # its callback never comes
    assert dialer.reconcile(older_than=60) == 0  # too recent to ask about
    clock.advance(61)
    assert dialer.reconcile(older_than=60) == 1
    assert busy(allocator) == 1 and allocator.in_use(live.lease.number) == 1
    dialer.handle_callback("twilio", *adapter.callback(ended.call_id, CallStatus.COMPLETED))
    assert busy(allocator) == 1  # the late callback is harmless


def test_an_expired_lease_frees_the_channel_and_its_late_callback_is_harmless(setup, clock):
    allocator, adapter, dialer = setup
    first = dial(dialer)
    clock.advance(3601)
    assert busy(allocator) == 0
    second = dial(dialer)
    dialer.handle_callback("twilio", *adapter.callback(first.call_id, CallStatus.COMPLETED))
    assert allocator.in_use(second.lease.number) == 1


def test_inbound_calls_hold_a_channel_until_their_terminal_callback(setup):
    allocator, adapter, dialer = setup
    webhook = {"CallSid": "CA-in-1", "To": "+14155550000", "From": US}
    adapter.url["CA-in-1"] = STATUS_URL  # the number's own status callback URL
    lease = dialer.handle_inbound("twilio", STATUS_URL, webhook, SIGNED)
    assert lease.inbound and allocator.in_use("+14155550000") == 1
    dialer.handle_inbound("twilio", STATUS_URL, webhook, SIGNED)  # delivered twice
    assert allocator.in_use("+14155550000") == 1
    dialer.handle_callback("twilio", *adapter.callback("CA-in-1", CallStatus.COMPLETED))
    assert allocator.in_use("+14155550000") == 0


def test_numbers_dial_through_their_own_account(make_allocator):
    mine = twilio(0, account="AC-mine")
    theirs = twilio(1, account="AC-theirs")
    allocator = make_allocator([mine, theirs], {"mine": [mine.e164], "theirs": [theirs.e164]})
    a, b = FakeAdapter("AC-mine"), FakeAdapter("AC-theirs")
    lonely = numsim.Dialer(allocator, [a])
    with pytest.raises(LookupError, match="no twilio adapter for account AC-theirs"):
        lonely.dial("theirs", US, answer_url=ANSWER, status_callback_url=STATUS_URL)
    assert allocator.in_use(theirs.e164) == 0  # the lease went back
    dialer = numsim.Dialer(allocator, [a, b])
    dialer.dial("theirs", US, answer_url=ANSWER, status_callback_url=STATUS_URL)
    assert (len(a.placed), len(b.placed)) == (0, 1)


@pytest.mark.redis
def test_a_callback_in_another_process_frees_the_lease(redis_server, clock):
    from numsim.allocator.redis import RedisBackend

    numbers = [twilio(0)]
    namespace = f"dialer-{uuid.uuid4().hex}"
    made = []

    def worker():
        backend = RedisBackend(
            redis_server.url, namespace=namespace, clock="client", max_clock_skew=None
        )
        made.append(backend)
        return numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend, clock=clock)

    adapter = FakeAdapter()
    dialling, answering = worker(), worker()
    call = numsim.Dialer(dialling, [adapter]).dial(
        "t", US, answer_url=ANSWER, status_callback_url=STATUS_URL
    )
    assert dialling.in_use(call.lease.number) == 1
    numsim.Dialer(answering, [adapter]).handle_callback(
        "twilio", *adapter.callback(call.call_id, CallStatus.COMPLETED)
    )
    assert dialling.in_use(call.lease.number) == 0
    for backend in made:
        backend.close()


def test_check_numbers_reports_what_would_fail_silently(make_allocator):
    owned, no_voice, foreign = twilio(0), twilio(1), twilio(2)
    numbers = [
        owned,
        no_voice,
        foreign,
        numsim.OutboundNumber("+912240000011", "plivo", trai_registered=True),
    ]
    allocator = make_allocator(numbers, {"t": [n.e164 for n in numbers]})
    adapter = FakeAdapter()
    adapter.owned_numbers = lambda: [OwnedNumber(owned.e164), OwnedNumber(no_voice.e164, False)]
    problems = numsim.Dialer(allocator, [adapter]).check_numbers()
    assert problems == {
        no_voice.e164: "owned, but not enabled for voice calls",
        foreign.e164: "not a number of twilio account AC1",
        "+912240000011": "+912240000011 names no account and there are 0 plivo adapters: "
        "set the number's account",
    }


def test_a_time_limit_bounds_the_lease(setup, clock):
    allocator, _, dialer = setup
    call = dialer.dial("t", US, answer_url=ANSWER, status_callback_url=STATUS_URL, time_limit=300)
    assert call.lease.expires_at == pytest.approx(clock() + 300 + RING_MARGIN, abs=1e-3)
    clock.advance(300 + RING_MARGIN + 1)  # its callback was lost, and reconcile never ran
    assert busy(allocator) == 0


def test_an_ended_call_leaves_nothing_in_the_call_map(setup, clock):
    allocator, adapter, dialer = setup
    call = dial(dialer)
    dialer.handle_callback("twilio", *adapter.callback(call.call_id, CallStatus.RINGING))
    dialer.handle_callback("twilio", *adapter.callback(call.call_id, CallStatus.COMPLETED))
    left = dict(allocator.backend.call_map().items(clock()))  # what a replay is checked by
    assert left == {
        f"settled:{call.token}": {"outcome": "placed"},
        f"id:twilio:{call.call_id}": {"ended": "AC1"},
    }


# -- webhooks that cannot be crossed, replayed or misdirected ----------------------------


@pytest.fixture
def two_accounts(make_allocator):
    mine, theirs = twilio(0, account="AC-mine"), twilio(1, account="AC-theirs")
    allocator = make_allocator([mine, theirs], {"t": pool(mine, theirs)})
    a, b = FakeAdapter("AC-mine", secret="mine"), FakeAdapter("AC-theirs", secret="theirs")
    return allocator, a, b, numsim.Dialer(allocator, [a, b]), mine.e164, theirs.e164


def test_a_webhook_signed_by_another_account_is_refused(two_accounts):
    allocator, _a, _b, dialer, _mine, theirs = two_accounts
    forged = {"X-Fake-Signature": "mine"}  # account A's secret, about B's number
    with pytest.raises(InvalidCallback, match="did not verify"):
        dialer.handle_inbound("twilio", STATUS_URL, {"CallSid": "CA-x", "To": theirs}, forged)
    assert allocator.in_use(theirs) == 0
    lease = dialer.handle_inbound(
        "twilio", STATUS_URL, {"CallSid": "CA-b", "To": theirs}, {"X-Fake-Signature": "theirs"}
    )
    assert lease.number == theirs
    done = {"CallSid": "CA-b", "CallStatus": "completed"}
    with pytest.raises(InvalidCallback):  # A cannot end B's call either
        dialer.handle_callback("twilio", STATUS_URL, done, forged)
    assert allocator.in_use(theirs) == 1
    dialer.handle_callback("twilio", STATUS_URL, done, {"X-Fake-Signature": "theirs"})
    assert allocator.in_use(theirs) == 0


def test_an_account_whose_credentials_do_not_resolve_stops_no_other(two_accounts):
    allocator, a, _b, dialer, mine, theirs = two_accounts
    a.secret = None  # its reference names a variable that is not set
    signed = {"X-Fake-Signature": "theirs"}
    dialer.handle_inbound("twilio", STATUS_URL, {"CallSid": "CA-1", "To": theirs}, signed)
    assert allocator.in_use(theirs) == 1
    with pytest.raises(InvalidCallback, match="did not verify"):
        dialer.handle_inbound("twilio", STATUS_URL, {"CallSid": "CA-2", "To": mine}, signed)


def test_a_replayed_inbound_webhook_of_an_ended_call_changes_nothing(setup):
    allocator, _adapter, dialer = setup
    webhook = {"CallSid": "CA-in-9", "To": "+14155550000", "From": US}
    dialer.handle_inbound("twilio", STATUS_URL, webhook, SIGNED)
    dialer.handle_callback(
        "twilio", STATUS_URL, {"CallSid": "CA-in-9", "CallStatus": "completed"}, SIGNED
    )
    with pytest.raises(ReplayedCallback, match="has ended"):
        dialer.handle_inbound("twilio", STATUS_URL, webhook, SIGNED)
    assert allocator.in_use("+14155550000") == 0


def test_a_callback_url_names_its_call_and_no_other(setup):
    allocator, adapter, dialer = setup
    ended, live = dial(dialer), dial(dialer, "+12125550144")
    dialer.handle_callback("twilio", *adapter.callback(ended.call_id, CallStatus.COMPLETED))
    url = adapter.url[ended.call_id]  # the ended call's URL, with the live call's id
    forged = {"CallSid": live.call_id, "CallStatus": "completed"}
    dialer.handle_callback("twilio", url, forged, SIGNED)
    assert allocator.in_use(live.lease.number) == 1
    with pytest.raises(InvalidCallback, match="another call's URL"):
        dialer.handle_callback(
            "twilio", adapter.url[live.call_id], {**forged, "CallSid": "CA-other"}, SIGNED
        )
    assert allocator.in_use(live.lease.number) == 1


class UnsignedAdapter(FakeAdapter):
    """A provider that does not sign webhook bodies (as Exotel)."""

    signs_callbacks = False


def test_an_unsigned_provider_is_asked_before_a_webhook_takes_or_frees(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    adapter = UnsignedAdapter()
    dialer = numsim.Dialer(allocator, [adapter])
    webhook = {"CallSid": "CA-made-up", "To": number.e164}
    with pytest.raises(InvalidCallback, match="has no call CA-made-up"):
        adapter.fetch_call = lambda call_id: (_ for _ in ()).throw(
            ProviderError("twilio", 404, "not found", status=404)
        )
        dialer.handle_inbound("twilio", STATUS_URL, webhook, SIGNED)
    assert allocator.in_use(number.e164) == 0
    adapter.status["CA-real"] = CallStatus.RINGING
    del adapter.fetch_call
    dialer.handle_inbound("twilio", STATUS_URL, {**webhook, "CallSid": "CA-real"}, SIGNED)
    done = {"CallSid": "CA-real", "CallStatus": "completed"}
    with pytest.raises(InvalidCallback, match="has not ended"):  # the provider says live
        dialer.handle_callback("twilio", STATUS_URL, done, SIGNED)
    assert allocator.in_use(number.e164) == 1
    adapter.status["CA-real"] = CallStatus.COMPLETED
    dialer.handle_callback("twilio", STATUS_URL, done, SIGNED)
    assert allocator.in_use(number.e164) == 0


# -- attaching a call placed elsewhere, settling an unknown outcome ----------------------


def test_an_attached_call_ends_its_lease_on_its_terminal_callback(setup):
    allocator, _adapter, dialer = setup
    lease = allocator.acquire("t", US)
    assert dialer.attach(lease, "CA-own") is True
    assert dialer.attach(lease, "CA-own") is True  # again: harmless
    other = allocator.acquire("t", "+12125550144")
    with pytest.raises(ValueError, match="attached to another lease"):
        dialer.attach(other, "CA-own")
    dialer.handle_callback(
        "twilio", STATUS_URL, {"CallSid": "CA-own", "CallStatus": "ringing"}, SIGNED
    )
    assert allocator.in_use(lease.number) == 1
    dialer.handle_callback(
        "twilio", STATUS_URL, {"CallSid": "CA-own", "CallStatus": "no-answer"}, SIGNED
    )
    assert allocator.in_use(lease.number) == 0


def test_a_terminal_callback_before_the_attach_ends_the_lease_at_the_attach(setup):
    allocator, _adapter, dialer = setup
    lease = allocator.acquire("t", US)
    dialer.handle_callback(
        "twilio", STATUS_URL, {"CallSid": "CA-fast", "CallStatus": "failed"}, SIGNED
    )
    assert dialer.attach(lease, "CA-fast") is False
    assert allocator.in_use(lease.number) == 0


@pytest.mark.parametrize(
    ("created", "lists", "outcome"),
    [
        (False, True, "not_placed"),
        (True, True, "placed"),
        (True, False, "unknown"),
    ],
)
def test_settle_says_whether_an_unknown_outcome_was_placed(setup, created, lists, outcome):
    allocator, adapter, dialer = setup
    adapter.lists_calls = lists
    adapter.failures.append(
        (ProviderError("twilio", 20500, "HTTP 503", outcome_unknown=True), created)
    )
    with pytest.raises(ProviderError) as caught:
        dial(dialer)
    error = caught.value
    assert (error.number, error.destination) == (adapter.placed[0][0], US) and error.token
    assert dialer.settle(error.token) == outcome
    assert busy(allocator) == (0 if outcome == "not_placed" else 1)
    assert dialer.settle(error.token) == outcome  # asked again: the same answer
    if outcome == "placed":  # its callback ends it; the answer stays
        [call_id] = adapter.status
        dialer.handle_callback("twilio", *adapter.callback(call_id, CallStatus.COMPLETED))
        assert dialer.settle(error.token) == "placed" and busy(allocator) == 0


def test_settle_refuses_what_is_not_a_token(setup):
    _, _, dialer = setup
    for bad in ("", "id:twilio:CA1", "settled:" + "0" * 32, "Z" * 32):
        with pytest.raises(ValueError, match="not a call token"):
            dialer.settle(bad)
    assert dialer.settle("0" * 32) == "unknown"  # well formed, never handed out


def test_another_accounts_word_that_a_call_ended_does_not_block_it(two_accounts):
    allocator, _, _, dialer, _, theirs = two_accounts
    ended = {"CallSid": "CA-b", "CallStatus": "completed"}
    dialer.handle_callback("twilio", STATUS_URL, ended, {"X-Fake-Signature": "mine"})
    webhook = {"CallSid": "CA-b", "To": theirs}
    lease = dialer.handle_inbound("twilio", STATUS_URL, webhook, {"X-Fake-Signature": "theirs"})
    assert lease.number == theirs and allocator.in_use(theirs) == 1
